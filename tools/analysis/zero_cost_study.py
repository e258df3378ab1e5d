"""Ranking study: training-free scorers vs the NAS-Bench-201 CIFAR-10 table.

    OMP_NUM_THREADS=1 python tools/analysis/zero_cost_study.py \
        --data-root ../shared/data/cifar10/train --num-archs 200 \
        --out benchmarks/results/zero_cost_nb201.md

Writes OUT (markdown), OUT with .csv (per-cell scores) and OUT with .png (scatter plots).
"""
import argparse
import os.path as osp
import shlex
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from pinas_mm.analysis_zero_cost import run_study, scatter_plot, write_csv, write_report  # noqa: E402,E501
from pinas_mm.search.zero_cost import ZERO_COST_SCORERS  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='../shared/data/cifar10/train')
    parser.add_argument('--num-archs', type=int, default=200)
    parser.add_argument('--arch-seed', type=int, default=0)
    parser.add_argument('--num-images', type=int, default=64)
    parser.add_argument('--data-seed', type=int, default=0)
    parser.add_argument('--init-seed', type=int, default=0)
    parser.add_argument('--scorers', nargs='+', default=list(ZERO_COST_SCORERS),
                        choices=list(ZERO_COST_SCORERS))
    parser.add_argument('--n-boot', type=int, default=1000)
    parser.add_argument('--topk', type=int, nargs='+', default=[10, 20])
    parser.add_argument('--table', default=None, help='data.anb (default: the installed '
                        'analog-nasbench package\'s)')
    parser.add_argument('--notes', default=None, help='markdown appended to the report')
    parser.add_argument('--out', default='benchmarks/results/zero_cost_nb201.md')
    args = parser.parse_args(argv)
    if not args.out.endswith('.md'):
        parser.error(f'--out {args.out!r} must end with .md')
    result = run_study(args.data_root, args.num_archs, args.arch_seed, args.num_images,
                       args.data_seed, args.init_seed, args.scorers, args.n_boot,
                       args.topk, args.table)
    stem = args.out[:-3]
    write_csv(stem + '.csv', result['rows'], result['accuracy'], result['space'])
    scatter_plot(stem + '.png', result['accuracy'], result['rows'], result['scorers'],
                 result['stats'])
    command = 'OMP_NUM_THREADS=1 python tools/analysis/zero_cost_study.py ' + ' '.join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    write_report(args.out, result, command, osp.basename(stem + '.csv'),
                 osp.basename(stem + '.png'))
    if args.notes:
        with open(args.notes) as f, open(args.out, 'a') as out:
            out.write('\n' + f.read())
    for s, st in result['stats'].items():
        print(f"{s:10s} tau {st['kendall_tau']:+.3f} rho {st['spearman_rho']:+.3f}")
    print(f"CPU {result['cpu_s']:.0f} s -> {args.out}")


if __name__ == '__main__':
    main()
