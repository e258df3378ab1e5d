"""Weight inheritance: supernet state + arch -> subnet state (a pure function)."""
import re
from collections import OrderedDict
from typing import Dict, Mapping

import torch
import torch.nn as nn

from pinas_mm.space import ArchLike, SearchSpace, get_space

_CAND = re.compile(r'^layer(\d+)\.(\d+)\.candidates\.(\d+)\.(.+)$')


def _block_index(space: SearchSpace, stage: int, b: int) -> int:
    return sum(space.stage_blocks[:stage]) + b


def inherit_subnet_state(supernet_state: Mapping[str, torch.Tensor], arch: ArchLike,
                         space='resnest50', prefix: str = '') -> 'OrderedDict[str, torch.Tensor]':
    """Keep the stem, the shared downsamples and the chosen candidate of every block.

    ``prefix`` selects and strips the backbone's keys in a whole-model state dict (e.g.
    ``'backbone.'`` or ``'backbone.'`` of an mmpretrain algorithm). Keys outside the
    backbone (stem / layerN) are dropped. Output keys follow :class:`PiNASResNeSt`.
    """
    space = SearchSpace.get(space)
    arch = space.arch(arch)
    out = OrderedDict()
    for key, value in supernet_state.items():
        if not key.startswith(prefix):
            continue
        key = key[len(prefix):]
        m = _CAND.match(key)
        if m:
            stage, b, c, rest = int(m[1]) - 1, int(m[2]), int(m[3]), m[4]
            if stage >= len(space.stage_blocks) or b >= space.stage_blocks[stage]:
                raise ValueError(f'Supernet key {prefix + key!r} has no block in space '
                                 f'{space.name} (stage blocks {space.stage_blocks}).')
            if arch[_block_index(space, stage, b)] == c:
                out[f'layer{stage + 1}.{b}.{rest}'] = value
        elif key.startswith(('stem.', 'layer')):
            out[key] = value
    if not out:
        raise ValueError(f'No backbone keys with prefix {prefix!r} in the supernet state '
                         f'(first keys: {list(supernet_state)[:5]}).')
    return out


def inherit_state(supernet_state: Mapping[str, torch.Tensor], arch: ArchLike, space,
                  prefix: str = '') -> 'OrderedDict[str, torch.Tensor]':
    """Supernet state + arch -> subnet state for any space (a preset name of either kind,
    a dict or a space object; :func:`~pinas_mm.space.get_space`).

    The space's supernet class does the mapping (its ``inherit_state``:
    :func:`inherit_subnet_state` for the ResNeSt spaces,
    :func:`~pinas_mm.models.backbones.nb201.inherit_nb201_state` for NAS-Bench-201); the
    keys returned are those of the space's subnet class. ``ValueError`` as theirs."""
    space = get_space(space)
    supernet_cls, _ = space.backbone_classes()
    return supernet_cls.inherit_state(supernet_state, arch, space, prefix=prefix)


def check_state_matches(module: nn.Module, state: Mapping[str, torch.Tensor],
                        what: str = 'state dict') -> None:
    """Raise ValueError naming every missing, unexpected or mis-shaped key."""
    own: Dict[str, torch.Tensor] = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shape = sorted(k for k in set(own) & set(state)
                   if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or shape:
        def show(keys):
            return ', '.join(keys[:8]) + (f' ... ({len(keys)} in all)' if len(keys) > 8 else '')
        parts = []
        if missing:
            parts.append(f'missing keys: {show(missing)}')
        if unexpected:
            parts.append(f'unexpected keys: {show(unexpected)}')
        if shape:
            parts.append('shape mismatch: ' + show(
                [f'{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}' for k in shape]))
        desc = getattr(module, 'arch', None)
        space = getattr(module, 'space', None)
        raise ValueError(
            f'The {what} does not fit {type(module).__name__}'
            + (f' (arch {desc}, space {space.name})' if space is not None else '')
            + ': ' + '; '.join(parts) + '. Was it made for another space or arch?')


def load_subnet_state(subnet: nn.Module, state: Mapping[str, torch.Tensor]) -> nn.Module:
    check_state_matches(subnet, state, 'subnet state dict')
    subnet.load_state_dict(state, strict=True)
    return subnet
