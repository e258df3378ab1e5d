# The supernet linear probe on the tiny space and tiny ImageNet-format data (CPU).
_base_ = '../_base_/tiny_supernet_classifier.py'
model = dict(
    sample_path=True, freeze_backbone=True,
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='SUPERNET.pth',
                                prefix='backbone.')))
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=3., momentum=0.9, weight_decay=0.))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[4, 5], gamma=0.1)]
train_cfg = dict(by_epoch=True, max_epochs=6, val_interval=6)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=6),
                     logger=dict(type='LoggerHook', interval=10),
                     visualization=dict(type='VisualizationHook', enable=False))
custom_hooks = [dict(type='pinas_mm.FiniteLossHook'), dict(type='pinas_mm.RNGStateHook')]
randomness = dict(seed=0, deterministic=True)
