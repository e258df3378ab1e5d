# Pi-NAS on the tiny space (1/8 widths) and the built-in tiny ImageNet-format dataset:
# a CPU run of about a minute with the same algorithm, pipeline and schedule shape.
#   python tools/dataset_converters/make_tiny_datasets.py --out data/tiny
#   python tools/train.py configs/pinas/pinas_tiny-space_1xb16-coslr-8e_tiny-in.py
_base_ = [
    '../_base_/pinas_supernet.py',
    'mmpretrain::_base_/default_runtime.py',
]
# queue 256 < the 320 training images, so the queue rarely holds an image's own keys as
# negatives; zero-init residuals (mmengine's ResNet default) keep the briefly trained
# supernet a well-conditioned starting point for fine-tuning.
model = dict(
    backbone=dict(space='tiny', zero_init_residual=True),
    neck=dict(in_channels=512, hid_channels=256, out_channels=64),
    feat_dim=64, queue_len=256)
view_pipeline = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.3, 1.), backend='pillow'),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.4)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='RandomFlip', prob=0.5),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=4, transforms=[view_pipeline]),
    dict(type='PackInputs'),
]
data_root = 'data/tiny/imagenet/'
train_dataloader = dict(
    batch_size=16, num_workers=0, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    # any image folder works: unlabelled, scanned recursively
    dataset=dict(type='CustomDataset', data_root=data_root, data_prefix='train',
                 with_label=False, pipeline=train_pipeline))
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.03, momentum=0.9, weight_decay=1e-4))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=8, by_epoch=True, begin=0, end=8,
                        eta_min=0.)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=8)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=2, max_keep_ckpts=2),
                     logger=dict(type='LoggerHook', interval=10),
                     visualization=dict(type='VisualizationHook', enable=False))
randomness = dict(seed=0, deterministic=True)
env_cfg = dict(cudnn_benchmark=False)
