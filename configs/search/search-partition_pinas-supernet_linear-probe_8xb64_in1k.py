# The paper's search on ImageNet: learned space partition (LaNAS style: 80 random samples,
# then a tree of LightGBM classifiers rebuilt every 8 samples, up to 1,000 evaluations);
# per candidate, precise BN on images of the probe's training part of ImageNet train, then
# the supernet linear probe's top-1 on the HELD-OUT part of ImageNet train (4% of every
# class, ~51k images, ../_base_/imagenet_held_out.py). ImageNet val, whose numbers are
# reported, is never used by the search. Optional budgets: flops_budget=5.4e9 etc.
#   tools/dist_search.sh configs/search/search-partition_pinas-supernet_linear-probe_8xb64_in1k.py 8 \
#       --checkpoint work_dirs/<linear probe run>/epoch_100.pth
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/imagenet_held_out.py',
]
custom_imports = dict(imports=['pinas_mm'], allow_failed_imports=False)
default_scope = 'mmpretrain'
model = dict(
    type='pinas_mm.SupernetClassifier', sample_path=False, freeze_backbone=True,
    backbone=dict(type='pinas_mm.PiNASSuperNet', space='resnest50', out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=2048,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
imagenet_train = dict(type='ImageNet', data_root='data/imagenet', split='train',
                      pipeline={{_base_.test_pipeline}})
# precise BN: 784 batches x 64 (~50k images) of the probe's training part; recal_batches
# counts over all ranks (98 per GPU on 8), so any GPU count uses the same images
train_dataloader = dict(
    batch_size=64, num_workers=8,
    sampler=dict(type='DefaultSampler', shuffle=True, seed=0),
    dataset=dict(_delete_=True, type='pinas_mm.HeldOutSplit', part='train',
                 fraction={{_base_.imagenet_held_out_fraction}},
                 seed={{_base_.imagenet_held_out_seed}}, dataset=imagenet_train))
train_cfg = dict(
    type='pinas_mm.SearchLoop',
    scorer=dict(type='pinas_mm.LinearProbeScorer', dataloader=dict(
        batch_size=64, num_workers=8, sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(type='pinas_mm.HeldOutSplit', part='held_out',
                     fraction={{_base_.imagenet_held_out_fraction}},
                     seed={{_base_.imagenet_held_out_seed}}, dataset=imagenet_train)),
        # per rank on 8 ranks: 98 recalibration + ~100 scoring batches of 64 uint8
        # 224^2 crops, ~1.9 GB (15 GB per 8-GPU node); set cache_batches=False (decode
        # them again for every candidate) or a smaller bound on a node with less memory
        cache_batches=True, cache_max_bytes=3 * 2**30),
    strategy=dict(type='pinas_mm.PartitionStrategy', init_samples=80, rebuild_every=8),
    num_candidates=1000, recal_batches=784, flops_budget=None, params_budget=None,
    topk=10, input_size=224, num_classes=1000, seed=0)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.))  # unused; mmengine wants one
val_dataloader = None
val_evaluator = None
val_cfg = None
test_dataloader = None
test_evaluator = None
test_cfg = None
default_hooks = dict(checkpoint=None)
