# SPOS on the tiny space and the tiny ImageNet-format data (CPU, about a minute).
_base_ = [
    '../_base_/tiny_in_cls_data.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['pinas_mm'], allow_failed_imports=False)
default_scope = 'mmpretrain'
model = dict(
    type='pinas_mm.SupernetClassifier', sample_path=True,
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(type='pinas_mm.PiNASSuperNet', space='tiny', out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=8, in_channels=512,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=8, by_epoch=True, begin=0, end=8)]
train_cfg = dict(by_epoch=True, max_epochs=8, val_interval=8)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=4),
                     logger=dict(type='LoggerHook', interval=10),
                     visualization=dict(type='VisualizationHook', enable=False))
find_unused_parameters = True
custom_hooks = [dict(type='pinas_mm.FiniteLossHook'), dict(type='pinas_mm.RNGStateHook')]
randomness = dict(seed=0, deterministic=True)
