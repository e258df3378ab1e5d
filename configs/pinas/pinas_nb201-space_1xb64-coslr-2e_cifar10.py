# Pi-NAS supernet of the NAS-Bench-201 space (the benchmark's macro skeleton: 16/32/64
# channels, 3 stages of 5 cells, 6 edges x 5 ops per cell) on the CIFAR-10 photos of
# ../shared/data/cifar10/train (10,000 images, 32x32; labels unused). The same algorithm
# and switches as the ResNeSt space (cross-path learning, path-wise mean teacher, queue
# negatives, split-BN keys in one process); the two paths of a step differ on every edge.
#   python tools/train.py configs/pinas/pinas_nb201-space_1xb64-coslr-2e_cifar10.py
# Ablations with the same schedule and seed: pinas-no-cross-path_nb201-... and
# pinas-full-ema_nb201-...; the supervised baseline: spos/spos_nb201-space_1xb64-....
# Another copy of the data: --cfg-options train_dataloader.dataset.data_root=DIR/cifar10/
_base_ = './pinas_tiny-space_1xb64-coslr-2e_cifar10.py'
# The benchmark's cell, stem and 16/32/64 channels with one cell per stage (the benchmark
# stacks 5): the 5-cell supernet runs ~2.5x slower per step on one CPU thread, too slow to
# train four supernets here (measured 13.4 vs 5 s/iter for Pi-NAS at batch 64 on a loaded
# 2-core machine). Every NB201 arch (15,625 cells) is still a path. The 5-cell benchmark
# skeleton: --cfg-options model.backbone.space=nb201
nb201_space = dict(name='nb201-c16-n1', channels=16, cells_per_stage=1)
model = dict(
    backbone=dict(_delete_=True, type='pinas_mm.NB201SuperNet', space=nb201_space,
                  out_indices=(2, )),
    # MoCo v2 neck on the 64-channel last stage (after NB201's lastact BN-ReLU)
    neck=dict(in_channels=64, hid_channels=256, out_channels=128),
    feat_dim=128, queue_len=1024,
    cross_path=True, path_ema=True)
epochs = 2  # 156 iterations of 64 images each (drop_last)
param_scheduler = [dict(type='CosineAnnealingLR', T_max=epochs, by_epoch=True, begin=0,
                        end=epochs, eta_min=0.)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=epochs)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1),
                     logger=dict(type='LoggerHook', interval=10))
randomness = dict(seed=0, deterministic=True)
