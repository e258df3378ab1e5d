from .history import SearchHistory
from .strategies import (DEFAULT_HEIGHT_SCHEDULE, BaseStrategy, EvolutionStrategy,
                         PartitionStrategy, RandomStrategy, tree_height)

__all__ = ['SearchHistory', 'BaseStrategy', 'RandomStrategy', 'EvolutionStrategy',
           'PartitionStrategy', 'tree_height', 'DEFAULT_HEIGHT_SCHEDULE']
