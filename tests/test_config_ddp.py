"""Every config that trains a path-sampling supernet runs under DDP.

A step of SPOS, Pi-NAS or DARTS-PT's progressive tuning trains one sampled path, so the
other candidates of each block get no gradient; ``DistributedDataParallel`` raises "Expected
to have finished reduction in the prior iteration" for those unless the config sets
``find_unused_parameters=True`` (mmengine's Runner reads it; ``pinas_mm.engine.dist`` for
the CPU launcher). A supernet whose backbone is frozen (linear probe) has no such
parameters, and a search that only evaluates never calls backward.
"""
import functools
import glob
import os.path as osp

import pytest
from mmengine.config import Config

import pinas_mm  # noqa: F401  (custom_imports of the configs)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p)


@functools.lru_cache(maxsize=None)
def load(path):
    return Config.fromfile(path)


def trains_sampled_paths(cfg) -> bool:
    """Whether a run of ``cfg`` calls backward through a path-sampling supernet."""
    model = cfg.get('model') or {}
    backbone = (model.get('backbone') or {}).get('type', '')
    if not backbone.endswith('SuperNet'):
        return False
    loop = cfg.get('train_cfg')
    if loop is None:
        return False
    kind = loop.get('type', '')
    if kind.endswith('SearchLoop'):
        return False  # evaluation only
    if kind.endswith('PerturbationLoop'):
        return loop.get('tune_iters', 0) > 0 and not model.get('freeze_backbone', False)
    return not model.get('freeze_backbone', False)


def find_unused(cfg) -> bool:
    wrapper = cfg.get('model_wrapper_cfg') or {}
    return bool(wrapper.get('find_unused_parameters', cfg.get('find_unused_parameters')))


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_configs_that_train_sampled_paths_let_ddp_skip_unused_candidates(path):
    cfg = load(path)
    if trains_sampled_paths(cfg):
        assert find_unused(cfg), (f'{osp.relpath(path, ROOT)} trains sampled paths of a '
                                  'supernet: set find_unused_parameters = True')


def test_the_rule_sees_the_supernet_trainers():
    kinds = {osp.basename(p): trains_sampled_paths(load(p)) for p in CONFIGS}
    for name in ('pinas_tiny-space_1xb64-coslr-2e_cifar10.py',
                 'spos_tiny-space_1xb64-coslr-2e_cifar10.py',
                 'perturbation_pinas-tiny-supernet_linear-probe_tiny-in.py'):
        assert kinds[name], name
    for name in ('search-evolution_pinas-tiny-supernet_linear-probe_tiny-in.py',
                 'linear-probe_pinas-tiny-supernet_1xb32-steplr-6e_tiny-in.py',
                 'mask-rcnn_pinas-trans-tiny-fpn_1xb2-ms-2e_coco128.py'):
        assert not kinds[name], name
