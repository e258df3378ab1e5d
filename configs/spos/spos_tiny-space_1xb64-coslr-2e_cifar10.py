# SPOS (the supervised single-path baseline) on the tiny space and the real CIFAR-10
# photos of ../shared/data/cifar10 (10 class folders, 1,000 train / 200 val images each,
# 32x32), with the same photos and epochs as pinas_tiny-space_1xb64-coslr-2e_cifar10.py.
#   python tools/train.py configs/spos/spos_tiny-space_1xb64-coslr-2e_cifar10.py
# Another copy of the data: --cfg-options {train,val,test}_dataloader.dataset.data_root=DIR/cifar10/
_base_ = './spos_tiny-space_1xb32-coslr-8e_tiny-in.py'
num_classes = 10
data_root = '../shared/data/cifar10/'
data_preprocessor = dict(num_classes=num_classes)
model = dict(data_preprocessor=dict(num_classes=num_classes),
             head=dict(num_classes=num_classes))
# ImageNet-style class folders without meta files: labels = sorted folder names
train_dataloader = dict(batch_size=64,
                        dataset=dict(data_root=data_root, data_prefix='train', ann_file=''))
val_dataloader = dict(batch_size=64,
                      dataset=dict(data_root=data_root, data_prefix='val', ann_file=''))
test_dataloader = val_dataloader
param_scheduler = [dict(type='CosineAnnealingLR', T_max=2, by_epoch=True, begin=0, end=2)]
train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=2)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1),
                     logger=dict(type='LoggerHook', interval=20))
