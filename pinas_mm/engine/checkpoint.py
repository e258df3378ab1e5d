"""The one reader of checkpoint files in pinas_mm: safe, and clear about broken files.

Every place that reads a checkpoint goes through :func:`read_checkpoint`: mmengine's
local-file loader (``load_from``, ``--resume``, ``init_cfg=dict(type='Pretrained')``,
``tools/search.py --checkpoint``; :func:`install_checkpoint_reader` registers it as
mmengine's scheme for local paths), the backbones' fit check, the search loop, export,
the converters and the ranking study.

Safety: ``torch.load(weights_only=True)``, never ``weights_only=False``. The weights-only
unpickler builds tensors, containers and plain values, and only the extra types
allowlisted here: numpy arrays / scalars / dtypes (logged metrics), mmengine's
``HistoryBuffer`` and ``ConfigDict``. mmengine checkpoints hold the message hub's
HistoryBuffers; when pickled by plain OpenMMLab (without ``import pinas_mm``) they carry
their class-level table of statistics functions as ``builtins.getattr(HistoryBuffer,
'min')`` (pickle protocol 2 writes a method as a ``getattr`` call). A general ``getattr``
would let a file reach any attribute of an allowlisted object and from there run code,
so ``builtins.getattr`` is bound to :func:`_restricted_getattr`, which resolves exactly
``HistoryBuffer.{min,max,current,mean}`` and refuses everything else. A pickle that
names ``os.system`` (or any other callable) is refused as before.

Broken files: an empty file, a truncated zip archive (torch's format since 1.6), a
truncated legacy pickle, a file that is no checkpoint at all, or a file holding objects
the safe loader refuses each raise :class:`CheckpointError` with one line naming the
file and the fault.
"""
import contextlib
import os
import os.path as osp
import pickle
from collections import OrderedDict
from typing import Any, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

__all__ = ['CheckpointError', 'CheckpointNotFoundError', 'read_checkpoint',
           'read_state_dict', 'split_checkpoint', 'extract_state_dict',
           'strip_module_prefix', 'install_checkpoint_reader', 'register_safe_globals',
           'exit_on_checkpoint_error']


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message is one line naming the file."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint path is not a file."""


# ---- what the weights-only unpickler may build -----------------------------------------
#: ``getattr(obj, name)`` calls a pickle may make: obj -> allowed names. The values are
#: mmengine's default statistics methods, stored in ``HistoryBuffer._statistics_methods``.
_GETATTR_ALLOWED = {'mmengine.logging.history_buffer.HistoryBuffer':
                    frozenset({'min', 'max', 'current', 'mean'})}


def _qualname(obj) -> str:
    return f'{getattr(obj, "__module__", "?")}.{getattr(obj, "__qualname__", repr(obj))}'


def _restricted_getattr(obj, name):
    """``builtins.getattr`` as the weights-only unpickler sees it: only the attributes
    of :data:`_GETATTR_ALLOWED` (``HistoryBuffer``'s statistics methods)."""
    allowed = _GETATTR_ALLOWED.get(_qualname(obj)) if isinstance(obj, type) else None
    if allowed is None or not isinstance(name, str) or name not in allowed:
        raise pickle.UnpicklingError(
            f'refused getattr({_qualname(obj) if isinstance(obj, type) else type(obj)}, '
            f'{name!r}): only HistoryBuffer.{{min,max,current,mean}} may be looked up')
    return getattr(obj, name)


def _safe_types() -> list:
    from mmengine.logging.history_buffer import HistoryBuffer
    types = [HistoryBuffer, np.ndarray, np.dtype, np.core.multiarray._reconstruct,
             np.core.multiarray.scalar, (_restricted_getattr, 'builtins.getattr')]
    # numpy 1.x writes numpy.core.*, numpy 2.x numpy._core.*: accept both spellings
    for mod in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        types += [(np.core.multiarray._reconstruct, f'{mod}._reconstruct'),
                  (np.core.multiarray.scalar, f'{mod}.scalar')]
    types += [type(np.dtype(t)) for t in
              ('float64', 'float32', 'float16', 'int64', 'int32', 'int16', 'int8', 'uint8',
               'bool')]
    try:  # mmengine's ConfigDict may be stored in meta by some hooks
        from mmengine.config import ConfigDict
        types.append(ConfigDict)
    except ImportError:  # pragma: no cover
        pass
    return types


