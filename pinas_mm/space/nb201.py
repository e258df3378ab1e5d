"""The NAS-Bench-201 search space (Dong & Yang, ICLR 2020): one cell, 6 edges x 5 ops.

A cell is a DAG of 4 nodes; node ``i`` is the sum over ``j < i`` of ``op(i<-j)(node j)``,
so it has 6 edges, each taking one of 5 ops (``none``, ``skip_connect``,
``nor_conv_1x1``, ``nor_conv_3x3``, ``avg_pool_3x3``): 5**6 = 15,625 cells. The same cell
is stacked in every position of the macro skeleton (see
:mod:`pinas_mm.models.backbones.nb201`).

An arch of this space is an :class:`~pinas_mm.space.Arch` of 6 op indices in
:data:`NB201_EDGES` order with indices into :data:`NB201_OPS`, the edge order and op
encoding of the NAS-Bench-201 accuracy table this project reads
(:mod:`pinas_mm.search.nb201_table`). It also parses and writes the benchmark's own arch
string, e.g. ``|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|
nor_conv_3x3~1|nor_conv_3x3~2|`` (node by node, ``op~source``).
"""
import re
from dataclasses import dataclass
from typing import Dict, Optional, Tuple, Union

from .arch import Arch, ArchFormat, ArchLike

#: Op names of NAS-Bench-201, in the index order of the arch digits.
NB201_OPS: Tuple[str, ...] = ('none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3',
                              'avg_pool_3x3')
#: (to, from) node pairs in the order of the arch digits.
NB201_EDGES: Tuple[Tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))

_EXAMPLE = '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|' \
    'nor_conv_3x3~1|nor_conv_3x3~2|'
_NODE = re.compile(r'^\|(.*)\|$')


def _edges_of(num_nodes: int) -> Tuple[Tuple[int, int], ...]:
    return tuple((i, j) for i in range(1, num_nodes) for j in range(i))


