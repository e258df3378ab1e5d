# SPOS (single-path one-shot, uniform sampling, cross-entropy): the supervised baseline
# Pi-NAS compares against. mmpretrain's ImageNet ResNet recipe (8 x 32, SGD 0.1, steps).
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['pinas_mm'], allow_failed_imports=False)
default_scope = 'mmpretrain'
model = dict(
    type='pinas_mm.SupernetClassifier', sample_path=True,
    backbone=dict(type='pinas_mm.PiNASSuperNet', space='resnest50', out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=2048,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, 5)))
find_unused_parameters = True
custom_hooks = [dict(type='pinas_mm.FiniteLossHook'), dict(type='pinas_mm.RNGStateHook')]
