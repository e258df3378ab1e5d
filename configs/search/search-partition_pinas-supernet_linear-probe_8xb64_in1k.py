# The paper's search on ImageNet: learned space partition (LaNAS style: 80 random samples,
# then a tree of LightGBM classifiers rebuilt every 8 samples, up to 1,000 evaluations);
# per candidate, precise BN on held-out train images, then the supernet linear probe's
# top-1 on a held-out labelled split. Optional budgets: flops_budget=5.4e9 etc.
#   tools/dist_search.sh configs/search/search-partition_pinas-supernet_linear-probe_8xb64_in1k.py 8 \
#       --checkpoint work_dirs/<linear probe run>/epoch_100.pth
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['pinas_mm'], allow_failed_imports=False)
default_scope = 'mmpretrain'
model = dict(
    type='pinas_mm.SupernetClassifier', sample_path=False, freeze_backbone=True,
    backbone=dict(type='pinas_mm.PiNASSuperNet', space='resnest50', out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=2048,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
# ~50k held-out train images for precise BN: 98 batches x 64 x 8 GPUs
train_dataloader = dict(
    batch_size=64, num_workers=8,
    sampler=dict(type='DefaultSampler', shuffle=True, seed=0),
    dataset=dict(type='ImageNet', data_root='data/imagenet', split='train',
                 pipeline={{_base_.test_pipeline}}))
train_cfg = dict(
    type='pinas_mm.SearchLoop',
    scorer=dict(type='LinearProbeScorer', dataloader={{_base_.val_dataloader}}),
    strategy=dict(type='PartitionStrategy', init_samples=80, rebuild_every=8),
    num_candidates=1000, recal_batches=98, flops_budget=None, params_budget=None,
    topk=10, input_size=224, num_classes=1000, seed=0)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.))  # unused; mmengine wants one
val_dataloader = None
val_evaluator = None
val_cfg = None
test_dataloader = None
test_evaluator = None
test_cfg = None
default_hooks = dict(checkpoint=None)
