"""The key layout of a single-path supernet, written once per supernet class.

A supernet's state dict is a sequence of modules in forward order: fixed modules that
every path runs (ResNeSt: ``stem``; NAS-Bench-201: ``stem``, the reduction blocks
``cells.<k>`` and ``lastact``) and choice slots, the searchable modules (ResNeSt: block
``layer<s>.<b>``; NAS-Bench-201: edge ``cells.<k>.edges.<e>``). A slot reads one arch
position, holds its candidates at ``<slot>.candidates.<c>`` and may hold modules every
candidate shares (ResNeSt: ``layer<s>.0.downsample``). The subnet of an arch keeps the
slot's name for the chosen candidate (``<slot>.<key>``) and every other module as is.

Each supernet class writes its :class:`SupernetLayout` in a classmethod ``layout_for(space)``
(no model is built); everything that knows supernet key names reads it: the supernets'
``path_modules`` / ``path_state_keys`` / ``position_modules``, weight inheritance
(:func:`pinas_mm.models.inherit.inherit_state`), the checkpoint converters
(:mod:`pinas_mm.models.converters`) and :func:`infer_space`.
"""
import functools
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import torch

#: the attribute that holds the candidates of a slot (ChoiceBlock / ChoiceEdge)
CANDIDATES = 'candidates'


@dataclass(frozen=True)
class ChoiceSlot:
    """One searchable module: its name (the same in supernet and subnet), the arch
    position it reads, each candidate's module name (``<name>.candidates.<c>``) and the
    modules its candidates share (run after the chosen candidate's own modules)."""
    name: str
    position: int
    candidates: Tuple[str, ...]
    shared: Tuple[str, ...] = ()

    @classmethod
    def build(cls, name: str, position: int, num_choices: int,
              shared: Sequence[str] = ()) -> 'ChoiceSlot':
        return cls(name, position, tuple(f'{name}.{CANDIDATES}.{c}'
                                         for c in range(num_choices)), tuple(shared))


@dataclass(frozen=True)
class SupernetLayout:
    """The module names of one supernet, in forward order.

    Args:
        space: name of the space (for messages).
        modules: fixed module names (str) and :class:`ChoiceSlot` in forward order.
        num_positions: arch length; num_choices: candidates per slot.
        summary: the shape of the space in words, for messages (e.g. ``stage blocks
            (3, 4, 6, 3)``).
    """
    space: str
    modules: Tuple[Union[str, ChoiceSlot], ...]
    num_positions: int
    num_choices: int
    summary: str = ''

    @property
    def slots(self) -> Tuple[ChoiceSlot, ...]:
        return tuple(m for m in self.modules if isinstance(m, ChoiceSlot))

    @functools.cached_property
    def _slot_of(self) -> Dict[str, ChoiceSlot]:
        return {s.name: s for s in self.slots}

    def slot(self, name: str) -> Optional[ChoiceSlot]:
        """The slot of module ``name`` (e.g. ``'layer1.0'``), None if there is none."""
        return self._slot_of.get(name)

    @functools.cached_property
    def roots(self) -> Tuple[str, ...]:
        """Top-level module names (the first component of every key)."""
        names = [m if isinstance(m, str) else m.name for m in self.modules]
        return tuple(dict.fromkeys(n.split('.', 1)[0] for n in names))

    def path_module_names(self, arch: Sequence[int]) -> List[str]:
        """Module names a path runs, forward order: fixed modules, and per slot the
        chosen candidate then the shared modules."""
        out: List[str] = []
        for m in self.modules:
            if isinstance(m, str):
                out.append(m)
            else:
                out.append(m.candidates[arch[m.position]])
                out.extend(m.shared)
        return out

    def position_modules(self) -> List[List[str]]:
        """Slot names of each arch position (a slot's shared modules go with it)."""
        out: List[List[str]] = [[] for _ in range(self.num_positions)]
        for s in self.slots:
            out[s.position].append(s.name)
        return out

    def split_candidate_key(self, key: str, shown: Optional[str] = None
                            ) -> Optional[Tuple[ChoiceSlot, int, str]]:
        """``'<slot>.candidates.<c>.<rest>'`` -> (slot, c, rest); None for a key outside
        every candidate. ``ValueError`` naming the key (as ``shown``, default ``key``)
        for a candidate key whose slot or candidate index is not in this layout."""
        head, sep, tail = key.partition(f'.{CANDIDATES}.')
        if not sep:
            return None
        c, dot, rest = tail.partition('.')
        if not (c.isdigit() and dot and rest):
            return None
        slot = self.slot(head)
        if slot is None or int(c) >= self.num_choices:
            raise ValueError(f'Supernet key {shown or key!r} has no block/candidate in space '
                             f'{self.space} ({self.summary}, {self.num_choices} candidates '
                             'per block).')
        return slot, int(c), rest

    def subnet_state(self, supernet_state: Mapping[str, torch.Tensor],
                     arch: Sequence[int], prefix: str = ''
                     ) -> 'OrderedDict[str, torch.Tensor]':
        """Supernet state + arch -> subnet state: the fixed and shared modules as they
        are, the chosen candidate of each slot under the slot's name
        (``<slot>.candidates.<c>.k`` -> ``<slot>.k``), other candidates dropped.
        ``prefix`` selects and strips the backbone's keys of a whole-model state dict;
        keys outside :attr:`roots` are dropped. ``ValueError`` when nothing is left or
        a candidate key has no slot here."""
        out = OrderedDict()
        for key, value in supernet_state.items():
            if not key.startswith(prefix):
                continue
            key = key[len(prefix):]
            found = self.split_candidate_key(key, shown=prefix + key)
            if found is not None:
                slot, c, rest = found
                if arch[slot.position] == c:
                    out[f'{slot.name}.{rest}'] = value
            elif key.split('.', 1)[0] in self.roots:
                out[key] = value
        if not out:
            raise ValueError(f'No backbone keys with prefix {prefix!r} in the supernet '
                             f'state of space {self.space} (first keys: '
                             f'{list(supernet_state)[:5]}).')
        return out

    def blocks_in(self, state: Mapping[str, object]) -> List[str]:
        """Names of this layout's slots that hold keys of ``state`` (a subnet's or a
        supernet's backbone keys)."""
        names = set()
        for key in state:
            parts = key.split('.')
            for n in range(1, len(parts)):
                name = '.'.join(parts[:n])
                if name in self._slot_of:
                    names.add(name)
                    break
        return sorted(names)


