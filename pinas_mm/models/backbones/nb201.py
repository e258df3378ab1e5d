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
:class:`NB201Net` holds only the chosen ops. :func:`inherit_nb201_state` maps a supernet
state to a subnet state, so the path's output equals the subnet's output.
"""
import re
from collections import OrderedDict
from typing import Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from pinas_mm.registry import MODELS
from pinas_mm.space import Arch, ArchLike, NB201Space
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

    def position_modules(self) -> List[List[str]]:
        """Module names of each arch position: edge ``e`` of every cell,
        ``[['cells.0.edges.0', 'cells.2.edges.0', ...], ...]`` (positions in the space's
        edge order; reduction blocks hold no position)."""
        cells = [name for name, _ in self.named_cells()]
        return [[f'{name}.edges.{e}' for name in cells] for e in range(self.space.num_blocks)]

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
        (:func:`inherit_nb201_state`)."""
        return inherit_nb201_state(supernet_state, arch, space, prefix=prefix)

    @property
    def arch(self) -> Arch:
        return self._arch

    def set_arch(self, arch: ArchLike) -> Arch:
        arch = self.space.arch(arch)
        for _, cell in self.named_cells():
            for edge, c in zip(cell.edges, arch):
                edge.choice = c
        self._arch = arch
        return arch

    def path_modules(self, arch: Optional[ArchLike] = None) -> List[nn.Module]:
        """Modules a path uses: stem, reduction blocks, each edge's chosen op, lastact."""
        arch = self.arch if arch is None else self.space.arch(arch)
        mods: List[nn.Module] = [self.stem]
        for cell in self.cells:
            if isinstance(cell, NB201Cell):
                mods += [edge.candidates[c] for edge, c in zip(cell.edges, arch)]
            else:
                mods.append(cell)
        return mods + [self.lastact]

    def path_state_keys(self, arch: Optional[ArchLike] = None) -> List[str]:
        """State-dict keys (params and buffers) of a path, supernet naming."""
        arch = self.arch if arch is None else self.space.arch(arch)
        keys = [f'stem.{k}' for k in self.stem.state_dict()]
        for k, cell in enumerate(self.cells):
            if isinstance(cell, NB201Cell):
                for e, (edge, c) in enumerate(zip(cell.edges, arch)):
                    keys += [f'cells.{k}.edges.{e}.candidates.{c}.{n}'
                             for n in edge.candidates[c].state_dict()]
            else:
                keys += [f'cells.{k}.{n}' for n in cell.state_dict()]
        return keys + [f'lastact.{k}' for k in self.lastact.state_dict()]


_CAND = re.compile(r'^cells\.(\d+)\.edges\.(\d+)\.candidates\.(\d+)\.(.+)$')


def inherit_nb201_state(supernet_state: Mapping[str, torch.Tensor], arch: ArchLike,
                        space='nb201', prefix: str = '') -> 'OrderedDict[str, torch.Tensor]':
    """Supernet state + arch -> :class:`NB201Net` state: the stem, reduction blocks,
    lastact and the chosen op of every edge (``cells.k.edges.e.candidates.c.*`` ->
    ``cells.k.edges.e.*``). ``prefix`` selects and strips the backbone's keys of a
    whole-model state dict (e.g. ``'backbone.'``); other keys are dropped."""
    space = NB201Space.get(space)
    arch = space.arch(arch)
    out = OrderedDict()
    for key, value in supernet_state.items():
        if not key.startswith(prefix):
            continue
        key = key[len(prefix):]
        m = _CAND.match(key)
        if m:
            k, e, c, rest = int(m[1]), int(m[2]), int(m[3]), m[4]
            if e >= space.num_blocks or c >= space.num_choices:
                raise ValueError(f'Supernet key {prefix + key!r} has no edge/op in space '
                                 f'{space.name} ({space.num_blocks} edges x '
                                 f'{space.num_choices} ops).')
            if arch[e] == c:
                out[f'cells.{k}.edges.{e}.{rest}'] = value
        elif key.startswith(('stem.', 'cells.', 'lastact.')):
            out[key] = value
    if not out:
        raise ValueError(f'No NB201 backbone keys with prefix {prefix!r} in the supernet '
                         f'state (first keys: {list(supernet_state)[:5]}).')
    return out
