"""Configs reach strategies and scorers as ``pinas_mm.X``, like models, loops and datasets."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

import pinas_mm.search  # noqa: F401  (registers the strategies and scorers)
from pinas_mm.registry import SCORERS, STRATEGIES
from pinas_mm.search.loop import _build

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SEARCH_CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'search', '*.py')))


def _typed(node, path=''):
    """(path, type) of every dict with a ``type`` key, recursively."""
    if isinstance(node, dict):
        if isinstance(node.get('type'), str):
            yield path, node['type']
        for k, v in node.items():
            yield from _typed(v, f'{path}.{k}' if path else str(k))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _typed(v, f'{path}[{i}]')


@pytest.mark.parametrize('path', SEARCH_CONFIGS, ids=osp.basename)
def test_search_configs_name_strategies_and_scorers_in_the_pinas_mm_scope(path):
    cfg = Config.fromfile(path)
    ours = {**{n: STRATEGIES for n in STRATEGIES.module_dict},
            **{n: SCORERS for n in SCORERS.module_dict}}
    found = []
    for where, name in _typed(cfg.to_dict()):
        bare = name.split('.', 1)[1] if name.startswith('pinas_mm.') else name
        if bare in ours:
            assert name == f'pinas_mm.{bare}', f'{path}: {where}.type={name!r}'
            assert ours[bare].get(name) is ours[bare].get(bare) is not None
            found.append(where)
    assert 'train_cfg.scorer' in found, found


def test_both_spellings_build_the_same_strategy():
    required = dict(FixedStrategy=dict(archs=['0' * 16, '1' * 16, '2' * 16, '3' * 16]))
    for name in STRATEGIES.module_dict:
        kw = dict(seed=4, **required.get(name, {}))
        new = STRATEGIES.build(dict(type=f'pinas_mm.{name}', **kw))
        old = STRATEGIES.build(dict(type=name, **kw))
        via_loop = _build(STRATEGIES, dict(type=f'pinas_mm.{name}', **kw))
        assert type(new) is type(old) is type(via_loop)
        assert new.propose([], 3) == old.propose([], 3) == via_loop.propose([], 3)
