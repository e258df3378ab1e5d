"""pinas_mm registries: children of mmengine's roots, in the scope ``pinas_mm``.

Any OpenMMLab config can reach a component here as ``type='pinas_mm.X'`` after
``custom_imports=dict(imports=['pinas_mm'])``. Inside pinas_mm, nested builds name their
scope explicitly (``pinas_mm.``/``mmpretrain.``) because they may run while another
package's default scope (mmdet, mmseg) is active.
"""
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='pinas_mm',
                  locations=['pinas_mm.models'])
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope='pinas_mm',
                    locations=['pinas_mm.datasets'])
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, scope='pinas_mm',
                      locations=['pinas_mm.datasets'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, scope='pinas_mm',
                 locations=['pinas_mm.search', 'pinas_mm.engine'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='pinas_mm',
                 locations=['pinas_mm.engine'])
METRICS = Registry('metric', parent=MMENGINE_METRICS, scope='pinas_mm',
                   locations=['pinas_mm.evaluation'])
#: search strategies (random / evolution / partition); not an mmengine root. DARTS-PT's
#: perturbation-based selection is a loop (LOOPS: pinas_mm.PerturbationLoop).
STRATEGIES = Registry('search strategy', scope='pinas_mm', locations=['pinas_mm.search'])
#: candidate scorers of the search (linear probe, self-supervised loss, kNN).
SCORERS = Registry('search scorer', scope='pinas_mm', locations=['pinas_mm.search'])
