# CPU variant of linear-eval_pinas-cls_8xb32-steplr-100e_in1k.py: the same MoCo v2 linear
# benchmark (frozen backbone, linear head, step lr) on the tiny space (1/4 widths) and the
# built-in tiny ImageNet-format dataset (8 classes, 64x64). Only sizes (widths, crops), the
# schedule (lr scaled with the batch, 256 -> 32) and the data root differ.
# Expects a tiny-space export of a trained supernet, e.g. of the tiny Pi-NAS run:
#   python tools/train.py configs/pinas/pinas_tiny-space_1xb16-coslr-16e_tiny-in.py
#   python tools/export_subnet.py work_dirs/pinas_tiny-space_1xb16-coslr-16e_tiny-in/epoch_16.pth \
#       --arch pinas-cls --out-dir work_dirs/export
#   python tools/train.py configs/imagenet/linear-eval_pinas-cls-tiny_1xb32-steplr-6e_tiny-in.py
# Other archs: --cfg-options model.backbone.arch=ARCH.yaml model.backbone.init_cfg.checkpoint=...
_base_ = './linear-eval_pinas-cls_8xb32-steplr-100e_in1k.py'
# = pinas_mm.datasets.tiny.TINY_IMAGENET_CLASSES (sorted: the label order of meta/*.txt)
classes = ('blue_circle', 'blue_triangle', 'green_square', 'green_stripes',
           'red_circle', 'red_square', 'yellow_stripes', 'yellow_triangle')
num_classes = len(classes)
# = pinas_mm SearchSpace.get('tiny').out_channels (checked by tests/test_downstream.py)
stage_channels = [64, 128, 256, 512]
data_preprocessor = dict(num_classes=num_classes)
model = dict(
    backbone=dict(
        space='tiny',
        init_cfg=dict(
            checkpoint='work_dirs/export/pinas_tiny_3013231203213032_backbone.pth')),
    head=dict(in_channels=stage_channels[3], num_classes=num_classes))

# data: ImageNet layout (train/<class>/..., meta/{train,val}.txt); 256/224 -> 64/56 (x1/4)
data_root = 'data/tiny/imagenet/'
metainfo = dict(classes=classes)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=56, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=64, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=56),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader

# schedule: 6 epochs of 10 iterations, steps at 4/5; lr 30 x 32 / 256 -> 3.75
optim_wrapper = dict(optimizer=dict(lr=3.75))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[4, 5], gamma=0.1)]
train_cfg = dict(max_epochs=6, val_interval=6)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=6))
randomness = dict(seed=0)