def _history_buffer_getstate(self) -> dict:
    # mmengine stores the class-level table of statistics functions in every buffer's
    # state (``statistics_methods``); it is rebuilt on load, so we do not write it and
    # our checkpoints hold no ``getattr`` at all
    state = dict(self.__dict__)
    state.pop('statistics_methods', None)
    return state


def _history_buffer_setstate(self, state: dict) -> None:
    # a file's ``statistics_methods`` would be merged into the class-level table; keep
    # only mmengine's own methods (all a safe load can resolve anyway)
    from mmengine.logging.history_buffer import HistoryBuffer
    methods = state.pop('statistics_methods', {}) or {}
    self.__dict__.update(state)
    self._set_default_statistics()
    for name, fn in dict(methods).items():
        if getattr(HistoryBuffer, str(name), None) is not fn:
            raise pickle.UnpicklingError(f'HistoryBuffer state with an unknown statistics '
                                         f'method {name!r}')


def register_safe_globals() -> None:
    """Allowlist the types above for every ``torch.load(weights_only=True)``."""
    from mmengine.logging.history_buffer import HistoryBuffer
    HistoryBuffer.__getstate__ = _history_buffer_getstate
    HistoryBuffer.__setstate__ = _history_buffer_setstate
    torch.serialization.add_safe_globals(_safe_types())


def _mmengine_local_loader(filename, map_location):
    """mmengine's ``load_from_local`` through :func:`read_checkpoint`."""
    return read_checkpoint(filename, map_location=map_location)


_mmengine_local_loader.__name__ = 'load_from_local'  # mmengine logs name[10:] ('local')


def install_checkpoint_reader() -> None:
    """Safe globals + :func:`read_checkpoint` as mmengine's loader of local paths (the
    ``''`` scheme of ``CheckpointLoader``: ``load_from``, resume, ``Pretrained``)."""
    register_safe_globals()
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(prefixes='', loader=_mmengine_local_loader, force=True)


# ---- reading -----------------------------------------------------------------------------
def _one_line(text: str, limit: int = 300) -> str:
    text = ' '.join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _refusal_reason(err: Exception) -> str:
    """What torch's multi-line weights-only message says was refused, in one line."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith(('Weights only load failed',
                                                       'Check the documentation'))]
    text = ' '.join(lines).replace('WeightsUnpickler error:', '').strip()
    text = text.split(' Please use ')[0]  # torch's advice to allowlist it: not ours
    return _one_line(text or repr(err), 200)


def _describe(err: Exception, size: int, head: bytes) -> str:
    """What is wrong with a file whose ``torch.load`` raised ``err`` (one line)."""
    msg = str(err)
    if isinstance(err, pickle.UnpicklingError) and 'Weights only load failed' in msg:
        return (f'holds objects the safe (weights-only) loader refuses: '
                f'{_refusal_reason(err).rstrip(".")}. Only tensors, containers, numpy '
                f"values and mmengine's log buffers are read, so no file can run code on "
                f'load; if you trust this file, load it yourself with torch.load('
                f"weights_only=False) and save its 'state_dict' alone")
    if head.startswith(b'PK\x03\x04') and 'central directory' in msg:
        return (f'is truncated ({size} bytes): a torch zip archive whose end (the central '
                f'directory) is missing; was its writing interrupted or the copy incomplete?')
    if head.startswith(b'PK\x03\x04'):
        return (f'is truncated or corrupt ({size} bytes; a torch zip archive that cannot '
                f'be read: {_one_line(msg, 120)}); was its writing interrupted or the copy '
                f'incomplete?')
    if not head.startswith(b'\x80'):
        return (f'is not a PyTorch checkpoint ({size} bytes, neither a zip archive nor a '
                f'pickle; it starts with {head[:8]!r})')
    return (f'is truncated or corrupt ({size} bytes; a pickled (legacy torch format) '
            f'checkpoint that ends early or is damaged: {type(err).__name__}: '
            f'{_one_line(msg, 100)}); was its writing interrupted?')


def read_checkpoint(path: str, map_location: Any = 'cpu') -> Any:
    """Read a checkpoint file safely; what ``torch.load`` returns (usually a dict).

    ``.safetensors`` files are read with safetensors (a flat dict of tensors). Raises
    :class:`CheckpointNotFoundError` when ``path`` is not a file and
    :class:`CheckpointError` (one line: the file and the fault) when it is empty,
    truncated, not a checkpoint, or holds objects the weights-only unpickler refuses.
    """
    path = osp.expanduser(os.fspath(path))
    if not osp.isfile(path):
        raise CheckpointNotFoundError(
            f'Checkpoint {path!r} does not exist' if not osp.exists(path)
            else f'Checkpoint {path!r} is not a file')
    size = osp.getsize(path)
    if size == 0:
        raise CheckpointError(f'Checkpoint {path!r} is empty (0 bytes): its writing was '
                              'interrupted, or it is not a checkpoint')
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        try:
            return load_file(path, device=str(map_location or 'cpu'))
        except Exception as e:  # safetensors raises its own SafetensorError
            raise CheckpointError(f'Checkpoint {path!r} is not a readable safetensors file '
                                  f'({size} bytes; {_one_line(e, 200)})') from None
    with open(path, 'rb') as f:
        head = f.read(16)
    register_safe_globals()  # idempotent; safe loading without importing pinas_mm first
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise CheckpointError(f'Checkpoint {path!r} {_describe(e, size, head)}') \
            from None


# ---- the weights inside ------------------------------------------------------------------
def _show(keys: Sequence[str], n: int = 12) -> str:
    keys = list(keys)
    return ', '.join(keys[:n]) + (f' ... ({len(keys)} in all)' if len(keys) > n else '')


def strip_module_prefix(state: Mapping[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Remove leading ``module.`` (DataParallel / DDP wrappers), repeatedly."""
    out = OrderedDict()
    for key, value in state.items():
        new = key
        while new.startswith('module.'):
            new = new[len('module.'):]
        if new in out:
            raise ValueError(f'Key {key!r} collides with another key after stripping '
                             f"'module.' prefixes.")
        out[new] = value
    return out


