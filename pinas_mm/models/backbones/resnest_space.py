"""Backbones of the Pi-NAS space: the supernet and the searched subnet.

Both reuse mmpretrain's ResNet machinery (deep stem, ``ResLayer`` with avg-down
downsampling, frozen stages, norm_eval, with_cp, init) and mmpretrain's ResNeSt
bottleneck; only the per-block choice of bottleneck is new here.
"""
import contextlib
import functools
import math
import random
from typing import Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmpretrain.models.backbones.resnest import Bottleneck as ResNeStBottleneck
from torch.nn.modules.batchnorm import _BatchNorm
from mmpretrain.models.backbones.resnet import ResNet

from pinas_mm.registry import MODELS
from pinas_mm.space import Arch, ArchLike, BlockSetting, SearchSpace
from .layout import ChoiceSlot, SupernetLayout
from .path_sampling import PathSamplingMixin


def step_rng(seed: int, step: int) -> random.Random:
    """The path sampler of one training step: a function of (seed, step) only, so every
    rank draws the same paths without communication and a resumed run draws them again."""
    return random.Random(seed * 1_000_003 + int(step))


@contextlib.contextmanager
def keep_running_stats(modules: Iterable[nn.Module]):
    """Restore the running statistics of every BN layer in ``modules`` on exit.

    The recomputation of a checkpointed block runs its BN layers (train mode) a second
    time; without this their running mean / var would take the same batch twice and
    ``num_batches_tracked`` would count it twice. Restoring (rather than running BN
    without statistics) keeps the recomputation the very same kernels as the forward,
    which non-reentrant checkpointing checks.
    """
    bns = {id(m): m for mod in modules for m in mod.modules()
           if isinstance(m, _BatchNorm) and m.training and m.track_running_stats}
    saved = [(m, [b.clone() for b in (m.running_mean, m.running_var,
                                      m.num_batches_tracked)]) for m in bns.values()]
    try:
        yield
    finally:
        with torch.no_grad():
            for m, (mean, var, count) in saved:
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(count)


class Bottleneck(ResNeStBottleneck):
    """mmpretrain's ResNeSt bottleneck with DDP-safe activation checkpointing.

    ``with_cp=True`` (train mode, input needing grad) recomputes the block in backward
    with torch's non-reentrant checkpoint (``use_reentrant=False``). mmpretrain's block
    uses the reentrant one, whose parameters are invisible to DDP's unused-parameter
    search: with ``find_unused_parameters=True`` (every supernet config) DDP marks them
    ready at the end of forward and again in backward ("Expected to mark a variable ready
    only once"). BN running statistics are restored after the recomputation, so a
    ``with_cp`` run equals the plain run (gradients, parameters and BN buffers). Keys and
    the forward computation are mmpretrain's.
    """

    def forward(self, x):
        if self.with_cp and x.requires_grad and torch.is_grad_enabled():
            mods = [self] + ([self.downsample] if self.downsample is not None else [])
            out = cp.checkpoint(self._inner_forward, x, use_reentrant=False,
                                context_fn=lambda: (contextlib.nullcontext(),
                                                    keep_running_stats(mods)))
        else:
            out = self._inner_forward(x)
        return self.relu(out)

    def _inner_forward(self, x):
        # mmpretrain.models.backbones.resnest.Bottleneck.forward, before its final ReLU
        identity = x
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.conv2(out)
        if self.avg_down_stride:
            out = self.avd_layer(out)
        out = self.norm3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return out


def build_candidate(setting: BlockSetting, in_channels: int, out_channels: int,
                    **kwargs) -> ResNeStBottleneck:
    """One ResNeSt bottleneck with the candidate's radix / cardinality / base width.

    The grouped width follows the authors' (and timm's) ``floor(mid * base_width / 64) *
    groups``; passing ``base_channels=mid`` makes mmpretrain's formula compute exactly
    that at any width multiplier.
    """
    mid = out_channels // kwargs.get('expansion', 4)
    return Bottleneck(
        in_channels, out_channels, groups=setting.groups,
        width_per_group=setting.base_width * mid // 64, base_channels=mid,
        radix=setting.radix, reduction_factor=4, avg_down_stride=True, **kwargs)


