# The supernet linear probe on the tiny space and real CIFAR-10 photos: trained on the
# train split WITHOUT its held-out part (90%: 900 photos per class; the search scores on
# the held-out 10%, see ../_base_/cifar10_held_out.py), validated on the val split.
#   python tools/train.py configs/linear_probe/linear-probe_pinas-tiny-supernet_1xb64-steplr-3e_cifar10.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/<Pi-NAS run>/epoch_2.pth
# Another copy of the data: train_dataloader.dataset.dataset.data_root=DIR/cifar10/ and
# {val,test}_dataloader.dataset.data_root=DIR/cifar10/
_base_ = [
    './linear-probe_pinas-tiny-supernet_1xb32-steplr-6e_tiny-in.py',
    '../_base_/cifar10_held_out.py',
]
num_classes = 10
data_root = {{_base_.cifar10_root}}
data_preprocessor = dict(num_classes=num_classes)
model = dict(data_preprocessor=dict(num_classes=num_classes),
             head=dict(num_classes=num_classes))
train_dataloader = dict(
    batch_size=64,
    dataset=dict(
        _delete_=True, type='pinas_mm.HeldOutSplit', part='train',
        fraction={{_base_.cifar10_held_out_fraction}}, seed={{_base_.cifar10_held_out_seed}},
        # ImageNet-style class folders without meta files: labels = sorted folder names
        dataset=dict(type='CustomDataset', data_root={{_base_.cifar10_root}},
                     data_prefix='train', ann_file='',
                     pipeline={{_base_.train_pipeline}})))
val_dataloader = dict(batch_size=64, dataset=dict(data_root={{_base_.cifar10_root}},
                                                  data_prefix='val', ann_file=''))
test_dataloader = val_dataloader
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[2], gamma=0.1)]
train_cfg = dict(by_epoch=True, max_epochs=3, val_interval=3)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=3),
                     logger=dict(type='LoggerHook', interval=20))
