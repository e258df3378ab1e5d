# The tiny space's supernet with a linear head on the built-in tiny ImageNet-format data
# (CPU). The tiny SPOS, linear-probe and search configs build on it and set the
# SupernetClassifier's sample_path / freeze_backbone and the backbone's init_cfg.
_base_ = [
    './tiny_in_cls_data.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['pinas_mm'], allow_failed_imports=False)
default_scope = 'mmpretrain'
model = dict(
    type='pinas_mm.SupernetClassifier',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(type='pinas_mm.PiNASSuperNet', space='tiny', out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=8, in_channels=512,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
