"""pinas_mm registries: children of mmengine's roots, in the scope ``pinas_mm``.

Any OpenMMLab config can reach a component here as ``type='pinas_mm.X'`` after
``custom_imports=dict(imports=['pinas_mm'])``. Inside pinas_mm, nested builds name their
scope explicitly (``pinas_mm.``/``mmpretrain.``) because they may run while another
package's default scope (mmdet, mmseg) is active. Transforms and metrics are
mmpretrain's, mmdet's and mmseg's own; pinas_mm registers two datasets (CamVid and the
held-out split wrapper).
"""
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='pinas_mm',
                  locations=['pinas_mm.models'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, scope='pinas_mm',
                 locations=['pinas_mm.search'])
#: imported on first use (CamVid imports mmseg, which ``import pinas_mm`` does not need)
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope='pinas_mm',
                    locations=['pinas_mm.datasets.split', 'pinas_mm.datasets.camvid'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='pinas_mm',
                 locations=['pinas_mm.engine'])
#: search strategies (pinas_mm/search/strategy_*.py; a config names them
#: ``type='pinas_mm.EvolutionStrategy'`` like any pinas_mm component, the bare name works
#: too); not an mmengine root. DARTS-PT's perturbation-based selection is a loop (LOOPS:
#: pinas_mm.PerturbationLoop).
STRATEGIES = Registry('search strategy', scope='pinas_mm', locations=['pinas_mm.search'])
#: candidate scorers of the search (linear probe, self-supervised loss, kNN, zero-cost), as
#: ``type='pinas_mm.LinearProbeScorer'``.
SCORERS = Registry('search scorer', scope='pinas_mm', locations=['pinas_mm.search'])
