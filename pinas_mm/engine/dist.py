"""Distributed set-up that also works on machines without a GPU (gloo)."""
import os

import torch
import torch.distributed as torch_dist


def setup_cpu_distributed(cfg, launcher: str) -> None:
    """For ``--launcher pytorch`` without CUDA: init gloo and keep DDP on the CPU.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` and its DDP wrapper defaults
    ``device_ids`` to the local rank; both fail without a GPU. With the process group
    already initialised the Runner skips ``init_dist``.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo', rank=int(os.environ['RANK']),
                                      world_size=int(os.environ['WORLD_SIZE']))
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper['device_ids'] = None
    wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
