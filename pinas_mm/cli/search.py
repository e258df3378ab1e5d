"""Search sub-architectures of a trained supernet (mmengine Runner + SearchLoop).

    python tools/search.py CONFIG --checkpoint SUPERNET.pth [--work-dir DIR]
                           [--storage URL] [--worker-id ID]
                           [--cfg-options k=v ...] [--launcher none|pytorch|slurm]
Running the same command again continues a stopped search (history in work_dir).
Several runs given the same --storage (e.g. postgresql+psycopg://USER@HOST/DB on several
machines, or one SQLite file on one machine) share the work: each candidate is claimed
before it is evaluated, and the search ends with exactly train_cfg.num_candidates records.
"""
import argparse
import os.path as osp

from pinas_mm.tools_common import (add_runner_args, build_runner, finish_distributed,
                                   parse_cfg, parse_runner_args)


def main(argv=None):
    parser = argparse.ArgumentParser(description='Search on a trained supernet')
    parser.add_argument('config')
    parser.add_argument('--checkpoint', required=True,
                        help='trained supernet (or its linear probe) checkpoint')
    parser.add_argument('--storage', help='SQLAlchemy URL of the search history shared by '
                        'every worker (default sqlite:///WORK_DIR/search.db; a plain path is '
                        'an SQLite file); same as --cfg-options train_cfg.storage=URL')
    parser.add_argument('--worker-id', help='this worker\'s id in the shared history '
                        '(default hostname-pid)')
    add_runner_args(parser, 'train_cfg.num_candidates=100')
    args = parse_runner_args(parser, argv)
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'Supernet checkpoint not found: {args.checkpoint!r}')
    options = dict(args.cfg_options)
    if args.storage:
        options['train_cfg.storage'] = args.storage
    if args.worker_id:
        options['train_cfg.worker_id'] = args.worker_id
    cfg = parse_cfg(args.config, options, args.work_dir, args.launcher)
    cfg.load_from, cfg.resume = args.checkpoint, False
    from pinas_mm.engine.checkpoint import exit_on_checkpoint_error
    with exit_on_checkpoint_error():  # a broken / unfitting checkpoint: one line, no traceback
        runner = build_runner(cfg)
        runner.train()
    finish_distributed()
    return runner

