"""Write the built-in tiny datasets (ImageNet / COCO / ADE20K / Cityscapes formats).

Example::

    python tools/dataset_converters/make_tiny_datasets.py --out data/tiny --seed 0
    python tools/dataset_converters/make_tiny_datasets.py --out data/tiny --only coco ade20k

Then point a config's ``data_root`` at the printed folder, e.g. ``data/tiny/coco/``.
"""
import argparse
import os.path as osp
import sys

from _standalone import load_datasets_module
import time

_CHOICES = ('imagenet', 'coco', 'ade20k', 'ade', 'cityscapes')



def _load_tiny():
    return load_datasets_module('tiny')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default='data/tiny', help='output folder (default data/tiny)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default 0)')
    parser.add_argument('--only', nargs='+', choices=_CHOICES, metavar='NAME',
                        help='generate only these datasets: imagenet, coco, ade20k (or ade), '
                        'cityscapes (default: all)')
    parser.add_argument('--overwrite', action='store_true',
                        help='regenerate even if an up-to-date copy exists')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    tiny = _load_tiny()
    which = tuple(args.only) if args.only else tiny.TINY_DATASETS
    t0 = time.time()
    try:
        roots = tiny.make_tiny_datasets(args.out, seed=args.seed, which=which,
                                        overwrite=args.overwrite)
    except FileExistsError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    for name, root in roots.items():
        print(f'{name:<11s} {root}')
    print(f'done in {time.time() - t0:.2f}s (seed={args.seed}, '
          f'generator version {tiny.TINY_VERSION})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
