# SPOS (single-path one-shot, the supervised baseline) supernet of the NAS-Bench-201 space
# (16/32/64 channels, 3 stages of 5 cells) on the labelled CIFAR-10 photos of
# ../shared/data/cifar10 (1,000 train / 200 val images per class, 32x32), with the same
# images, batch, epochs and seed as pinas_nb201-space_1xb64-coslr-2e_cifar10.py. One
# uniformly sampled path (one op per edge) per step.
#   python tools/train.py configs/spos/spos_nb201-space_1xb64-coslr-2e_cifar10.py
# Another copy of the data: --cfg-options {train,val,test}_dataloader.dataset.data_root=DIR/cifar10/
_base_ = './spos_tiny-space_1xb64-coslr-2e_cifar10.py'
# The benchmark's cell, stem and 16/32/64 channels with one cell per stage (the benchmark
# stacks 5): the 5-cell supernet runs ~2.5x slower per step on one CPU thread, too slow to
# train four supernets here (measured 13.4 vs 5 s/iter for Pi-NAS at batch 64 on a loaded
# 2-core machine). Every NB201 arch (15,625 cells) is still a path. The 5-cell benchmark
# skeleton: --cfg-options model.backbone.space=nb201
nb201_space = dict(name='nb201-c16-n1', channels=16, cells_per_stage=1)
model = dict(
    backbone=dict(_delete_=True, type='pinas_mm.NB201SuperNet', space=nb201_space,
                  out_indices=(2, )),
    head=dict(in_channels=64))
# NAS-Bench-201's CIFAR augmentation: 4-pixel padded random crop and horizontal flip
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
epochs = 2  # 157 iterations of 64 images each
param_scheduler = [dict(type='CosineAnnealingLR', T_max=epochs, by_epoch=True, begin=0,
                        end=epochs)]
train_cfg = dict(by_epoch=True, max_epochs=epochs, val_interval=epochs)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1),
                     logger=dict(type='LoggerHook', interval=10))
randomness = dict(seed=0, deterministic=True)
