"""The batch cache of the search (pinas_mm/search/batch_cache.py): scores and BN
statistics with the cache are bit-identical to streaming, the bound falls back to
streaming, each rank caches its own shard, bad settings fail in one line.

Tiny space, 32x32 inputs, random (seeded) augmentations for the recalibration batches,
so a cached batch that differed from the seeded stream would change the scores."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SEARCH_CFG = osp.join(ROOT, 'configs/search/'
                      'search-evolution_pinas-tiny-supernet_linear-probe_tiny-in.py')
ARCHS = ['0123012301230123', '3210321032103210']
RANDOM_AUG = [dict(type='LoadImageFromFile'),
              dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.3, 1.),
                   backend='pillow'),
              dict(type='RandomFlip', prob=0.5, direction='horizontal'),
              dict(type='PackInputs')]


@pytest.fixture(autouse=True, scope='module')
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _scope():
    from mmengine.registry import init_default_scope
    import pinas_mm  # noqa: F401
    init_default_scope('mmpretrain')


def _config():
    from mmengine.config import Config
    return Config.fromfile(SEARCH_CFG)


@pytest.fixture(scope='module')
def state():
    """A 'trained' tiny supernet probe: random weights, BN statistics and head, so that
    paths (and BN statistics) differ."""
    _scope()
    from mmpretrain.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(_config().model.to_dict())
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
        model.head.fc.weight.copy_(torch.randn(model.head.fc.weight.shape, generator=g))
    return copy.deepcopy(model.state_dict())


def _model(state):
    _scope()
    from mmpretrain.registry import MODELS
    model = MODELS.build(_config().model.to_dict())
    model.load_state_dict(state)
    return model


def _loader(tiny_data, split='train', batch_size=16, indices=None, pipeline=None,
            num_workers=0, shuffle=True):
    _scope()
    from mmengine.runner import Runner
    indices = (np.random.RandomState(0).permutation(320)[:40].tolist()
               if indices is None else indices)
    return Runner.build_dataloader(dict(
        batch_size=batch_size, num_workers=num_workers,
        collate_fn=dict(type='default_collate'),
        sampler=dict(type='DefaultSampler', shuffle=shuffle, seed=0),
        dataset=dict(type='CustomDataset', data_root=f'{tiny_data}/imagenet/',
                     data_prefix=split, ann_file=f'meta/{split}.txt',
                     pipeline=copy.deepcopy(pipeline or RANDOM_AUG), indices=indices)))


def _val_cfg(tiny_data):
    cfg = _config().train_cfg.scorer.dataloader.to_dict()
    cfg['dataset']['data_root'] = f'{tiny_data}/imagenet/'
    return cfg  # 96 val images, 3 batches of 32


def _path_bn(model, arch):
    supernet = model.backbone
    return [t.clone() for mod in supernet.path_modules(supernet.space.arch(arch))
            for m in mod.modules() if isinstance(m, _BatchNorm)
            for t in (m.running_mean, m.running_var, m.num_batches_tracked)]


def _run(state, make_scorer, tiny_data, recal_batches=2, **cache_cfg):
    """Scores and path BN statistics of ARCHS (evaluated twice over: the second round
    reads the cache) with a fresh model and evaluator."""
    from pinas_mm.search import CandidateEvaluator
    model = _model(state)
    scorer = make_scorer(**cache_cfg)
    evaluator = CandidateEvaluator(model, _loader(tiny_data), scorer, recal_batches)
    out = []
    for arch in ARCHS + ARCHS[:1]:
        score = evaluator(model.backbone.space.arch(arch))
        out.append((arch, score, _path_bn(model, arch)))
    return out, evaluator


def _assert_same(a, b):
    assert len(a) == len(b)
    for (arch, s1, bn1), (arch2, s2, bn2) in zip(a, b):
        assert arch == arch2
        assert s1 == s2, (arch, s1, s2)  # exactly
        assert len(bn1) == len(bn2) and all(torch.equal(x, y) for x, y in zip(bn1, bn2))


def _probe(tiny_data):
    from pinas_mm.search import LinearProbeScorer
    return lambda **kw: LinearProbeScorer(_val_cfg(tiny_data), **kw)


def _knn(tiny_data):
    from pinas_mm.search import KNNScorer
    return lambda **kw: KNNScorer(
        _val_cfg(tiny_data), k=5, memory_dataloader=_loader(
            tiny_data, batch_size=32, indices=list(range(0, 320, 5)),
            pipeline=_config().test_pipeline, shuffle=False), **kw)


# ------------------------------------------------------------------ cache == streaming
@pytest.mark.parametrize('which', ['probe', 'knn'])
def test_cached_scores_and_bn_statistics_equal_streaming(tiny_data, state, which,
                                                         monkeypatch):
    make = dict(probe=_probe, knn=_knn)[which](tiny_data)
    streamed, ev_off = _run(state, make, tiny_data, cache_batches=False)
    assert ev_off.batch_cache is None and ev_off.scorer.batch_cache is None
    # count the dataloader passes: with the cache only the first candidate streams
    from pinas_mm.engine.sharding import BatchShards
    passes = []
    iterate = BatchShards.iterate

    def counting(self, seed=0):
        passes.append(len(self.mine))
        return iterate(self, seed)

    monkeypatch.setattr(BatchShards, 'iterate', counting)
    cached, ev_on = _run(state, make, tiny_data)
    _assert_same(streamed, cached)
    assert len({s for _, s, _ in cached}) > 1  # the paths do score differently
    cache = ev_on.batch_cache
    assert cache is ev_on.scorer.batch_cache and not cache.full
    streams = dict(recal=2, **({'knn_memory': 2} if which == 'knn' else {}), score=3)
    assert {k: cache.cached_batches(k) for k in streams} == streams
    assert passes == list(streams.values())  # one pass per stream, on candidate 1 only


def test_selfsup_scorer_cached_equals_streamed(tiny_data):
    """Two random views per image (multi-view data), scored through the cache."""
    from _search_setup import tiny_pinas
    from pinas_mm.search import SelfSupLossScorer
    _scope()
    model = tiny_pinas(seed=0)
    views = [dict(type='LoadImageFromFile'),
             dict(type='MultiView', num_views=2, transforms=[RANDOM_AUG[1:3]]),
             dict(type='PackInputs')]
    loader = _loader(tiny_data, batch_size=8, pipeline=views)
    off = SelfSupLossScorer(loader, num_batches=2, cache_batches=False)
    on = SelfSupLossScorer(loader, num_batches=2)
    ref = off(model)
    assert on(model) == ref and on(model) == ref and on.batch_cache.cached_batches('score') == 2


# ------------------------------------------------------------------------------ bounds
def test_bound_falls_back_to_streaming(tiny_data, state, monkeypatch):
    import mmengine.logging
    logs = []
    monkeypatch.setattr(mmengine.logging, 'print_log', lambda msg, **kw: logs.append(msg))
    make = _probe(tiny_data)
    streamed, _ = _run(state, make, tiny_data, cache_batches=False)
    # 3 batches: the 2 recalibration batches and the first scoring batch
    by_count, ev = _run(state, make, tiny_data, cache_max_batches=3)
    _assert_same(streamed, by_count)
    cache = ev.batch_cache
    assert cache.full and cache.num_batches == 3
    assert (cache.cached_batches('recal'), cache.cached_batches('score')) == (2, 1)
    logs = [m for m in logs if m.startswith('Batch cache')]
    assert len(logs) == 1 and '\n' not in logs[0] and 'max_batches=3' in logs[0], logs
    # a byte bound below one recalibration batch (16 x 3 x 32 x 32 uint8): nothing cached
    by_bytes, ev = _run(state, make, tiny_data, cache_max_bytes=16 * 3 * 32 * 32 - 1)
    _assert_same(streamed, by_bytes)
    assert ev.batch_cache.full and ev.batch_cache.num_batches == 0
    assert ev.batch_cache.nbytes == 0


@pytest.mark.parametrize('num_workers', [0, 1])
def test_partial_cache_gives_the_streamed_batches(tiny_data, num_workers):
    """Cached prefix + streamed rest = the seeded stream, batch by batch, also with a
    worker process (whose random stream depends on the batch's position)."""
    from pinas_mm.engine.sharding import BatchShards
    from pinas_mm.search.batch_cache import BatchCache
    loader = _loader(tiny_data, batch_size=8, num_workers=num_workers)
    ref = list(BatchShards(loader).iterate(seed=3))
    cache = BatchCache(max_batches=2)
    for _ in range(3):
        got = list(cache.iterate('recal', BatchShards(loader), seed=3))
        assert [b for b, _ in got] == [b for b, _ in ref] == list(range(5))
        for (_, x), (_, y) in zip(got, ref):
            assert torch.equal(x['inputs'], y['inputs'])
            assert [s.gt_label for s in x['data_samples']] == \
                [s.gt_label for s in y['data_samples']]
    assert cache.cached_batches('recal') == 2 and cache.full
    # another seed is another stream: dropped and refilled, never mixed
    other = list(cache.iterate('recal', BatchShards(loader), seed=4))
    assert not torch.equal(other[0][1]['inputs'], ref[0][1]['inputs'])


def test_each_rank_caches_its_own_shard(tiny_data, monkeypatch):
    """Rank 1 of 2 (faked): it caches and yields only its batches (1, 3), bit-identical to
    its streamed shard."""
    import pinas_mm.engine.sharding as sharding
    from pinas_mm.search.batch_cache import BatchCache
    monkeypatch.setattr(sharding, 'get_dist_info', lambda: (1, 2))
    loader = _loader(tiny_data, batch_size=8)
    ref = list(sharding.BatchShards(loader, 4).iterate(seed=0))
    cache = BatchCache()
    for _ in range(2):
        got = list(cache.iterate('score', sharding.BatchShards(loader, 4), seed=0))
        assert [b for b, _ in got] == [b for b, _ in ref] == [1, 3]
        assert all(torch.equal(x['inputs'], y['inputs']) for (_, x), (_, y) in zip(got, ref))
    assert cache.cached_batches('score') == 2


# -------------------------------------------------------------------------- bad input
@pytest.mark.parametrize('kwargs, error, named', [
    (dict(cache_max_bytes=-1), ValueError, 'cache_max_bytes=-1'),
    (dict(cache_max_batches=-3), ValueError, 'cache_max_batches=-3'),
    (dict(cache_max_bytes='2GB'), TypeError, "cache_max_bytes='2GB'"),
    (dict(cache_max_batches=2.5), TypeError, 'cache_max_batches=2.5'),
    (dict(cache_max_batches=True), TypeError, 'cache_max_batches=True'),
    (dict(cache_batches='yes'), TypeError, "cache_batches='yes'"),
    (dict(cache_batches=False, cache_max_bytes=-1), ValueError, 'cache_max_bytes=-1'),
])
def test_bad_cache_settings_fail_in_one_line(tiny_data, kwargs, error, named):
    from pinas_mm.search import LinearProbeScorer
    with pytest.raises(error) as e:
        LinearProbeScorer(_val_cfg(tiny_data), **kwargs)
    assert named in str(e.value) and '\n' not in str(e.value)


def test_bad_bound_of_batch_cache_itself():
    from pinas_mm.search.batch_cache import BatchCache
    with pytest.raises(ValueError, match=r'max_bytes=-5 is negative'):
        BatchCache(max_bytes=-5)
    with pytest.raises(TypeError, match=r"max_batches='3'"):
        BatchCache(max_batches='3')
    assert BatchCache(max_bytes=None, max_batches=0).max_batches == 0


def test_search_configs_have_the_switch():
    from mmengine.config import Config
    import glob
    for path in sorted(glob.glob(osp.join(ROOT, 'configs/search/search-*.py'))):
        scorer = Config.fromfile(path).train_cfg.scorer
        assert scorer.get('cache_batches') is True, path
