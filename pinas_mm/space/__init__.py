from .arch import NAMED_ARCHS, NUM_BLOCKS, NUM_CHOICES, Arch, ArchLike
from .space import CANDIDATES, SPACE_PRESETS, BlockSetting, SearchSpace

__all__ = ['Arch', 'ArchLike', 'NAMED_ARCHS', 'NUM_BLOCKS', 'NUM_CHOICES', 'SearchSpace',
           'BlockSetting', 'CANDIDATES', 'SPACE_PRESETS']
