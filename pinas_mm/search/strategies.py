"""Old import path of the search strategies, kept so that existing imports keep working.

Each strategy lives in its own module: :mod:`.strategy_base` (``BaseStrategy``, argument
checks, the ``Picker`` of new valid archs), :mod:`.strategy_random`,
:mod:`.strategy_evolution`, :mod:`.strategy_partition`,
:mod:`.strategy_regularized_evolution`, :mod:`.strategy_tpe` and :mod:`.strategy_fixed`.
"""
from .strategy_base import BaseStrategy, History, Picker, check_float, check_int
from .strategy_evolution import EvolutionStrategy
from .strategy_partition import DEFAULT_HEIGHT_SCHEDULE, PartitionStrategy, tree_height
from .strategy_random import RandomStrategy
from .strategy_regularized_evolution import RegularizedEvolutionStrategy
from .strategy_tpe import TPEStrategy
from .strategy_fixed import FixedStrategy

__all__ = ['BaseStrategy', 'History', 'Picker', 'check_int', 'check_float', 'RandomStrategy',
           'EvolutionStrategy', 'PartitionStrategy', 'RegularizedEvolutionStrategy',
           'TPEStrategy', 'FixedStrategy', 'tree_height', 'DEFAULT_HEIGHT_SCHEDULE']
