# CPU variant of mask-rcnn_pinas-trans-fpn-syncbn_8xb2-ms-1x_coco.py: the same Mask R-CNN
# recipe (Shared4Conv1FC bbox head, multi-scale train, CocoMetric bbox + segm) on the tiny
# space (1/4 widths) and the built-in tiny COCO-format dataset (3 classes, 128-160 px).
# Only sizes (widths, image scales, RoI samples), the schedule, plain BN and the data root
# differ. A couple of minutes on a CPU.
# Expects a tiny-space export of a trained supernet, e.g. of the tiny Pi-NAS run:
#   python tools/dataset_converters/make_tiny_datasets.py --out data/tiny
#   python tools/train.py configs/pinas/pinas_tiny-space_1xb16-coslr-16e_tiny-in.py
#   python tools/export_subnet.py work_dirs/pinas_tiny-space_1xb16-coslr-16e_tiny-in/epoch_16.pth \
#       --arch pinas-trans --out-dir work_dirs/export
#   python tools/train.py \
#       configs/mask_rcnn/mask-rcnn_pinas-trans-tiny-fpn_1xb2-ms-4e_tiny-coco.py
# From scratch instead: --cfg-options model.backbone.init_cfg=None
_base_ = './mask-rcnn_pinas-trans-fpn-syncbn_8xb2-ms-1x_coco.py'
norm_cfg = dict(type='BN', requires_grad=True)  # one CPU process: no SyncBN
# = pinas_mm SearchSpace.get('tiny').out_channels (checked by tests/test_downstream.py)
stage_channels = [64, 128, 256, 512]
neck_channels = 64
# = pinas_mm.datasets.tiny.TINY_COCO_CLASSES (category ids 1, 2, 3)
classes = ('circle', 'square', 'triangle')
num_classes = len(classes)
model = dict(
    backbone=dict(
        space='tiny', norm_cfg=norm_cfg,
        init_cfg=dict(
            checkpoint='work_dirs/export/pinas_tiny_3333113330011021_backbone.pth')),
    neck=dict(in_channels=stage_channels, out_channels=neck_channels),
    rpn_head=dict(in_channels=neck_channels, feat_channels=neck_channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=neck_channels),
        bbox_head=dict(in_channels=neck_channels, conv_out_channels=neck_channels,
                       fc_out_channels=256, num_classes=num_classes, norm_cfg=norm_cfg),
        mask_roi_extractor=dict(out_channels=neck_channels),
        mask_head=dict(in_channels=neck_channels, conv_out_channels=neck_channels,
                       num_classes=num_classes, norm_cfg=norm_cfg)),
    train_cfg=dict(rpn=dict(sampler=dict(num=128)), rcnn=dict(sampler=dict(num=128))))

# data: COCO 2017 layout, scales / 5 (640-800 -> 128-160 on the short side)
dataset_type = 'CocoDataset'
data_root = 'data/tiny/coco/'
metainfo = dict(classes=classes)
backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False),
    dict(type='RandomChoiceResize',
         scales=[(267, 128), (267, 136), (267, 144), (267, 152), (267, 160)],
         keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(267, 160), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline,
                 filter_cfg=dict(filter_empty_gt=True, min_size=8)))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

# schedule: 4 epochs of 40 iterations, warm-up 20 iterations, step at epoch 3
train_cfg = dict(max_epochs=4, val_interval=4)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='MultiStepLR', begin=0, end=4, by_epoch=True, milestones=[3], gamma=0.1),
]
optim_wrapper = dict(optimizer=dict(lr=0.02))
auto_scale_lr = dict(base_batch_size=2)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=4))
randomness = dict(seed=0)
