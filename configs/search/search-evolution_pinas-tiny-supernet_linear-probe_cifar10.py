# Search the tiny space on real CIFAR-10 photos with the supernet linear probe scorer:
# per candidate, precise-BN recalibration on the probe's training part of the train split,
# then linear-probe top-1 on the HELD-OUT part of the train split (10% of every class,
# ../_base_/cifar10_held_out.py). The val split, whose numbers are reported, is never used.
#   python tools/search.py configs/search/search-evolution_pinas-tiny-supernet_linear-probe_cifar10.py \
#       --checkpoint work_dirs/<linear probe run>/epoch_3.pth
# Another copy of the data: train_dataloader.dataset.dataset.data_root=DIR/cifar10/ and
# train_cfg.scorer.dataloader.dataset.dataset.data_root=DIR/cifar10/
_base_ = [
    './search-evolution_pinas-tiny-supernet_linear-probe_tiny-in.py',
    '../_base_/cifar10_held_out.py',
]
num_classes = 10
data_root = {{_base_.cifar10_root}}
data_preprocessor = dict(num_classes=num_classes)
model = dict(data_preprocessor=dict(num_classes=num_classes),
             head=dict(num_classes=num_classes))
cifar10_train = dict(type='CustomDataset', data_root={{_base_.cifar10_root}},
                     data_prefix='train', ann_file='', pipeline={{_base_.test_pipeline}})
train_dataloader = dict(
    batch_size=64,
    dataset=dict(_delete_=True, type='pinas_mm.HeldOutSplit', part='train',
                 fraction={{_base_.cifar10_held_out_fraction}},
                 seed={{_base_.cifar10_held_out_seed}}, dataset=cifar10_train))
train_cfg = dict(
    scorer=dict(dataloader=dict(
        batch_size=64,
        dataset=dict(_delete_=True, type='pinas_mm.HeldOutSplit', part='held_out',
                     fraction={{_base_.cifar10_held_out_fraction}},
                     seed={{_base_.cifar10_held_out_seed}}, dataset=cifar10_train))))
