"""Weight inheritance: supernet state + arch -> subnet state (a pure function)."""
from collections import OrderedDict
from typing import Dict, Mapping

import torch
import torch.nn as nn

from pinas_mm.space import ArchLike, SearchSpace, get_space


def inherit_state(supernet_state: Mapping[str, torch.Tensor], arch: ArchLike, space,
                  prefix: str = '') -> 'OrderedDict[str, torch.Tensor]':
    """Supernet state + arch -> subnet state for any space (a preset name of either kind,
    a dict or a space object; :func:`~pinas_mm.space.get_space`).

    One rule for every supernet, read from its key layout (``layout_for`` of the space's
    supernet class, :class:`~pinas_mm.models.backbones.layout.SupernetLayout`): keep the
    fixed modules (ResNeSt: stem; NAS-Bench-201: stem, reduction blocks, lastact), the
    shared ones (ResNeSt's downsamples) and the chosen candidate of every block / edge
    under the block's name (``<block>.candidates.<c>.k`` -> ``<block>.k``); drop the
    other candidates. ``prefix`` selects and strips the backbone's keys in a whole-model
    state dict (e.g. ``'backbone.'``); keys outside the backbone are dropped. The keys
    returned are those of the space's subnet class, in the supernet state's order.

    Raises:
        ValueError: no backbone key under ``prefix``, or a candidate key whose block or
            candidate index the space does not have.
    """
    from pinas_mm.models.backbones.layout import layout_of
    space = get_space(space)
    return layout_of(space).subnet_state(supernet_state, space.arch(arch), prefix)


def inherit_subnet_state(supernet_state: Mapping[str, torch.Tensor], arch: ArchLike,
                         space='resnest50', prefix: str = '') -> 'OrderedDict[str, torch.Tensor]':
    """:func:`inherit_state` of a ResNeSt space (preset name, dict or
    :class:`~pinas_mm.space.SearchSpace`): the stem, the shared downsamples and the chosen
    candidate of every block, keys of :class:`PiNASResNeSt`."""
    return inherit_state(supernet_state, arch, SearchSpace.get(space), prefix=prefix)


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
