# NTAA per-domain adaptation (PAPERS.md section 3) on the tiny ImageNet-format data:
# a tiny-space Pi-NAS source supernet is adapted by continued Pi-NAS training on the
# target images (unlabelled), linear-probed on the target labels, searched with the
# target's linear-probe scorer, and the best arch exported with the adapted weights.
#   python tools/train.py configs/pinas/pinas_tiny-space_1xb16-coslr-16e_tiny-in.py
#   python tools/adapt_domain.py configs/ntaa/ntaa_pinas-tiny_adapt-probe-search_tiny-in.py \
#       --source work_dirs/pinas_tiny-space_1xb16-coslr-16e_tiny-in/epoch_16.pth
# Every stage runs the real tool (tools/train.py, tools/search.py, tools/export_subnet.py)
# on the stage config below with `cfg_options` merged in; placeholders: {source},
# {data_root}, {work_dir}, {supernet} (adapted checkpoint), {probe} (probe checkpoint).
# Rerunning the command skips finished stages and resumes an interrupted one.
# Here source and target share a domain (the only labelled tiny classification set):
# the flow is the same for any target; see ntaa_..._tiny-coco-crops.py for another one.
target = dict(name='tiny-in', data_root='data/tiny/imagenet/', prepare=None)

# 1. continued Pi-NAS training on the target images (2 epochs, small lr)
adapt = dict(
    config='configs/pinas/pinas_tiny-space_1xb16-coslr-16e_tiny-in.py',
    cfg_options={
        'load_from': '{source}',
        'train_dataloader.dataset.data_root': '{data_root}',
        'optim_wrapper.optimizer.lr': 0.01,
        'train_cfg.max_epochs': 2,
        'param_scheduler': [dict(type='CosineAnnealingLR', T_max=2, by_epoch=True, begin=0,
                                 end=2, eta_min=0.)],
        'default_hooks.checkpoint.interval': 1,
        'default_hooks.logger.interval': 5,
    })

# 2. supernet linear probe on the target labels (frozen adapted supernet, random paths)
probe = dict(
    config='configs/linear_probe/linear-probe_pinas-tiny-supernet_1xb32-steplr-6e_tiny-in.py',
    cfg_options={
        'model.backbone.init_cfg.checkpoint': '{supernet}',
        'model.head.num_classes': 8,
        'model.data_preprocessor.num_classes': 8,
        'train_dataloader.dataset.data_root': '{data_root}',
        'val_dataloader.dataset.data_root': '{data_root}',
        'test_dataloader.dataset.data_root': '{data_root}',
        'train_cfg.max_epochs': 3,
        'train_cfg.val_interval': 3,
        'param_scheduler': [dict(type='MultiStepLR', by_epoch=True, milestones=[2],
                                 gamma=0.1)],
        'default_hooks.checkpoint.interval': 1,
        'default_hooks.logger.interval': 5,
    })

# 3. search with the target scorer (BN recalibration on the target train split, linear
#    probe top-1 on the target val split), evolution, 16 candidates
search = dict(
    config='configs/search/search-evolution_pinas-tiny-supernet_linear-probe_tiny-in.py',
    cfg_options={
        'model.head.num_classes': 8,
        'model.data_preprocessor.num_classes': 8,
        'train_dataloader.dataset.data_root': '{data_root}',
        'train_cfg.scorer.dataloader.dataset.data_root': '{data_root}',
        'train_cfg.num_candidates': 16,
        'train_cfg.strategy.population_size': 8,
    })

# 4. export the searched arch with the adapted weights (tools/export_subnet.py; naming
#    the space skips inferring it, which builds a full-size supernet)
export = dict(space='tiny')