def submodule(root: torch.nn.Module, name: str) -> torch.nn.Module:
    """``root.get_submodule(name)`` without its checks (a tenth of the time: path keys are
    read every training step); ``KeyError`` for a name the model does not have."""
    mod = root
    for part in name.split('.'):
        mod = mod._modules[part]
    return mod


def layout_of(space) -> SupernetLayout:
    """The layout of a space's supernet (any space form :func:`~pinas_mm.space.get_space`
    accepts), without building a model."""
    from pinas_mm.space import get_space
    space = get_space(space)
    return space.backbone_classes()[0].layout_for(space)


def infer_space(state: Mapping[str, torch.Tensor], prefix: str = '',
                space_types: Optional[Sequence[type]] = None):
    """The space a supernet / subnet state was built for, read from its keys and shapes.

    Each supernet class reads its own layout (``space_from_state``): NAS-Bench-201 from
    the stem width and the number of cells (any skeleton: a preset when one matches,
    else ``nb201-c<channels>-n<cells per stage>``); ResNeSt from the stem width and the
    blocks (the matching preset). ``space_types`` restricts the kinds tried (e.g.
    ``(NB201Space,)``). Raises ``ValueError`` with each kind's reason when none fits.
    """
    from pinas_mm.models.backbones import NB201SuperNet, PiNASSuperNet
    from pinas_mm.space import NB201Space, SearchSpace
    kinds = [(SearchSpace, PiNASSuperNet), (NB201Space, NB201SuperNet)]
    if space_types is not None:
        kinds = [k for k in kinds if k[0] in tuple(space_types)]
    backbone = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    errors = []
    for _, cls in kinds:
        try:
            return cls.space_from_state(backbone, prefix)
        except ValueError as e:
            errors.append(str(e))
    if len(errors) == 1:
        raise ValueError(errors[0])
    raise ValueError('Cannot infer the space: ' + ' '.join(errors))


def iter_state_names(layout: SupernetLayout) -> Iterator[str]:
    """Every module name of the layout: fixed modules, all candidates, shared modules."""
    for m in layout.modules:
        if isinstance(m, str):
            yield m
        else:
            yield from m.candidates
            yield from m.shared
