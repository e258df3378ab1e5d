# Search the tiny space with the supernet linear probe scorer (Pi-NAS search, steps 2-3):
# per candidate, precise-BN recalibration on the train split, then linear-probe top-1 on
# the held-out split. Start with the linear probe checkpoint:
#   python tools/search.py configs/search/search-evolution_pinas-tiny-supernet_linear-probe_tiny-in.py \
#       --checkpoint work_dirs/<linear probe run>/epoch_6.pth
_base_ = '../_base_/tiny_supernet_classifier.py'
model = dict(sample_path=False, freeze_backbone=True)
# BN recalibration data: the train split, deterministic pipeline
train_dataloader = dict(
    batch_size=32, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True, seed=0),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='CustomDataset', data_root='data/tiny/imagenet/', data_prefix='train',
                 ann_file='meta/train.txt', pipeline={{_base_.test_pipeline}}))
train_cfg = dict(
    type='pinas_mm.SearchLoop',
    # cache_batches: keep the decoded batches (recalibration + scoring) in memory across
    # candidates, at most cache_max_bytes per rank (then stream the rest); False: decode
    # them again for every candidate. Scores are identical either way.
    scorer=dict(type='pinas_mm.LinearProbeScorer', dataloader={{_base_.val_dataloader}},
                cache_batches=True, cache_max_bytes=2 * 2**30),
    strategy=dict(type='pinas_mm.EvolutionStrategy', population_size=8, top_k=4, num_mutation=4,
                  num_crossover=4, mutate_prob=0.1),
    num_candidates=24, recal_batches=4, flops_budget=None, params_budget=None,
    topk=5, input_size=224, num_classes=1000, seed=0)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.))  # unused; mmengine wants one
val_dataloader = None
val_evaluator = None
val_cfg = None
test_dataloader = None
test_evaluator = None
test_cfg = None
default_hooks = dict(checkpoint=None, visualization=dict(type='VisualizationHook',
                                                         enable=False))
randomness = dict(seed=0, deterministic=True)
