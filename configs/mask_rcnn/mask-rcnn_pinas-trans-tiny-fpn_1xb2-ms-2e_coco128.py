# Mask R-CNN on real COCO photos: the tiny-space recipe of
# mask-rcnn_pinas-trans-tiny-fpn_1xb2-ms-4e_tiny-coco.py on coco128 (../shared/data/coco128:
# 96 train / 32 val COCO train2017 photos, mostly 640x480, official instances JSON) with
# mmdet's CocoDataset and COCO's own 80 classes. Sized for a CPU: scales / 2.5 of the
# paper's (short side 256-320 instead of 640-800), 2 epochs (96 iterations).
#   python tools/train.py configs/mask_rcnn/mask-rcnn_pinas-trans-tiny-fpn_1xb2-ms-2e_coco128.py \
#       --cfg-options model.backbone.arch=ARCH.yaml model.backbone.init_cfg.checkpoint=BACKBONE.pth
# From scratch instead: model.backbone.init_cfg=None. Another copy of the data:
# {train,val,test}_dataloader.dataset.data_root=DIR/coco128/ and
# {val,test}_evaluator.ann_file=DIR/coco128/annotations/instances_val.json
# filter_empty_gt=False: the 2 train photos without objects stay in training (negatives
# for the RPN and RoI heads, as in mmdet); crowd regions (iscrowd=1, RLE) load as ignored
# instances.
_base_ = './mask-rcnn_pinas-trans-tiny-fpn_1xb2-ms-4e_tiny-coco.py'
classes = None  # CocoDataset.METAINFO: the 80 COCO classes
metainfo = None
num_classes = 80
# test score threshold 0.001 (mmdet's default 0.05): after a short CPU schedule most
# scores over 80 classes stay below 0.05 and CocoMetric would see no detections at all;
# COCO AP integrates over all scores, so low-confidence boxes are ranked, not dropped.
model = dict(roi_head=dict(bbox_head=dict(num_classes=num_classes),
                           mask_head=dict(num_classes=num_classes)),
             test_cfg=dict(rcnn=dict(score_thr=0.001)))
data_root = '../shared/data/coco128/'
backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False),
    dict(type='RandomChoiceResize',
         scales=[(533, 256), (533, 272), (533, 288), (533, 304), (533, 320)],
         keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(533, 320), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_train.json', data_prefix=dict(img='images/'),
                 pipeline=train_pipeline, filter_cfg=dict(filter_empty_gt=False, min_size=8)))
val_dataloader = dict(
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_val.json', data_prefix=dict(img='images/'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

# schedule: 2 epochs of 48 iterations, warm-up 20 iterations, lr x0.1 for the last epoch
train_cfg = dict(max_epochs=2, val_interval=2)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='MultiStepLR', begin=0, end=2, by_epoch=True, milestones=[1], gamma=0.1),
]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=2))
