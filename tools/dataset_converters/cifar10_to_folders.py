"""CIFAR-10 python batches -> ImageNet-style class folders {train,val}/<class>/NNNN.jpg.

Input: the folder extracted from cifar-10-python.tar.gz,

    cifar-10-batches-py/
        data_batch_1 .. data_batch_5    training images (5 x 10000) -> train/
        test_batch                      test images (10000)          -> val/
        batches.meta                    class names (b'label_names')

Output (mmpretrain CustomDataset / ImageFolder layout, as ../shared/data/cifar10):

    OUT/train/<class_name>/0000.jpg ..   first N of each class in batch order (or --seed)
    OUT/val/<class_name>/0000.jpg ..

The shared copy is 1000/class train and 200/class val (the defaults):

    python tools/dataset_converters/cifar10_to_folders.py data/cifar-10-batches-py data/cifar10

Pickles are read with a restricted unpickler (numpy arrays only); anything else is refused.
"""
import argparse
import os.path as osp
import sys

from _standalone import load_datasets_module




def _load_converters():
    return load_datasets_module('converters')


def _count(text):
    if text == 'all':
        return None
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 1:
        raise argparse.ArgumentTypeError(f'{text!r}: expected a positive integer or "all"')
    return n


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0], epilog=__doc__.split('\n\n', 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='the cifar-10-batches-py folder')
    parser.add_argument('out', help='output folder (gets train/ and val/)')
    parser.add_argument('--train-per-class', type=_count, default=1000, metavar='N',
                        help='train images per class, from data_batch_1..5 (default 1000; '
                        '"all" = 5000)')
    parser.add_argument('--val-per-class', type=_count, default=200, metavar='N',
                        help='val images per class, from test_batch (default 200; "all" = 1000)')
    parser.add_argument('--splits', nargs='+', default=['train', 'val'], metavar='SPLIT',
                        help='splits to write: train and/or val (default both)')
    parser.add_argument('--ext', default='jpg', help='jpg (default, as the shared copy) or png')
    parser.add_argument('--quality', type=int, default=75,
                        help='JPEG quality (default 75, as the shared copy)')
    parser.add_argument('--seed', type=int, default=None,
                        help='draw a seeded random N per class instead of the first N')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace non-empty OUT/<split> folders')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    conv = _load_converters()
    try:
        counts = conv.cifar10_to_folders(
            args.src, args.out, per_class={'train': args.train_per_class,
                                           'val': args.val_per_class},
            splits=tuple(args.splits), ext=args.ext, quality=args.quality, seed=args.seed,
            overwrite=args.overwrite)
    except conv.DatasetConversionError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    for split, per in counts.items():
        print(f'{split}: {sum(per.values())} images, {len(per)} classes -> '
              f'{osp.join(args.out, split)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