class ChoiceBlock(nn.Module):
    """All candidates of one searchable block; runs ``self.choice``.

    The identity branch (``downsample``) is shared by the candidates: it is registered
    here once and each candidate only keeps a plain reference to it, so the state dict
    holds it once (``<block>.downsample.*``) beside ``<block>.candidates.<i>.*``.
    """

    def __init__(self, candidates: List[nn.Module], downsample: Optional[nn.Module]):
        super().__init__()
        self.candidates = nn.ModuleList(candidates)
        self.in_channels = candidates[0].in_channels
        self.out_channels = candidates[0].out_channels
        self.downsample = downsample
        for cand in self.candidates:
            object.__setattr__(cand, 'downsample', downsample)
        self.choice = 0

    def forward(self, x):
        return self.candidates[self.choice](x)


class _PiNASBase(ResNet):
    """ResNet plumbing shared by the supernet and the subnet."""

    def __init__(self, space: Union[str, dict, SearchSpace] = 'resnest50',
                 contract_dilation: bool = False, **kwargs):
        space = SearchSpace.get(space)
        self.space = space
        self.contract_dilation = contract_dilation
        self._block_idx = 0
        # mmpretrain's ResNet reads the stage layout from arch_settings[depth].
        self.arch_settings = {0: (ResNeStBottleneck, tuple(space.stage_blocks))}
        for key in ('deep_stem', 'avg_down', 'depth', 'stem_channels', 'base_channels'):
            if key in kwargs:
                raise ValueError(f'{type(self).__name__} fixes {key!r} by its search space '
                                 f'({space.name}); remove it from the config (got '
                                 f'{key}={kwargs[key]!r}).')
        norm_cfg = kwargs.get('norm_cfg')
        if isinstance(norm_cfg, dict) and (norm_cfg.get('type') in ('GN', nn.GroupNorm)
                                           or 'num_groups' in norm_cfg):
            self._check_group_norm(space, contract_dilation, kwargs)
        super().__init__(depth=0, deep_stem=True, avg_down=True,
                         stem_channels=space.scaled_stem,
                         base_channels=space.scaled_base, **kwargs)
        del self._block_idx

    def _check_group_norm(self, space: SearchSpace, contract_dilation: bool,
                          kwargs: dict) -> None:
        """Before building: every width a norm layer sees must be divisible by GN's
        ``num_groups``; else one ValueError naming the stem / blocks and candidates, their
        widths and the group counts that divide every width (``torch.nn.GroupNorm``
        would stop at the first layer: "num_channels must be divisible by num_groups").

        The widths are read from the same backbone built with BN, its blocks on the meta
        device (no memory, no init), so they are the real ones for any space, arch and
        strides.
        """
        norm_cfg = kwargs['norm_cfg']
        groups = norm_cfg.get('num_groups')
        name = type(self).__name__
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise ValueError(f'{name}: norm_cfg={norm_cfg!r} needs num_groups, a positive '
                             f'int (the GroupNorm groups).')
        probe = type(self).__new__(type(self))
        probe.__dict__.update(self.__dict__)  # e.g. the subnet's arch
        probe.__dict__['_meta_blocks'] = True
        _PiNASBase.__init__(probe, space=space, contract_dilation=contract_dilation,
                            **dict(kwargs, norm_cfg=dict(type='BN'), init_cfg=None))
        block_names = [n for n, _ in probe.named_blocks()]
        bad = {}  # what -> {width: [where]}
        gcd = 0
        for mod_name, m in probe.named_modules():
            if not isinstance(m, _BatchNorm):
                continue
            gcd = math.gcd(gcd, m.num_features)
            if m.num_features % groups == 0:
                continue
            parts = mod_name.split('.')
            if parts[0] == 'stem':
                where, cand = 'stem', None
            else:
                where = '.'.join(parts[:2])
                if parts[2] == 'candidates':
                    cand = int(parts[3])
                elif parts[2] == 'downsample':
                    cand = None
                else:  # a subnet block: its chosen candidate
                    cand = self.arch[block_names.index(where)]
            what = 'stem' if where == 'stem' else (
                'downsample' if cand is None else
                f'candidate {cand} (radix {space.candidates[cand].radix}, cardinality '
                f'{space.candidates[cand].groups}, base width '
                f'{space.candidates[cand].base_width})')
            places = bad.setdefault(what, {}).setdefault(m.num_features, [])
            if where not in places:
                places.append(where)
        if not bad:
            return
        valid = [d for d in range(1, gcd + 1) if gcd % d == 0]

        def span(places):  # ['layer1.0', 'layer1.1', 'layer1.2'] -> 'layer1.0-2'
            runs = []
            for p in places:
                layer, _, idx = p.partition('.')
                i = int(idx) if idx else None
                if runs and runs[-1][0] == layer and i is not None and runs[-1][2] == i - 1:
                    runs[-1][2] = i
                else:
                    runs.append([layer, i, i])
            return ', '.join(layer if a is None else f'{layer}.{a}'
                             + (f'-{b}' if b != a else '') for layer, a, b in runs)
        found = '; '.join(
            f'{what}: ' + ', '.join(f'width {w}' if what == 'stem' else
                                    f'width {w} in {span(places)}'
                                    for w, places in sorted(widths.items()))
            for what, widths in sorted(bad.items(),
                                       key=lambda kv: (kv[0] != 'stem', kv[0])))
        raise ValueError(
            f'{name}: norm_cfg GN num_groups={groups} does not divide these normalised '
            f'widths ({space.name} space): {found}. num_groups values that divide every '
            f'width: {valid}.')

    def make_res_layer(self, block, num_blocks, dilation=1, **kwargs):
        from mmpretrain.models.backbones.resnet import ResLayer
        first = True

        def factory(in_channels, out_channels, downsample=None, **block_kwargs):
            nonlocal first
            dil = dilation
            if first and self.contract_dilation and dilation > 1:
                dil = dilation // 2
            first = False
            idx = self._block_idx
            self._block_idx += 1
            if (downsample is not None and self.avg_down and len(downsample) == 2
                    and self.space.stage_of(idx)[0] > 0):
                # a stage that does not stride (DeepLabV3 d8) gets no avg-pool from
                # ResLayer; keep the key layout of the striding default (conv at .1,
                # bn at .2) so one checkpoint loads with any strides/dilations.
                downsample = nn.Sequential(nn.Identity(), *downsample)
            return self._make_block(idx, in_channels, out_channels, downsample,
                                    dilation=dil, **block_kwargs)

        with (torch.device('meta') if getattr(self, '_meta_blocks', False)
              else contextlib.nullcontext()):
            return ResLayer(block=factory, num_blocks=num_blocks, **kwargs)

    def _make_block(self, idx, in_channels, out_channels, downsample, **kwargs):
        raise NotImplementedError

    def train(self, mode: bool = True):
        super().train(mode)  # mmpretrain's ResNet.train returns None
        return self

    def init_weights(self):
        """mmpretrain's ``init_weights``; with ``init_cfg=Pretrained`` the checkpoint
        must first fit this backbone exactly (keys, shapes, arch / space in its meta),
        else :class:`~pinas_mm.models.backbones.pretrained.CheckpointMismatchError`
        names the mismatched keys (mmengine itself only warns)."""
        from .pretrained import check_pretrained_init
        check_pretrained_init(self)
        super().init_weights()

    def named_blocks(self) -> Iterator[Tuple[str, nn.Module]]:
        """(``layer{s}.{b}``, block) for the searchable blocks in stage order."""
        for layer_name in self.res_layers:
            for b, block in enumerate(getattr(self, layer_name)):
                yield f'{layer_name}.{b}', block

    @classmethod
    def layout_for(cls, space: Union[str, dict, SearchSpace] = 'resnest50',
                   strides: Optional[Sequence[int]] = None,
                   num_stages: Optional[int] = None) -> SupernetLayout:
        """The key layout of the space's supernet (no model is built): ``stem``, then
        block ``layer{s}.{b}`` (arch position = global block index) with candidates
        ``layer{s}.{b}.candidates.{c}`` and, in the first block of a stage that changes
        width or strides, the shared ``layer{s}.0.downsample``. The subnet names the
        chosen candidate ``layer{s}.{b}``. ``strides`` / ``num_stages``: those of a built
        backbone (default: mmpretrain's, every stage)."""
        space = SearchSpace.get(space)
        strides = tuple(strides) if strides is not None else (1, 2, 2, 2)
        stages = len(space.stage_blocks) if num_stages is None else num_stages
        return _resnest_layout(space, strides, stages)

    def layout(self) -> SupernetLayout:
        """:meth:`layout_for` of this backbone's space, strides and stages."""
        return self.layout_for(self.space, self.strides, len(self.res_layers))

    def position_modules(self) -> List[List[str]]:
        """Module names of each arch position: ``[['layer1.0'], ['layer1.1'], ...]`` (one
        block per position, its downsample included)."""
        return [names for names in self.layout().position_modules() if names]


