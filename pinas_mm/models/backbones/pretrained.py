"""``init_cfg=dict(type='Pretrained')`` for the Pi-NAS backbones: fit first, then load.

mmengine's ``PretrainedInit`` loads with ``strict=False`` and only warns about missing
or unexpected keys, so a checkpoint of another arch (an export of ``pinas-cls`` given to
a ``pinas-trans`` backbone loads 27 of 87 conv weights) or a supernet checkpoint given to
a subnet (7 of 87) "loads" and training starts from a mostly random backbone.
:func:`check_pretrained_init` runs in the backbones' ``init_weights`` before that load,
so every config with ``init_cfg=Pretrained`` gets it, and raises
:class:`CheckpointMismatchError` unless the checkpoint's tensors under ``prefix`` are
exactly the backbone's (names and shapes; a missing ``num_batches_tracked`` of old
PyTorch checkpoints is allowed). The arch and space an export or a converter wrote into
``meta`` are checked too. The message names the file, the mismatched keys and the fix
(``tools/export_subnet.py`` to get the weights of one arch out of a supernet).

Plain mmpretrain ResNeSt-50 checkpoints (``backbone.*`` keys, no arch in meta) fit
``PiNASResNeSt(arch='resnest50')`` exactly and keep loading.
"""
import re
from typing import List, Mapping, Optional, Tuple

from pinas_mm.models.backbones.layout import CANDIDATES
from pinas_mm.engine.checkpoint import (CheckpointError, checkpoint_path_or_none,
                                        read_checkpoint, split_checkpoint)

EXPORT_HINT = ('to fine-tune one arch of a supernet, export its weights first: python '
               'tools/export_subnet.py SUPERNET.pth --arch ARCH (then init_cfg '
               "checkpoint=<the exported backbone .pth>, prefix='backbone.')")


class CheckpointMismatchError(CheckpointError):
    """A readable checkpoint whose weights do not fit the model it is given to."""


def pretrained_cfg(init_cfg) -> Optional[dict]:
    """The ``Pretrained`` entry of an ``init_cfg`` (a dict or a list of dicts), or None."""
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    for cfg in cfgs:
        if isinstance(cfg, Mapping) and cfg.get('type') in ('Pretrained', 'PretrainedInit'):
            return dict(cfg)
    return None


def _show(keys: List[str], n: int = 6) -> str:
    return ', '.join(keys[:n]) + (f' ... ({len(keys)} in all)' if len(keys) > n else '')


def _top_prefixes(keys) -> List[str]:
    seen = []
    for k in keys:
        p = k.split('.', 1)[0] + '.'
        if p not in seen:
            seen.append(p)
    return seen


def _describe_backbone(backbone) -> str:
    from .resnest_space import PiNASSuperNet
    if isinstance(backbone, PiNASSuperNet):
        return f'PiNASSuperNet (space {backbone.space.name})'
    return f'{type(backbone).__name__} (arch {backbone.arch}, space {backbone.space.name})'


def compare_state(own: Mapping, state: Mapping) -> Tuple[List[str], List[str], List[str]]:
    """(missing, unexpected, mis-shaped) keys of ``state`` against ``own``; a missing
    ``num_batches_tracked`` is not counted (old checkpoints lack it)."""
    missing = sorted(k for k in own if k not in state
                     and not k.endswith('num_batches_tracked'))
    unexpected = sorted(k for k in state if k not in own)
    shape = sorted(k for k in own if k in state
                   and tuple(own[k].shape) != tuple(getattr(state[k], 'shape', ())))
    return missing, unexpected, shape


