"""Safe checkpoint loading on torch >= 2.6 (``weights_only=True`` by default).

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``; its own checkpoints hold a
few non-tensor objects (the message hub's HistoryBuffer, numpy scalars/arrays), so a
resume fails with UnpicklingError. Instead of turning the safety off, we allowlist exactly
those types for the weights-only unpickler: untrusted files still cannot run code.
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


def register_safe_globals() -> None:
    torch.serialization.add_safe_globals(_safe_types())
