# Stand-alone training of ONE architecture of the tiny space (1/4 widths) from scratch on
# the built-in tiny ImageNet-format data (8 classes, 32x32 crops): the ground truth of the
# ranking study (tools/analysis/ranking_study.py sets the arch per run). A short CPU
# schedule (15 epochs x 10 iterations, about half a minute); val top-1 on 96 images.
#   python tools/train.py configs/ranking/standalone_tiny-space_1xb32-coslr-15e_tiny-in.py \
#       --cfg-options model.backbone.arch=[3,0,1,3,2,3,1,2,0,3,2,1,3,0,3,2]
# (a list: a plain digit string would be read as an int by --cfg-options)
_base_ = [
    '../_base_/tiny_in_cls_data.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['pinas_mm'], allow_failed_imports=False)
default_scope = 'mmpretrain'
model = dict(
    type='ImageClassifier',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(type='pinas_mm.PiNASResNeSt', arch='resnest50', space='tiny',
                  out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=8, in_channels=512,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=14, by_epoch=True, begin=1, end=15)]
train_cfg = dict(by_epoch=True, max_epochs=15, val_interval=15)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=15),
                     logger=dict(type='LoggerHook', interval=10),
                     visualization=dict(type='VisualizationHook', enable=False))
custom_hooks = [dict(type='pinas_mm.FiniteLossHook')]
randomness = dict(seed=0, deterministic=True)
