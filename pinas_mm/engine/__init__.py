from .checkpoint import register_safe_globals
from .dist import setup_cpu_distributed
from .hooks import FiniteLossHook, RNGStateHook

register_safe_globals()

__all__ = ['FiniteLossHook', 'RNGStateHook', 'register_safe_globals', 'setup_cpu_distributed']
