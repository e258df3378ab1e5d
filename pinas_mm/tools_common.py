"""Helpers shared by the mmengine-Runner tools: pinas_mm.cli.train / test (tools/train.py,
tools/test.py) and tools/search.py."""
import argparse
import os
import os.path as osp
from typing import Dict, Optional

from mmengine.config import Config


def add_runner_args(parser: argparse.ArgumentParser, cfg_help: str) -> None:
    """The arguments every runner tool takes: --work-dir, --cfg-options, --launcher."""
    from mmengine.config import DictAction
    parser.add_argument('--work-dir', help='where logs, checkpoints and results go')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        metavar='KEY=VALUE', help=f'override config settings, e.g. {cfg_help}')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def parse_cfg(config: str, cfg_options: Dict, work_dir: Optional[str],
              launcher: str) -> Config:
    if not osp.isfile(config):
        raise SystemExit(f'Config file not found: {config!r}')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    from pinas_mm.engine import setup_cpu_distributed
    setup_cpu_distributed(cfg, launcher)
    return cfg


def build_runner(cfg: Config):
    import pinas_mm  # noqa: F401  registers pinas_mm components and safe loading
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def finish_distributed() -> None:
    """Tear down the process group once every rank is done.

    Left to interpreter shutdown, gloo's worker threads can be destroyed while still
    joinable ("terminate called without an active exception", SIGABRT), which fails a
    run whose results were all written. The barrier keeps one rank from closing its
    sockets while another still talks to it.
    """
    import torch.distributed as torch_dist
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