def check_state_fits(backbone, state: Mapping, meta: Mapping, where: str) -> None:
    """Raise :class:`CheckpointMismatchError` unless ``state`` (keys without prefix)
    is exactly ``backbone``'s weights and ``meta``'s arch / space (if any) are its."""
    from .resnest_space import PiNASSuperNet
    is_super = isinstance(backbone, PiNASSuperNet)
    target = _describe_backbone(backbone)
    own = backbone.state_dict()
    missing, unexpected, shape = compare_state(own, state)
    weights = [k for k in own if not k.endswith('num_batches_tracked')]
    fitting = sum(1 for k in weights if k in state and k not in shape)
    problems = []
    if missing:
        problems.append(f'missing {_show(missing)}')
    if unexpected:
        problems.append(f'unexpected {_show(unexpected)}')
    if shape:
        problems.append('shape mismatch ' + _show(
            [f'{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}' for k in shape]))
    keys_text = '; '.join(problems)
    count = f'only {fitting} of its {len(weights)} tensors would load'

    reasons = []
    meta_space = meta.get('space') if isinstance(meta.get('space'), str) else None
    meta_arch = meta.get('arch') if isinstance(meta.get('arch'), str) else None
    if meta_space is not None and meta_space != backbone.space.name:
        reasons.append(f'it was written for space {meta_space!r}, the backbone has space '
                       f'{backbone.space.name!r}')
    is_super_ckpt = any(f'.{CANDIDATES}.' in k for k in state)  # a slot's candidates
    if not is_super and is_super_ckpt:
        reasons.append('it is a supernet checkpoint (keys layerS.B.candidates.C.*), the '
                       'backbone is one subnet')
    elif not is_super and meta_arch is not None and meta_space in (None,
                                                                     backbone.space.name):
        try:
            ckpt_arch = backbone.space.arch(meta_arch)
        except Exception:  # not an arch of this space: the keys decide
            ckpt_arch = None
        if ckpt_arch is not None and ckpt_arch != backbone.arch:
            reasons.append(f'it holds arch {ckpt_arch} (its meta), the backbone is arch '
                           f'{backbone.arch} (to fine-tune arch {ckpt_arch}, set '
                           f'model.backbone.arch={ckpt_arch})')
    elif is_super and state and not is_super_ckpt:
        reasons.append('it holds one subnet' + (f' (arch {meta_arch})' if meta_arch else '')
                       + ', a PiNASSuperNet needs a supernet checkpoint '
                       '(keys layerS.B.candidates.C.*)')
    if not reasons and not problems:
        return
    head = f'{where} does not fit {target}: ' + ''.join(r + '; ' for r in reasons)
    hint = EXPORT_HINT if not is_super else (
        'give a Pi-NAS / SPOS / probe training checkpoint of this space')
    raise CheckpointMismatchError(
        f'{head}{count}' + (f' ({keys_text})' if keys_text else '') + f'. {hint}.')


def check_pretrained_init(backbone) -> None:
    """Before ``init_weights`` loads ``init_cfg=Pretrained``: read the checkpoint (one
    reader, one-line errors) and check it fits (:func:`check_state_fits`)."""
    cfg = pretrained_cfg(getattr(backbone, 'init_cfg', None))
    if cfg is None or not cfg.get('checkpoint'):
        return
    path, prefix = cfg['checkpoint'], cfg.get('prefix')
    local = checkpoint_path_or_none(path)
    if local is not None:
        ckpt = read_checkpoint(local, map_location='cpu')
    else:  # other schemes (open-mmlab://, http://, ...) through mmengine's loaders
        from mmengine.runner.checkpoint import CheckpointLoader
        ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    where = f'init_cfg checkpoint {path!r}' + (f" (prefix {prefix!r})" if prefix else '')
    try:
        state, meta = split_checkpoint(ckpt)
    except ValueError as e:
        raise CheckpointError(f'{where}: {e}') from None
    if prefix:
        p = prefix if prefix.endswith('.') else prefix + '.'
        sub = {k[len(p):]: v for k, v in state.items() if k.startswith(p)}
        if not sub:
            raise CheckpointMismatchError(
                f'{where} has no key under prefix {p!r} (its keys start with '
                f'{_show(_top_prefixes(state))}); set init_cfg prefix to the backbone\'s')
    else:
        sub = {re.sub(r'^module\.', '', k): v for k, v in state.items()}
        if 'backbone.stem.0.conv.weight' in sub and 'stem.0.conv.weight' not in sub:
            raise CheckpointMismatchError(
                f"{where} holds a whole model (keys backbone.*, ...) but init_cfg has no "
                f"prefix: set init_cfg prefix='backbone.'")
    check_state_fits(backbone, sub, meta, where)
