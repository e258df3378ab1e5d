"""NAS-Bench-201 backbones: the searched cell network and its supernet.

The network follows the benchmark's definition (Dong & Yang, "NAS-Bench-201: Extending
the Scope of Reproducible Neural Architecture Search", ICLR 2020; the ``TinyNetwork`` /
``InferCell`` of their code):

* stem: 3x3 conv (``C`` = 16 channels, no bias) + BN;
* 3 stages of ``N`` = 5 cells with ``C``/2C/4C channels; between stages a residual
  reduction block (``ResNetBasicblock``: ReLU-Conv3x3(stride 2)-BN, ReLU-Conv3x3-BN, plus
  a 2x2 avg-pool + 1x1 conv shortcut);
* each cell: 4 nodes, node ``i`` = sum over ``j < i`` of ``op(i<-j)(node j)``, output =
  node 3; ops ``none`` (zeros), ``skip_connect`` (identity), ``nor_conv_1x1`` /
  ``nor_conv_3x3`` (ReLU-Conv-BN, stride 1, same channels), ``avg_pool_3x3`` (stride 1,
  padding 1, ``count_include_pad=False``);
* ``lastact``: BN + ReLU, then (outside the backbone, in the classifier) global average
  pooling and a linear layer.

As an mmpretrain backbone the network returns the stage outputs of ``out_indices``; the
last stage's goes through ``lastact`` (as in the benchmark, before pooling). Use it in an
``ImageClassifier`` with ``GlobalAveragePooling`` and ``LinearClsHead(in_channels=4C)``.

:class:`NB201SuperNet` holds all 5 ops on every edge of every cell and runs one op per
edge (one path = one arch, shared by all cells as in the benchmark);
:class:`NB201Net` holds only the chosen ops. Both name their modules as
:meth:`_NB201Base.layout_for` says; :func:`inherit_nb201_state` (that is,
:func:`pinas_mm.models.inherit.inherit_state`) maps a supernet state to a subnet state by
it, so the path's output equals the subnet's output.
"""
import functools
from collections import OrderedDict
from typing import Iterator, List, Mapping, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from pinas_mm.registry import MODELS
from pinas_mm.space import ArchLike, NB201Space
from .layout import ChoiceSlot, SupernetLayout
from .path_sampling import PathSamplingMixin


class ReLUConvBN(nn.Module):
    """ReLU -> Conv (no bias) -> BN; keys ``op.1.weight``, ``op.2.*`` as in NB201."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, padding: int):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out))

    def forward(self, x):
        return self.op(x)


class Zero(nn.Module):
    """The ``none`` op: zeros of the input's shape (``x * 0``, as in NB201)."""

    def forward(self, x):
        return x.mul(0.)


def build_op(name: str, channels: int) -> nn.Module:
    """One NB201 op at stride 1 (the cells' ops never change shape)."""
    if name == 'none':
        return Zero()
    if name == 'skip_connect':
        return nn.Identity()
    if name == 'nor_conv_1x1':
        return ReLUConvBN(channels, channels, 1, 1, 0)
    if name == 'nor_conv_3x3':
        return ReLUConvBN(channels, channels, 3, 1, 1)
    if name == 'avg_pool_3x3':
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f'Unknown NAS-Bench-201 op {name!r}.')


class ResNetBasicblock(nn.Module):
    """NB201's reduction block: ``conv_b(conv_a(x)) + downsample(x)``, stride 2."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, stride=2, padding=0),
                                        nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x):
        return self.conv_b(self.conv_a(x)) + self.downsample(x)


class ChoiceEdge(nn.Module):
    """All ops of one edge (``candidates.<op index>``); runs ``self.choice``."""

    def __init__(self, ops: Sequence[str], channels: int):
        super().__init__()
        self.candidates = nn.ModuleList(build_op(o, channels) for o in ops)
        self.choice = 0

    def forward(self, x):
        return self.candidates[self.choice](x)


class NB201Cell(nn.Module):
    """A cell: ``edges.<e>`` in the space's edge order (one op, or a ChoiceEdge)."""

    def __init__(self, space: NB201Space, edges: List[nn.Module]):
        super().__init__()
        self.space = space
        self.edges = nn.ModuleList(edges)
        self._inputs = [[(e, j) for e, (i, j) in enumerate(space.edges) if i == node]
                        for node in range(space.num_nodes)]

    def forward(self, x):
        nodes = [x]
        for node in range(1, self.space.num_nodes):
            nodes.append(sum(self.edges[e](nodes[j]) for e, j in self._inputs[node]))
        return nodes[-1]


