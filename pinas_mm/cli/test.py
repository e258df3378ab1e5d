"""Test (evaluate) a checkpoint with an mmengine Runner: any pinas_mm / mmpretrain / mmdet /
mmseg config, e.g. the downstream configs under configs/{mask_rcnn,deeplabv3,imagenet}.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options k=v ...]
                         [--launcher none|pytorch|slurm|mpi]
    bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
"""
import argparse
import os.path as osp

from pinas_mm.tools_common import (add_runner_args, build_runner, finish_distributed,
                                   parse_cfg, parse_runner_args)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a checkpoint')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    add_runner_args(parser, 'test_dataloader.batch_size=1')
    args = parse_runner_args(parser, argv)
    return args


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'Checkpoint not found: {args.checkpoint!r}')
    cfg = parse_cfg(args.config, args.cfg_options, args.work_dir, args.launcher)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    from pinas_mm.engine.checkpoint import exit_on_checkpoint_error
    with exit_on_checkpoint_error():  # a broken / unfitting checkpoint: one line, no traceback
        runner = build_runner(cfg)
        metrics = runner.test()
    finish_distributed()
    return metrics

