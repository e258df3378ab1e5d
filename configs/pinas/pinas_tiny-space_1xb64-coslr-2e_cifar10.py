# Pi-NAS on real photos: the tiny-space recipe of pinas_tiny-space_1xb16-coslr-16e_tiny-in.py
# on the CIFAR-10 photos of ../shared/data/cifar10/train (10,000 images, 32x32; labels
# unused: the folders are scanned for images only). The real run of tools/pipeline.py
# (--data real) starts here; a few minutes on 2 CPU cores.
#   python tools/train.py configs/pinas/pinas_tiny-space_1xb64-coslr-2e_cifar10.py
# Another copy of the data: --cfg-options train_dataloader.dataset.data_root=DIR/cifar10/
# Differences from the tiny-data config, for real photos: crops at the photos' own 32 px
# with MoCo v2's crop range (0.2, 1) and hue jitter 0.1 (MoCo v2's value), batch 64, and a
# queue of 1024 keys (~10% of the 10,000 images).
_base_ = './pinas_tiny-space_1xb16-coslr-16e_tiny-in.py'
model = dict(queue_len=1024)
view_pipeline = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.2, 1.), backend='pillow'),
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
data_root = '../shared/data/cifar10/'
train_dataloader = dict(
    batch_size=64,
    dataset=dict(data_root=data_root, data_prefix='train', pipeline=train_pipeline))
# 2 epochs of 156 iterations: a few minutes on 2 CPU cores
param_scheduler = [dict(type='CosineAnnealingLR', T_max=2, by_epoch=True, begin=0, end=2,
                        eta_min=0.)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1),
                     logger=dict(type='LoggerHook', interval=20))
