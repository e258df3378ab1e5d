"""Kendall tau, Spearman rho and top-k overlap between two score lists of the same archs.

    python tools/analysis/rank_correlation.py A.csv B.csv [--col-a score] [--col-b score]
                                              [--topk 5] [--plot scatter.png]
Both files need a column ``arch``; rows are matched by arch.
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from pinas_mm.analysis import rank_correlation, read_scores  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('a')
    parser.add_argument('b')
    parser.add_argument('--col-a', default='score')
    parser.add_argument('--col-b', default='score')
    parser.add_argument('--topk', type=int, default=5)
    parser.add_argument('--plot', default=None)
    args = parser.parse_args(argv)
    result = rank_correlation(read_scores(args.a, args.col_a), read_scores(args.b, args.col_b),
                              args.topk, args.plot,
                              labels=(f'{osp.basename(args.a)}:{args.col_a}',
                                      f'{osp.basename(args.b)}:{args.col_b}'))
    print(json.dumps(result, indent=1))
    return result


if __name__ == '__main__':
    main()
