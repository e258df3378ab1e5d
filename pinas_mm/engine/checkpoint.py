"""Safe checkpoint loading on torch >= 2.6 (``weights_only=True`` by default).

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``; its own checkpoints hold a
few non-tensor objects (the message hub's HistoryBuffer, numpy scalars/arrays), so a
resume fails with UnpicklingError. Instead of turning the safety off, we allowlist exactly
those types for the weights-only unpickler: untrusted files still cannot run code.

One more thing stands in the way: ``HistoryBuffer.__getstate__`` stores its class-level
table of statistics functions, which pickles as ``builtins.getattr(HistoryBuffer, 'min')``;
allowlisting ``getattr`` would let any file call any attribute. The table is rebuilt by
``HistoryBuffer.__setstate__`` anyway, so we stop writing it. Checkpoints written before
``import pinas_mm`` by plain mmengine still need ``weights_only=False`` (trusted files only).
"""
import numpy as np
import torch


def _safe_types():
    from mmengine.logging.history_buffer import HistoryBuffer
    types = [HistoryBuffer, np.ndarray, np.dtype, np.core.multiarray._reconstruct,
             np.core.multiarray.scalar]
    types += [type(np.dtype(t)) for t in
              ('float64', 'float32', 'float16', 'int64', 'int32', 'int8', 'uint8', 'bool')]
    try:  # mmengine's ConfigDict may be stored in meta by some hooks
        from mmengine.config import ConfigDict
        types.append(ConfigDict)
    except ImportError:  # pragma: no cover
        pass
    return types


def _history_buffer_getstate(self) -> dict:
    state = dict(self.__dict__)
    state.pop('statistics_methods', None)  # class-level functions, rebuilt on load
    return state


def register_safe_globals() -> None:
    from mmengine.logging.history_buffer import HistoryBuffer
    HistoryBuffer.__getstate__ = _history_buffer_getstate
    torch.serialization.add_safe_globals(_safe_types())