@functools.lru_cache(maxsize=64)
def _resnest_layout(space: SearchSpace, strides: Tuple[int, ...],
                    stages: int) -> SupernetLayout:
    modules: List[Union[str, ChoiceSlot]] = ['stem']
    for s in range(stages):
        first = sum(space.stage_blocks[:s])
        # mmpretrain's ResLayer: a downsample where the first block changes the
        # width or strides (every stage but a same-width, stride-1 first one)
        down = (s > 0 or space.scaled_stem != space.out_channels[0]
                or (s < len(strides) and strides[s] != 1))
        for b in range(space.stage_blocks[s]):
            name = f'layer{s + 1}.{b}'
            modules.append(ChoiceSlot.build(
                name, first + b, space.num_choices,
                shared=(f'{name}.downsample',) if b == 0 and down else ()))
    return SupernetLayout(space.name, tuple(modules), space.num_blocks,
                          space.num_choices,
                          f'stage blocks {tuple(space.stage_blocks)}')


@MODELS.register_module()
class PiNASResNeSt(_PiNASBase):
    """A searched subnet of the Pi-NAS space: one chosen bottleneck per block.

    Drop-in for mmpretrain / mmdet / mmseg ResNet backbones (out_indices, strides,
    dilations, contract_dilation, frozen_stages, norm_eval, norm_cfg, with_cp,
    init_cfg with ``Pretrained`` and ``prefix``). Keys are mmpretrain ResNeSt's, so
    ``arch='resnest50'`` loads mmpretrain ResNeSt-50 checkpoints unchanged.

    Args:
        arch: the architecture (any form :meth:`Arch.parse` accepts).
        space: search space preset name, dict or :class:`SearchSpace`.
    """

    def __init__(self, arch: ArchLike = 'resnest50', space='resnest50', **kwargs):
        self.arch = SearchSpace.get(space).arch(arch)
        super().__init__(space=space, **kwargs)

    def _make_block(self, idx, in_channels, out_channels, downsample, **kwargs):
        setting = self.space.candidates[self.arch[idx]]
        return build_candidate(setting, in_channels, out_channels,
                               downsample=downsample, **kwargs)


