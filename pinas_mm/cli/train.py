"""Train with an mmengine Runner: any pinas_mm / mmpretrain / mmdet / mmseg config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                          [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]
"""
import argparse

from pinas_mm.tools_common import (add_runner_args, build_runner, finish_distributed,
                                   parse_cfg, parse_runner_args)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model (mmengine Runner)')
    parser.add_argument('config', help='config file')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT, or from the latest checkpoint of the '
                        'work_dir when no path is given')
    parser.add_argument('--amp', action='store_true', help='mixed precision (GPU only)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale lr by the actual batch size (auto_scale_lr)')
    add_runner_args(parser, 'train_cfg.max_epochs=2')
    args = parse_runner_args(parser, argv)
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = parse_cfg(args.config, args.cfg_options, args.work_dir, args.launcher)
    if args.amp:
        import torch
        if not torch.cuda.is_available():
            raise SystemExit('--amp needs a CUDA GPU (mmengine AmpOptimWrapper); '
                             'run without --amp on the CPU.')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.auto_scale_lr:
        cfg.setdefault('auto_scale_lr', {})['enable'] = True
    from pinas_mm.engine.checkpoint import exit_on_checkpoint_error
    with exit_on_checkpoint_error():  # a broken / unfitting checkpoint: one line, no traceback
        runner = build_runner(cfg)
        runner.train()
    finish_distributed()
    return runner

