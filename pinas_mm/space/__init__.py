from .arch import DEFAULT_FORMAT, NAMED_ARCHS, NUM_BLOCKS, NUM_CHOICES, Arch, ArchFormat, ArchLike
from .nb201 import NB201_EDGES, NB201_OPS, NB201_PRESETS, NB201Space
from .space import CANDIDATES, SPACE_PRESETS, BlockSetting, SearchSpace, get_space

__all__ = ['Arch', 'ArchLike', 'ArchFormat', 'DEFAULT_FORMAT', 'NAMED_ARCHS', 'NUM_BLOCKS',
           'NUM_CHOICES', 'SearchSpace', 'BlockSetting', 'CANDIDATES', 'SPACE_PRESETS',
           'NB201Space', 'NB201_OPS', 'NB201_EDGES', 'NB201_PRESETS', 'get_space']
