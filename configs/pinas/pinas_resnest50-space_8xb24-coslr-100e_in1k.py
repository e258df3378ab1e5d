# Pi-NAS supernet training as in the paper: ImageNet without labels, 100 epochs,
# 8 GPUs x 24 images, SGD 0.03 / momentum 0.9 / wd 1e-4, cosine to 0, queue 49,152,
# teacher momentum 0.999, temperature 0.2. fp16 on GPUs: add --amp.
#   tools/dist_train.sh configs/pinas/pinas_resnest50-space_8xb24-coslr-100e_in1k.py 8
_base_ = [
    '../_base_/pinas_supernet.py',
    '../_base_/mocov2_4view_pipeline.py',
    'mmpretrain::_base_/default_runtime.py',
]
data_root = 'data/imagenet/'
train_dataloader = dict(
    batch_size=24, num_workers=6, persistent_workers=True, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageNet', data_root=data_root, split='train',
                 pipeline={{_base_.train_pipeline}}))
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.03, momentum=0.9, weight_decay=1e-4))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=100, by_epoch=True, begin=0,
                        end=100, eta_min=0.)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3),
                     logger=dict(type='LoggerHook', interval=50))
auto_scale_lr = dict(base_batch_size=192)
