from .checkpoint import (CheckpointError, CheckpointNotFoundError, install_checkpoint_reader,
                         read_checkpoint, read_state_dict, register_safe_globals)
from .dist import setup_cpu_distributed
from .hooks import FiniteLossHook, RNGStateHook

install_checkpoint_reader()

__all__ = ['CheckpointError', 'CheckpointNotFoundError', 'FiniteLossHook', 'RNGStateHook',
           'install_checkpoint_reader', 'read_checkpoint', 'read_state_dict',
           'register_safe_globals', 'setup_cpu_distributed']