class _NB201Base(BaseModule):
    """Stem, cells (reduction blocks at the stage joints) and ``lastact``."""

    def __init__(self, space: Union[str, dict, NB201Space] = 'nb201',
                 out_indices: Sequence[int] = (2, ), init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.space = space = NB201Space.get(space)
        bad = [i for i in out_indices if not -3 <= i < 3]
        if bad or not out_indices:
            raise ValueError(f'Invalid out_indices {tuple(out_indices)!r}: stage indices in '
                             f'0..2 (or -3..-1), at least one.')
        self.out_indices = tuple(sorted(i % 3 for i in out_indices))
        c = space.channels
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(c))
        cells: List[nn.Module] = []
        self.stage_ends: List[int] = []
        for stage, width in enumerate(space.out_channels):
            if stage > 0:
                cells.append(ResNetBasicblock(width // 2, width))
            for _ in range(space.cells_per_stage):
                cells.append(NB201Cell(space, [self._make_edge(e, width)
                                               for e in range(space.num_blocks)]))
            self.stage_ends.append(len(cells) - 1)
        self.cells = nn.ModuleList(cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(space.out_channels[-1]), nn.ReLU())
        self.out_channels = space.out_channels
        self.feat_dim = space.out_channels[-1]

    def _make_edge(self, edge: int, channels: int) -> nn.Module:
        raise NotImplementedError

    def named_cells(self) -> Iterator[Tuple[str, NB201Cell]]:
        for k, cell in enumerate(self.cells):
            if isinstance(cell, NB201Cell):
                yield f'cells.{k}', cell

    @classmethod
    def layout_for(cls, space: Union[str, dict, NB201Space] = 'nb201') -> SupernetLayout:
        """The key layout of the space's supernet (no model is built): ``stem``; per
        stage a reduction block ``cells.<k>`` (not the first stage) and
        ``cells_per_stage`` cells whose edge ``e`` is the slot ``cells.<k>.edges.<e>``
        (arch position ``e``, candidates ``cells.<k>.edges.<e>.candidates.<op>``); then
        ``lastact``. The subnet names the chosen op ``cells.<k>.edges.<e>``."""
        return _nb201_layout(NB201Space.get(space))

    def layout(self) -> SupernetLayout:
        """:meth:`layout_for` of this backbone's space."""
        return self.layout_for(self.space)

    @classmethod
    def space_from_state(cls, state: Mapping[str, torch.Tensor],
                         shown_prefix: str = '') -> NB201Space:
        """The :class:`~pinas_mm.space.NB201Space` of a supernet's or subnet's backbone
        keys: channels from the stem conv, cells per stage from the number of cells
        (3 N + 2). A preset (``nb201``, ``nb201-tiny``) when one matches, else
        ``nb201-c<channels>-n<N>``; ``ValueError`` for other keys."""
        from pinas_mm.space.nb201 import NB201_PRESETS
        stem = state.get('stem.0.weight')
        cells = {int(k.split('.')[1]) for k in state if k.startswith('cells.')}
        if stem is None or not cells or (len(cells) - 2) % 3:
            raise ValueError(f'Not a NAS-Bench-201 supernet state: no {shown_prefix}stem.0.weight '
                             f'or no {shown_prefix}cells.* keys in 3 N + 2 cells (first keys: '
                             f'{[shown_prefix + k for k in list(state)[:5]]}).')
        channels, n = int(stem.shape[0]), (len(cells) - 2) // 3
        for space in NB201_PRESETS.values():
            if (space.channels, space.cells_per_stage) == (channels, n):
                return space
        return NB201Space(name=f'nb201-c{channels}-n{n}', channels=channels,
                          cells_per_stage=n)

    def position_modules(self) -> List[List[str]]:
        """Module names of each arch position: edge ``e`` of every cell,
        ``[['cells.0.edges.0', 'cells.2.edges.0', ...], ...]`` (positions in the space's
        edge order; reduction blocks hold no position)."""
        return self.layout().position_modules()

    def forward(self, x) -> Tuple[torch.Tensor, ...]:
        x = self.stem(x)
        outs = []
        for k, cell in enumerate(self.cells):
            x = cell(x)
            if k in self.stage_ends:
                stage = self.stage_ends.index(k)
                out = self.lastact(x) if stage == 2 else x
                if stage in self.out_indices:
                    outs.append(out)
        return tuple(outs)


@MODELS.register_module()
class NB201Net(_NB201Base):
    """A NAS-Bench-201 network: one op per edge, the same cell everywhere.

    Args:
        arch: 6 op indices in the space's edge order, or the benchmark's arch string
            (any form :meth:`NB201Space.arch` accepts).
        space: ``nb201`` (the benchmark), ``nb201-tiny``, a dict or an NB201Space.
        out_indices: stages whose outputs are returned (default: the last, after
            ``lastact``), shapes ``(B, C * 2**s, H / 2**s, W / 2**s)``.
    """

    def __init__(self, arch: ArchLike, space='nb201', out_indices=(2, ), init_cfg=None):
        self.arch = NB201Space.get(space).arch(arch)
        super().__init__(space, out_indices, init_cfg)

    def _make_edge(self, edge, channels):
        return build_op(self.space.ops[self.arch[edge]], channels)

    @property
    def arch_string(self) -> str:
        return self.space.arch_string(self.arch)


@MODELS.register_module()
class NB201SuperNet(PathSamplingMixin, _NB201Base):
    """All 5 ops on every edge; runs one path (one op per edge, all cells alike).

    Same path interface as ``PiNASSuperNet``: ``set_arch``, ``sample_arch``,
    ``sample_disjoint_archs`` (two paths differing on every edge, both inside the
    per-edge restriction ``allowed_candidates`` of :class:`PathSamplingMixin`),
    ``path_modules`` (for BN recalibration) and ``path_state_keys``.
    """

    def __init__(self, space='nb201', out_indices=(2, ), init_cfg=None):
        super().__init__(space, out_indices, init_cfg)
        self.set_arch([0] * self.space.num_blocks)

    def _make_edge(self, edge, channels):
        return ChoiceEdge(self.space.ops, channels)

    @staticmethod
    def inherit_state(supernet_state, arch: ArchLike, space='nb201', prefix: str = ''):
        """Supernet state -> :class:`NB201Net` state of ``arch``
        (:func:`~pinas_mm.models.inherit.inherit_state`)."""
        return inherit_nb201_state(supernet_state, arch, space, prefix=prefix)


@functools.lru_cache(maxsize=32)
def _nb201_layout(space: NB201Space) -> SupernetLayout:
    modules: List[Union[str, ChoiceSlot]] = ['stem']
    k = 0
    for stage in range(len(space.out_channels)):
        if stage > 0:  # the reduction block
            modules.append(f'cells.{k}')
            k += 1
        for _ in range(space.cells_per_stage):
            modules += [ChoiceSlot.build(f'cells.{k}.edges.{e}', e, space.num_choices)
                        for e in range(space.num_blocks)]
            k += 1
    modules.append('lastact')
    return SupernetLayout(space.name, tuple(modules), space.num_blocks, space.num_choices,
                          f'{space.cells_per_stage} cells per stage, {space.num_blocks} '
                          'edges')


def inherit_nb201_state(supernet_state: Mapping[str, torch.Tensor], arch: ArchLike,
                        space='nb201', prefix: str = '') -> 'OrderedDict[str, torch.Tensor]':
    """Supernet state + arch -> :class:`NB201Net` state (the stem, reduction blocks,
    lastact and the chosen op of every edge, ``cells.k.edges.e.candidates.c.*`` ->
    ``cells.k.edges.e.*``): :func:`pinas_mm.models.inherit.inherit_state` of an
    NB201 space (``ValueError`` for another kind of space)."""
    from ..inherit import inherit_state
    return inherit_state(supernet_state, arch, NB201Space.get(space), prefix=prefix)
