"""Set-up shared by the search tests and by tests/_rank_scores.py (a script also run under
``torch.distributed.run``): the tiny search config, loaders of the built-in tiny data and
a seeded random Pi-NAS model of the tiny space.

Imported as a plain module: pytest puts ``tests/`` on ``sys.path`` for the test files
(no ``__init__.py`` there), and a script run from ``tests/`` has it as ``sys.path[0]``.
Heavy imports stay inside the functions, so importing this needs only the standard library.
"""
import copy
import functools
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SEARCH_CFG = osp.join(ROOT, 'configs/search/'
                      'search-evolution_pinas-tiny-supernet_linear-probe_tiny-in.py')


def mmpretrain_scope():
    from mmengine.registry import init_default_scope
    import pinas_mm  # noqa: F401
    init_default_scope('mmpretrain')


@functools.lru_cache()
def search_config():
    """The tiny search config (tiny supernet, GAP, 8-class linear head), read once."""
    from mmengine.config import Config
    return Config.fromfile(SEARCH_CFG)


def tiny_loader(tiny_data, split, batch_size, indices, pipeline=None, with_label=True,
                **sampler):
    """A loader of ``indices`` of the tiny ImageNet-format ``split`` (``train`` / ``val``)
    under ``tiny_data``; ``pipeline`` defaults to the search config's test pipeline,
    ``with_label=False`` reads no annotation file. The sampler is the stock one of every
    OpenMMLab config, ``DefaultSampler`` (``round_up=True``: pads), ``shuffle=False``
    unless ``sampler`` says otherwise."""
    mmpretrain_scope()
    from mmengine.runner import Runner
    dataset = dict(type='CustomDataset', data_root=f'{tiny_data}/imagenet/',
                   data_prefix=split,
                   pipeline=copy.deepcopy(pipeline or search_config().test_pipeline),
                   indices=indices)
    if with_label:
        dataset['ann_file'] = f'meta/{split}.txt'
    else:
        dataset['with_label'] = False
    return Runner.build_dataloader(dict(
        batch_size=batch_size, num_workers=0, collate_fn=dict(type='default_collate'),
        sampler=dict(dict(type='DefaultSampler', shuffle=False), **sampler),
        dataset=dataset))


def two_view_pipeline():
    """Two random 32x32 crops (scale 0.3-1) with random flips per image, for the
    self-supervised loss scorer."""
    return [dict(type='LoadImageFromFile'),
            dict(type='MultiView', num_views=2, transforms=[[
                dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.3, 1.),
                     backend='pillow'),
                dict(type='RandomFlip', prob=0.5)]]),
            dict(type='PackInputs')]


def tiny_pinas(seed=0):
    """A Pi-NAS model (tiny supernet, small MoCo neck and queue) with the random weights
    of ``torch.manual_seed(seed)``."""
    import torch
    mmpretrain_scope()
    from mmpretrain.registry import MODELS
    torch.manual_seed(seed)
    return MODELS.build(dict(
        type='pinas_mm.PiNAS',
        data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], to_rgb=True),
        backbone=dict(type='pinas_mm.PiNASSuperNet', space='tiny'),
        neck=dict(type='MoCoV2Neck', in_channels=512, hid_channels=64, out_channels=16,
                  with_avg_pool=True),
        head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
                  temperature=0.2),
        queue_len=64, feat_dim=16))
