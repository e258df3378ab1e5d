# SPOS on the tiny space and the tiny ImageNet-format data (CPU, about a minute).
_base_ = '../_base_/tiny_supernet_classifier.py'
model = dict(sample_path=True)
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
