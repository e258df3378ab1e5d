# CPU variant of scratch_pinas-cls_32xb64-coslr-270e_in1k.py: the same recipe (RandAugment,
# EfficientNet crops, lighting, mixup, label smoothing, warm-up + cosine) on the tiny space
# (1/4 widths) and the built-in tiny ImageNet-format dataset (8 classes, 64x64 images).
# Only sizes (widths, crops), the schedule and the data root differ.
#   python tools/dataset_converters/make_tiny_datasets.py --out data/tiny
#   python tools/train.py configs/imagenet/scratch_pinas-cls-tiny_1xb16-coslr-8e_tiny-in.py
_base_ = './scratch_pinas-cls_32xb64-coslr-270e_in1k.py'
# = pinas_mm.datasets.tiny.TINY_IMAGENET_CLASSES (sorted: the label order of meta/*.txt)
classes = ('blue_circle', 'blue_triangle', 'green_square', 'green_stripes',
           'red_circle', 'red_square', 'yellow_stripes', 'yellow_triangle')
num_classes = len(classes)
# = pinas_mm SearchSpace.get('tiny').out_channels (checked by tests/test_downstream.py)
stage_channels = [64, 128, 256, 512]
data_preprocessor = dict(num_classes=num_classes)
model = dict(
    backbone=dict(space='tiny'),
    head=dict(in_channels=stage_channels[3], num_classes=num_classes,
              loss=dict(num_classes=num_classes)))

# data: ImageNet layout (train/<class>/..., meta/{train,val}.txt); crops 224 -> 56 (x1/4)
data_root = 'data/tiny/imagenet/'
metainfo = dict(classes=classes)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandAugment', policies={{_base_.policies}}, num_policies=2,
         magnitude_level=12),
    dict(type='EfficientNetRandomCrop', scale=56, crop_padding=8, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    dict(type='Lighting', eigval={{_base_.EIGVAL}}, eigvec={{_base_.EIGVEC}},
         alphastd=0.1, to_rgb=False),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='EfficientNetCenterCrop', crop_size=56, crop_padding=8, backend='pillow'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=16, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader

# schedule: 1 warm-up + 7 cosine epochs of 20 iterations; lr 0.8 x 16 / 2048 -> 0.1
optim_wrapper = dict(optimizer=dict(lr=0.1))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=7, by_epoch=True, begin=1, end=8),
]
train_cfg = dict(max_epochs=8, val_interval=8)
auto_scale_lr = dict(base_batch_size=16)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=8))
randomness = dict(seed=0)
