"""Export a searched subnet: ARCH.yaml + a backbone checkpoint with inherited weights.

    python tools/export_subnet.py SUPERNET.pth --arch ARCH [--out-dir DIR]
    python tools/export_subnet.py SUPERNET.pth --from-search WORK_DIR [--out-dir DIR]
The checkpoint's keys are ``backbone.*``: load it in any mmdet / mmseg / mmpretrain
config with ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def main(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('supernet', help='supernet checkpoint (Pi-NAS, SPOS or probe)')
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument('--arch', help='an arch in any form (digits, name, arch file)')
    src.add_argument('--from-search', metavar='WORK_DIR',
                     help='take best_arch.yaml of a finished search')
    parser.add_argument('--space', default=None,
                        help='search space (default: read from the checkpoint keys)')
    parser.add_argument('--prefix', default=None,
                        help="supernet key prefix (default: 'backbone.' when present)")
    parser.add_argument('--out-dir', default=None, help='default: next to the supernet')
    parser.add_argument('--recalibrate', metavar='CONFIG', default=None,
                        help="recompute the path's BN statistics (precise BN) on this "
                        "config's train_dataloader first, e.g. the search config")
    parser.add_argument('--recal-batches', type=int, default=20)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='overrides for the --recalibrate config')
    args = parser.parse_args(argv)
    from pinas_mm.engine.checkpoint import exit_on_checkpoint_error
    from pinas_mm.export import export_subnet
    arch = args.arch or osp.join(args.from_search, 'best_arch.yaml')
    with exit_on_checkpoint_error():  # a missing / broken checkpoint: one line
        paths = export_subnet(args.supernet, arch, out_dir=args.out_dir, space=args.space,
                              prefix=args.prefix, recal_cfg=args.recalibrate,
                              recal_batches=args.recal_batches,
                              recal_cfg_options=args.cfg_options)
    for key, path in paths.items():
        print(f'{key}: {path}')


if __name__ == '__main__':
    main()