@MODELS.register_module()
class PiNASSuperNet(PathSamplingMixin, _PiNASBase):
    """The Pi-NAS supernet: every candidate of every block; runs one path at a time.

    ``set_arch`` fixes the path; ``sample_arch`` draws one uniformly (optionally
    restricted per block, e.g. by perturbation-based selection);
    ``sample_disjoint_archs`` draws two paths that differ in every block; both read the
    per-block restriction ``allowed_candidates`` (:class:`PathSamplingMixin`).
    """

    def __init__(self, space='resnest50', **kwargs):
        super().__init__(space=space, **kwargs)
        self.set_arch(Arch([0] * self.space.num_blocks, self.space.num_blocks,
                           self.space.num_choices))

    def _make_block(self, idx, in_channels, out_channels, downsample, **kwargs):
        cands = [build_candidate(s, in_channels, out_channels, downsample=None, **kwargs)
                 for s in self.space.candidates]
        return ChoiceBlock(cands, downsample)

    @staticmethod
    def inherit_state(supernet_state, arch: ArchLike, space='resnest50', prefix: str = ''):
        """Supernet state -> :class:`PiNASResNeSt` state of ``arch``
        (:func:`~pinas_mm.models.inherit.inherit_state`)."""
        from ..inherit import inherit_subnet_state
        return inherit_subnet_state(supernet_state, arch, space, prefix=prefix)

    @classmethod
    def space_from_state(cls, state: Mapping[str, torch.Tensor],
                         shown_prefix: str = '') -> SearchSpace:
        """The preset of a supernet's or subnet's backbone keys: the one whose stem width
        (``stem.2.conv.weight``) matches; when several do, the one whose blocks
        (:meth:`layout_for`) are exactly those holding keys. ``ValueError`` naming the
        presets otherwise."""
        from pinas_mm.space import SPACE_PRESETS
        stem = state.get('stem.2.conv.weight')
        if stem is None:
            raise ValueError(f'Cannot infer the search space: no deep-stem key '
                             f'{shown_prefix}stem.2.conv.weight (first keys: '
                             f'{[shown_prefix + k for k in list(state)[:5]]}).')
        width = stem.shape[0]
        same_stem = [s for s in SPACE_PRESETS.values() if s.scaled_stem == width]
        if len(same_stem) == 1:
            return same_stem[0]
        layouts = {s.name: cls.layout_for(s) for s in same_stem}
        same_blocks = [s for s in same_stem if layouts[s.name].blocks_in(state)
                       == sorted(slot.name for slot in layouts[s.name].slots)]
        if len(same_blocks) == 1:
            return same_blocks[0]
        raise ValueError(f'No search space preset has a {width}-channel stem and these '
                         'blocks; presets (stem, stage blocks): '
                         + ', '.join(f'{n} ({s.scaled_stem}, {tuple(s.stage_blocks)})'
                                     for n, s in SPACE_PRESETS.items()) + '.')
