# Perturbation-based progressive selection (DARTS-PT, PAPERS.md section 2) on the tiny
# space, scored like the tiny search: per sampled path, precise-BN recalibration on the
# train split, then supernet-linear-probe top-1 on the held-out split. Each of the 16
# blocks (random order from the seed) is fixed to the candidate whose removal lowers the
# mean score of `num_paths` paths most; after each decision the supernet (backbone + probe
# head, supervised, SPOS-style paths inside the still-allowed candidates) is tuned for
# `tune_iters` iterations. Start from the linear probe checkpoint:
#   python tools/search.py configs/search/perturbation_pinas-tiny-supernet_linear-probe_tiny-in.py \
#       --checkpoint work_dirs/<linear probe run>/epoch_6.pth
# Rerunning the command continues at the next undecided block (work_dir/search.db, study
# 'perturbation', and work_dir/perturbation_ckpt/). Export with the checkpoint named in best_arch.yaml:
#   python tools/export_subnet.py <work_dir>/perturbation_ckpt/decision_15.pth --from-search <work_dir>
# Without tuning (train_cfg.tune_iters=0) the source checkpoint is exported.
_base_ = ['./search-evolution_pinas-tiny-supernet_linear-probe_tiny-in.py']
# tuning moves the backbone too (progressive tuning); the scorer still reads the probe head
model = dict(sample_path=False, freeze_backbone=False)
train_cfg = dict(
    _delete_=True,
    type='pinas_mm.PerturbationLoop',
    scorer={{_base_.train_cfg.scorer}},  # LinearProbeScorer on the val split
    num_paths=4, recal_batches=4, order=None, tune_iters=4,
    # tuning data: the labelled train split with the training augmentation
    tune_dataloader=dict(
        batch_size=32, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True),
        collate_fn=dict(type='default_collate'),
        dataset=dict(type='CustomDataset', data_root='data/tiny/imagenet/',
                     data_prefix='train', ann_file='meta/train.txt',
                     pipeline={{_base_.train_pipeline}})),
    max_keep_ckpts=2, topk=1, input_size=224, num_classes=1000, seed=0)
# the optimizer of the progressive tuning (small: the supernet is already trained)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
# each tuning step trains one sampled path: under DDP (dist_search.sh) the other candidates
# get no gradient, which DDP only allows with this switch
find_unused_parameters = True
