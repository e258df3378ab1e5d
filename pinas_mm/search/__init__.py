from .history import SearchHistory
from .strategy_base import BaseStrategy
from .strategy_random import RandomStrategy  # registered first, as before the split
from .strategy_evolution import EvolutionStrategy
from .strategy_partition import DEFAULT_HEIGHT_SCHEDULE, PartitionStrategy, tree_height
from .strategy_regularized_evolution import RegularizedEvolutionStrategy
from .strategy_tpe import TPEStrategy
from .strategy_fixed import FixedStrategy
from .memory_history import MemoryHistory

__all__ = ['SearchHistory', 'BaseStrategy', 'RandomStrategy', 'EvolutionStrategy',
           'PartitionStrategy', 'RegularizedEvolutionStrategy', 'TPEStrategy', 'FixedStrategy',
           'MemoryHistory', 'tree_height', 'DEFAULT_HEIGHT_SCHEDULE']
from .evaluator import (CandidateEvaluator, KNNScorer, LinearProbeScorer,  # noqa: E402
                        SelfSupLossScorer, recalibrate_bn)
from .loop import SearchLoop  # noqa: E402
from .perturbation import PerturbationLoop, PerturbationSelector, restrict_paths  # noqa: E402
from . import zero_cost  # noqa: E402,F401  (registers the training-free scorers)
