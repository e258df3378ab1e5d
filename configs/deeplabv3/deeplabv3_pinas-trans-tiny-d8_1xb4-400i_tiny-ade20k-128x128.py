# CPU variant of deeplabv3_pinas-trans-d8_4xb4-80k_ade20k-512x512.py: the same DeepLabV3-d8
# recipe (ASPP + auxiliary FCN head, dilated backbone, reduce_zero_label, IoUMetric) on the
# tiny space (1/4 widths) and the built-in tiny ADE20K-format dataset (128x128 images,
# classes wall/building/sky/floor, 0 = other -> ignored). Only sizes (widths, crop, scales),
# the schedule, plain BN and the data root differ.
# Expects a tiny-space export of a trained supernet, e.g. of the tiny Pi-NAS run:
#   python tools/dataset_converters/make_tiny_datasets.py --out data/tiny
#   python tools/train.py configs/pinas/pinas_tiny-space_1xb16-coslr-16e_tiny-in.py
#   python tools/export_subnet.py work_dirs/pinas_tiny-space_1xb16-coslr-16e_tiny-in/epoch_16.pth \
#       --arch pinas-trans --out-dir work_dirs/export
#   python tools/train.py \
#       configs/deeplabv3/deeplabv3_pinas-trans-tiny-d8_1xb4-400i_tiny-ade20k-128x128.py
# From scratch instead: --cfg-options model.backbone.init_cfg=None
_base_ = './deeplabv3_pinas-trans-d8_4xb4-80k_ade20k-512x512.py'
norm_cfg = dict(type='BN', requires_grad=True)  # one CPU process: no SyncBN
# = pinas_mm SearchSpace.get('tiny').out_channels (checked by tests/test_downstream.py)
stage_channels = [64, 128, 256, 512]
# = pinas_mm.datasets.tiny.TINY_ADE_CLASSES: the first four ADE20K-150 classes (values 1..4)
classes = ('wall', 'building', 'sky', 'floor')
num_classes = len(classes)
crop_size = (128, 128)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        space='tiny', norm_cfg=norm_cfg,
        init_cfg=dict(
            checkpoint='work_dirs/export/pinas_tiny_3333113330011021_backbone.pth')),
    decode_head=dict(in_channels=stage_channels[3], channels=128, num_classes=num_classes,
                     norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=stage_channels[2], channels=64, num_classes=num_classes,
                        norm_cfg=norm_cfg))

# data: ADE20K layout, scales / 4 (2048x512 -> 512x128, crop 512 -> 128)
data_root = 'data/tiny/ade/ADEChallengeData2016'
metainfo = dict(classes=classes)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(512, 128), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(512, 128), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader

# schedule: 400 iterations (poly lr), validate and save at the end
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=400, by_epoch=False)
]
train_cfg = dict(max_iters=400, val_interval=400)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=400))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
