"""Description of the Pi-NAS search space (ResNeSt-50 macro, 4 candidates per block)."""
from dataclasses import dataclass, field
from typing import Dict, Tuple, Union

from .arch import NUM_CHOICES, Arch, ArchLike


def backbone_classes(space) -> Tuple[type, type]:
    """``(supernet class, subnet class)`` of a space, looked up by the registry names
    ``space.supernet_type`` / ``space.subnet_type`` in ``pinas_mm.registry.MODELS``
    (imported here, not at module load, as the backbones import the spaces).

    The two classes make any space usable by the generic code (complexity tables,
    export): ``supernet_cls(space=space)`` holds every candidate; its classmethod
    ``layout_for(space)`` describes its keys without building it
    (:mod:`pinas_mm.models.backbones.layout`), from which ``inherit_state(supernet_state,
    arch, space, prefix)`` maps a supernet state to a subnet state;
    ``subnet_cls(arch=arch, space=space)`` holds one arch and names the modules of each
    arch position with ``position_modules()``."""
    import pinas_mm.models.backbones  # noqa: F401  (registers the backbones)
    from pinas_mm.registry import MODELS
    return MODELS.get(space.supernet_type), MODELS.get(space.subnet_type)


@dataclass(frozen=True)
class BlockSetting:
    """One candidate ResNeSt bottleneck."""
    radix: int
    groups: int  # cardinality
    base_width: int  # width_per_group


#: index -> candidate, from PAPERS.md (index 1 is the ResNeSt-50 block).
CANDIDATES: Tuple[BlockSetting, ...] = (
    BlockSetting(radix=1, groups=1, base_width=64),
    BlockSetting(radix=2, groups=1, base_width=64),
    BlockSetting(radix=1, groups=2, base_width=42),
    BlockSetting(radix=2, groups=2, base_width=40),
)
assert len(CANDIDATES) == NUM_CHOICES


@dataclass(frozen=True)
class SearchSpace:
    """ResNeSt-50 macro: deep stem, avg-down, avd, stages of ``stage_blocks``.

    ``widen`` multiplies every channel width (stem and stages); the ``tiny`` preset uses it
    so the whole space trains in seconds on a CPU with the same 16 blocks.
    """
    name: str = 'resnest50'
    stage_blocks: Tuple[int, ...] = (3, 4, 6, 3)
    stem_channels: int = 64
    base_channels: int = 64
    widen: float = 1.0
    candidates: Tuple[BlockSetting, ...] = field(default=CANDIDATES)

    #: registry names of the supernet / subnet backbones (see :func:`backbone_classes`)
    supernet_type = 'PiNASSuperNet'
    subnet_type = 'PiNASResNeSt'

    def backbone_classes(self) -> Tuple[type, type]:
        """``(PiNASSuperNet, PiNASResNeSt)``: see :func:`backbone_classes`."""
        return backbone_classes(self)

    @property
    def num_blocks(self) -> int:
        return sum(self.stage_blocks)

    @property
    def num_choices(self) -> int:
        return len(self.candidates)

    @property
    def scaled_stem(self) -> int:
        return max(2, int(round(self.stem_channels * self.widen / 2)) * 2)

    @property
    def scaled_base(self) -> int:
        return max(4, int(round(self.base_channels * self.widen)))

    @property
    def out_channels(self) -> Tuple[int, ...]:
        """Channels of each stage's output (expansion 4)."""
        return tuple(self.scaled_base * 4 * 2**i for i in range(len(self.stage_blocks)))

    def arch(self, value: ArchLike) -> Arch:
        return Arch.parse(value, self.num_blocks, self.num_choices)

    def stage_of(self, block: int) -> Tuple[int, int]:
        """(stage index, index inside the stage) of a global block index."""
        for s, n in enumerate(self.stage_blocks):
            if block < n:
                return s, block
            block -= n
        raise IndexError(block)

    def to_dict(self) -> Dict:
        return dict(name=self.name, stage_blocks=list(self.stage_blocks),
                    stem_channels=self.stem_channels, base_channels=self.base_channels,
                    widen=self.widen)

    @classmethod
    def get(cls, space: Union[str, Dict, 'SearchSpace']) -> 'SearchSpace':
        """A preset name (``resnest50`` / ``tiny``), a dict of fields, or a SearchSpace."""
        def fields(data):
            if 'stage_blocks' in data:
                data['stage_blocks'] = tuple(data['stage_blocks'])
            if 'candidates' in data:  # tuples of BlockSetting keep the space hashable
                data['candidates'] = tuple(
                    c if isinstance(c, BlockSetting) else BlockSetting(**c)
                    for c in data['candidates'])
            return data
        return space_from(cls, space, SPACE_PRESETS, 'search space', 'a SearchSpace',
                          fields)


def space_from(cls: type, space, presets: Dict, what: str, a_cls: str, fields):
    """``space`` as a ``cls``: itself, the preset of that name, or ``cls(**fields(dict))``;
    ``ValueError`` naming the value, ``what`` it should be and the valid forms (the
    presets, a dict of ``cls`` fields, ``a_cls``)."""
    if isinstance(space, cls):
        return space
    if isinstance(space, str):
        if space not in presets:
            raise ValueError(f'Unknown {what} {space!r}; valid presets: '
                             f'{sorted(presets)} or a dict of {cls.__name__} fields.')
        return presets[space]
    if isinstance(space, dict):
        data = fields(dict(space))
        try:
            return cls(**data)
        except TypeError as e:
            raise ValueError(f'Invalid {what} {space!r}: {e}') from None
    raise ValueError(f'Invalid {what} {space!r}: expected a preset name '
                     f'{sorted(presets)}, a dict or {a_cls}.')


SPACE_PRESETS = {
    'resnest50': SearchSpace(),
    # same 16 blocks, 1/4 of the widths: stage outputs 64/128/256/512 channels. (1/4 is
    # the smallest power of two at which every grouped width of candidate 3 stays
    # divisible by radix x cardinality = 4.)
    'tiny': SearchSpace(name='tiny', widen=0.25),
}


def get_space(space: Union[str, Dict, 'SearchSpace', 'NB201Space']
              ) -> Union['SearchSpace', 'NB201Space']:
    """Any space: a preset name of either kind (``resnest50``, ``tiny``, ``nb201``,
    ``nb201-tiny``), a dict (``type='nb201'`` for a NAS-Bench-201 space, else
    :class:`SearchSpace` fields) or a space object. Every space has ``name``,
    ``num_blocks``, ``num_choices``, ``arch(value)`` and ``to_dict()``."""
    from .nb201 import NB201_PRESETS, NB201Space
    if isinstance(space, (SearchSpace, NB201Space)):
        return space
    if isinstance(space, str) and space in NB201_PRESETS:
        return NB201_PRESETS[space]
    if isinstance(space, dict) and space.get('type') == 'nb201':
        return NB201Space.get(space)
    if isinstance(space, str) and space not in SPACE_PRESETS:
        raise ValueError(f'Unknown search space {space!r}; valid presets: '
                         f'{sorted(SPACE_PRESETS) + sorted(NB201_PRESETS)} or a dict of '
                         f'space fields.')
    return SearchSpace.get(space)
