r"""A COCO subset by image id: OUT/images/ + OUT/annotations/instances_<split>.json.

Input: a COCO instances annotation file and the folder of its images, e.g.

    data/coco/annotations/instances_train2017.json
    data/coco/train2017/*.jpg

Output (as ../shared/data/coco128):

    OUT/images/<file_name>                    copies (default), --link symlink or hardlink
    OUT/annotations/instances_<split>.json    only the chosen images (sorted by id, images
                                              without objects kept) and their annotations;
                                              info, licenses and categories copied whole

Choose the images by id (one split, --split NAME) or cut id-ordered chunks:

    # the shared coco128: the 128 smallest train2017 ids, 96 train / 32 val
    python tools/dataset_converters/coco_subset.py data/coco/annotations/instances_train2017.json \
        data/coco/train2017 data/coco128 --split-counts train=96 val=32
    # given ids (a list or a file of integers separated by spaces, commas or newlines)
    python tools/dataset_converters/coco_subset.py ANN.json IMG/ OUT --split val --ids 139 285
    python tools/dataset_converters/coco_subset.py ANN.json IMG/ OUT --split val --ids-file ids.txt
"""
import argparse
import os.path as osp
import sys

from _standalone import load_datasets_module




def _load_converters():
    return load_datasets_module('converters')


def _split_count(text):
    name, sep, n = text.partition('=')
    try:
        count = int(n)
    except ValueError:
        count = -1
    if not sep or not name or count < 0:
        raise argparse.ArgumentTypeError(f'{text!r}: expected NAME=COUNT, e.g. train=96')
    return name, count


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0], epilog=__doc__.split('\n\n', 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('ann_file', help='COCO instances JSON, e.g. instances_train2017.json')
    parser.add_argument('img_dir', help='folder of its images, e.g. train2017/')
    parser.add_argument('out', help='output folder (gets images/ and annotations/)')
    ids = parser.add_mutually_exclusive_group()
    ids.add_argument('--ids', nargs='+', type=int, metavar='ID', help='image ids to keep')
    ids.add_argument('--ids-file', metavar='FILE', help='text file of image ids to keep')
    parser.add_argument('--split', default=None,
                        help='split name of the kept ids (default train); the output is '
                        'annotations/instances_<split>.json')
    parser.add_argument('--split-counts', nargs='+', type=_split_count, metavar='NAME=N',
                        help='cut the (given or all) ids, sorted, into consecutive splits, '
                        'e.g. train=96 val=32')
    parser.add_argument('--link', default='copy', choices=('copy', 'symlink', 'hardlink'),
                        help='how images/ gets the files (default copy)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing annotations/instances_<split>.json')
    args = parser.parse_args(argv)
    if not (args.ids or args.ids_file or args.split_counts):
        parser.error('give the images to keep: --ids, --ids-file and/or --split-counts')
    if args.split and args.split_counts:
        parser.error('--split names the one split of --ids/--ids-file; --split-counts names '
                     'its own splits')
    return args


def main(argv=None):
    args = parse_args(argv)
    conv = _load_converters()
    try:
        if args.ids_file:
            ids = conv.read_id_list(args.ids_file)
        elif args.ids:
            ids = args.ids
        else:
            ids = [im['id'] for im in conv.load_coco(args.ann_file)['images']]
        if args.split_counts:
            splits = conv.split_by_counts(ids, args.split_counts)
        else:
            splits = {args.split or 'train': ids}
        result = conv.make_coco_subsets(args.ann_file, args.img_dir, args.out, splits,
                                        link=args.link, overwrite=args.overwrite)
    except conv.DatasetConversionError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    for split, r in result.items():
        print(f'{split}: {r["images"]} images, {r["annotations"]} annotations -> {r["file"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
