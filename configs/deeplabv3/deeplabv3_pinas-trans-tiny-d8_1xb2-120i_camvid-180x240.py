# DeepLabV3 on real road scenes: the tiny-space recipe of
# deeplabv3_pinas-trans-tiny-d8_1xb2-200i_tiny-cityscapes-128x256.py on CamVid
# (../shared/data/camvid: 367 train / 101 val frames, 480x360, 11 classes, void = 255) with
# pinas_mm.CamVidDataset. Sized for a CPU: frames at half size (240x180), random scale
# 0.5-2.0, 144x192 crops, 120 iterations (poly lr); validation on the 101 val frames at
# 240x180.
#   python tools/train.py configs/deeplabv3/deeplabv3_pinas-trans-tiny-d8_1xb2-120i_camvid-180x240.py \
#       --cfg-options model.backbone.arch=ARCH.yaml model.backbone.init_cfg.checkpoint=BACKBONE.pth
# From scratch instead: model.backbone.init_cfg=None. Another copy of the data:
# {train,val,test}_dataloader.dataset.data_root=DIR/camvid/
_base_ = './deeplabv3_pinas-trans-tiny-d8_1xb2-200i_tiny-cityscapes-128x256.py'
num_classes = 11  # = len(pinas_mm.datasets.camvid.CAMVID_CLASSES)
crop_size = (144, 192)
data_preprocessor = dict(size=crop_size)
model = dict(data_preprocessor=data_preprocessor,
             decode_head=dict(num_classes=num_classes),
             auxiliary_head=dict(num_classes=num_classes))
dataset_type = 'pinas_mm.CamVidDataset'
data_root = '../shared/data/camvid/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(240, 180), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(240, 180), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    dataset=dict(_delete_=True, type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(_delete_=True, type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=120, by_epoch=False)
]
train_cfg = dict(max_iters=120, val_interval=120)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=120))
