# Supernet linear probe (Pi-NAS search, step 1): the trained supernet is frozen (BN layers
# stay in train mode), a random path runs every iteration; lr 30, 100 epochs, steps at
# 60/80, batch 256; trained on ImageNet train without its held-out part, on which the
# search scores (../_base_/imagenet_held_out.py). Give the Pi-NAS checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/<pinas run>/epoch_100.pth
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/imagenet_held_out.py',
]
custom_imports = dict(imports=['pinas_mm'], allow_failed_imports=False)
default_scope = 'mmpretrain'
model = dict(
    type='pinas_mm.SupernetClassifier', sample_path=True, freeze_backbone=True,
    backbone=dict(type='pinas_mm.PiNASSuperNet', space='resnest50', out_indices=(3, ),
                  init_cfg=dict(type='Pretrained', checkpoint='SUPERNET.pth',
                                prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=2048,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
train_dataloader = dict(dataset=dict(
    _delete_=True, type='pinas_mm.HeldOutSplit', part='train',
    fraction={{_base_.imagenet_held_out_fraction}}, seed={{_base_.imagenet_held_out_seed}},
    dataset=dict(type='ImageNet', data_root='data/imagenet', split='train',
                 pipeline={{_base_.train_pipeline}})))
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=30., momentum=0.9, weight_decay=0.))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[60, 80], gamma=0.1)]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=10)
val_cfg = dict()
test_cfg = dict()
find_unused_parameters = True
custom_hooks = [dict(type='pinas_mm.FiniteLossHook'), dict(type='pinas_mm.RNGStateHook')]
auto_scale_lr = dict(base_batch_size=256)