def split_checkpoint(ckpt) -> Tuple[Mapping, dict]:
    """(state dict, meta) of a checkpoint: the dict under ``'state_dict'`` or ``'model'``
    (else the checkpoint itself) and ``ckpt['meta']`` (else ``{}``)."""
    if not isinstance(ckpt, Mapping):
        raise ValueError(f'expected a state dict or a checkpoint dict, got '
                         f'{type(ckpt).__name__}')
    state = ckpt
    for key in ('state_dict', 'model'):
        if key in ckpt and isinstance(ckpt[key], Mapping):
            state = ckpt[key]
            break
    meta = ckpt.get('meta') if state is not ckpt else None
    return state, dict(meta) if isinstance(meta, Mapping) else {}


def extract_state_dict(ckpt) -> 'OrderedDict[str, torch.Tensor]':
    """A raw state dict, or a dict holding one under ``'state_dict'`` or ``'model'``;
    ``module.`` prefixes stripped. ValueError when a value is not a tensor."""
    state, _ = split_checkpoint(ckpt)
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f'Not a state dict: no tensor under {_show(bad)} (top-level keys: '
                         f'{_show(list(ckpt))}).')
    return strip_module_prefix(state)


def read_state_dict(path: str, with_meta: bool = False):
    """The model weights of a checkpoint file (``module.`` stripped), and its meta with
    ``with_meta``. :class:`CheckpointError` naming the file for any fault."""
    ckpt = read_checkpoint(path)
    try:
        state = extract_state_dict(ckpt)
        meta = split_checkpoint(ckpt)[1]
    except ValueError as e:
        raise CheckpointError(f'Checkpoint {path!r}: {_one_line(e, 400)}') from None
    return (state, meta) if with_meta else state


def checkpoint_path_or_none(path: Optional[str]) -> Optional[str]:
    """``path`` when it names a local file path (no ``scheme://``), else None."""
    if not path or not isinstance(path, (str, os.PathLike)):
        return None
    path = os.fspath(path)
    return None if '://' in path else path


@contextlib.contextmanager
def exit_on_checkpoint_error():
    """For command-line tools: a :class:`CheckpointError` ends the program with its one
    line (``error: Checkpoint 'x.pth' is empty ...``) instead of a traceback."""
    try:
        yield
    except CheckpointError as e:
        raise SystemExit(f'error: {e}') from None