@dataclass(frozen=True)
class NB201Space:
    """The NAS-Bench-201 space: a cell of ``num_nodes`` nodes, one op per edge.

    Macro skeleton (used by :class:`~pinas_mm.models.backbones.nb201.NB201Net`): a 3x3
    conv stem with ``channels`` channels + BN, then 3 stages of ``cells_per_stage`` cells
    with ``channels`` x 1/2/4 channels joined by residual reduction blocks (stride 2).
    The benchmark is ``channels=16, cells_per_stage=5`` (preset ``nb201``); the
    ``nb201-tiny`` preset (8 channels, 1 cell per stage) has the same cell and archs.

    A "block" of the generic search code is an edge; a "candidate" is an op.
    """
    name: str = 'nb201'
    channels: int = 16
    cells_per_stage: int = 5
    num_nodes: int = 4
    ops: Tuple[str, ...] = NB201_OPS
    edges: Tuple[Tuple[int, int], ...] = NB201_EDGES

    #: registry names of the supernet / subnet backbones
    #: (see :func:`pinas_mm.space.space.backbone_classes`)
    supernet_type = 'NB201SuperNet'
    subnet_type = 'NB201Net'

    def __post_init__(self):
        expected = sorted(_edges_of(self.num_nodes))
        if sorted(self.edges) != expected:
            raise ValueError(f'Invalid NB201 space {self.name!r}: edges {self.edges} must '
                             f'list every (to, from) pair of {self.num_nodes} nodes once: '
                             f'{expected}.')
        unknown = [o for o in self.ops if o not in NB201_OPS]
        if unknown or len(set(self.ops)) != len(self.ops):
            raise ValueError(f'Invalid NB201 space {self.name!r}: ops {self.ops} must be '
                             f'distinct names from {NB201_OPS}.')

    # ---- the generic space interface (as SearchSpace) -------------------------------
    @property
    def num_blocks(self) -> int:
        return len(self.edges)

    @property
    def num_choices(self) -> int:
        return len(self.ops)

    @property
    def out_channels(self) -> Tuple[int, ...]:
        return tuple(self.channels * 2**i for i in range(3))

    @property
    def arch_format(self) -> ArchFormat:
        return ArchFormat(
            named={}, parse_text=self.parse_arch_string, example='333123',
            forms=(f"the NAS-Bench-201 string (node by node, 'op~source', ops "
                   f"{', '.join(self.ops)}), e.g. '{_EXAMPLE}'"))

    def arch(self, value: ArchLike) -> Arch:
        """Parse a digit string, list, arch file or NAS-Bench-201 string; ``ValueError``
        names the value and the valid forms."""
        return Arch.parse(value, self.num_blocks, self.num_choices, self.arch_format)

    def backbone_classes(self) -> Tuple[type, type]:
        """``(NB201SuperNet, NB201Net)``: see :func:`pinas_mm.space.space.backbone_classes`."""
        from .space import backbone_classes
        return backbone_classes(self)

    def to_dict(self) -> Dict:
        return dict(type='nb201', name=self.name, channels=self.channels,
                    cells_per_stage=self.cells_per_stage, num_nodes=self.num_nodes,
                    ops=list(self.ops), edges=[list(e) for e in self.edges])

    # ---- the benchmark's arch string ------------------------------------------------
    def parse_arch_string(self, text: str) -> Optional[Tuple[int, ...]]:
        """``'|op~j|+|op~j|op~j|+...'`` -> op indices in :attr:`edges` order.

        Returns None for text that is not of this form (no ``|``); raises ``ValueError``
        naming the string for a malformed one (unknown op, missing or repeated edge)."""
        text = text.strip()
        if '|' not in text:
            return None

        def bad(why):
            return ValueError(f'Invalid NAS-Bench-201 arch string {text!r}: {why}. Valid '
                              f'form: node by node, e.g. {_EXAMPLE!r}, ops from '
                              f'{", ".join(self.ops)}.')

        nodes = text.split('+')
        if len(nodes) != self.num_nodes - 1:
            raise bad(f'it has {len(nodes)} nodes separated by "+", not '
                      f'{self.num_nodes - 1}')
        chosen: Dict[Tuple[int, int], int] = {}
        for i, node in enumerate(nodes, start=1):
            m = _NODE.match(node)
            if not m:
                raise bad(f'node {i} {node!r} is not enclosed in "|"')
            for token in m[1].split('|'):
                op, sep, src = token.partition('~')
                if not sep or not src.isdigit():
                    raise bad(f'edge {token!r} of node {i} is not "op~source"')
                if op not in self.ops:
                    raise bad(f'unknown op {op!r}')
                edge = (i, int(src))
                if edge not in self.edges:
                    raise bad(f'node {i} cannot take input from node {src}')
                if edge in chosen:
                    raise bad(f'edge {src}->{i} is given twice')
                chosen[edge] = self.ops.index(op)
        missing = [e for e in self.edges if e not in chosen]
        if missing:
            raise bad('missing edges ' + ', '.join(f'{j}->{i}' for i, j in missing))
        return tuple(chosen[e] for e in self.edges)

    def arch_string(self, arch: ArchLike) -> str:
        """The benchmark's string of an arch, e.g. ``|nor_conv_3x3~0|+|...|``."""
        arch = self.arch(arch)
        op_of = {e: self.ops[c] for e, c in zip(self.edges, arch)}
        return '+'.join('|' + '|'.join(f'{op_of[(i, j)]}~{j}' for j in range(i)) + '|'
                        for i in range(1, self.num_nodes))

    def op_of(self, arch: ArchLike, to: int, src: int) -> str:
        """The op name on edge ``src -> to`` of an arch."""
        arch = self.arch(arch)
        return self.ops[arch[self.edges.index((to, src))]]

    @classmethod
    def get(cls, space: Union[str, Dict, 'NB201Space']) -> 'NB201Space':
        """A preset name (``nb201`` / ``nb201-tiny``), a dict of fields, or a space."""
        from .space import space_from

        def fields(data):
            data.pop('type', None)
            if 'ops' in data:
                data['ops'] = tuple(data['ops'])
            if 'edges' in data:
                data['edges'] = tuple(tuple(e) for e in data['edges'])
            return data
        return space_from(cls, space, NB201_PRESETS, 'NAS-Bench-201 space', 'an NB201Space',
                          fields)


NB201_PRESETS = {
    'nb201': NB201Space(),
    # the same cell and archs at 8 channels and one cell per stage: trains on a CPU
    'nb201-tiny': NB201Space(name='nb201-tiny', channels=8, cells_per_stage=1),
}
