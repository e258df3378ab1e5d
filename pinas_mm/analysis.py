"""Rank correlation between two score lists of the same archs (scipy).

    python tools/analysis/rank_correlation.py A.csv B.csv [--col-a score] [--col-b score]
                                              [--topk 5] [--plot scatter.png]
Both files need a column ``arch``; rows are matched by arch (:func:`main`).
"""
import argparse
import csv
import glob
import json
import os.path as osp
from typing import Dict, Optional

import numpy as np


def last_scalars(work_dir: str) -> Dict[str, float]:
    """The last logged value of every scalar of an mmengine run in ``work_dir`` (its
    ``<timestamp>/vis_data/scalars.json``, runs in time order, later ones winning)."""
    found = {}
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                if line.strip():
                    found.update(json.loads(line))
    return found


def read_scores(path: str, column: str = 'score') -> Dict[str, float]:
    """``{arch: float(row[column])}`` of a CSV with the columns ``arch`` and ``column``.

    Raises:
        ValueError: the file has no rows or lacks one of the two columns (names them).
    """
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f'{path!r} has no rows.')
    for col in ('arch', column):
        if col not in rows[0]:
            raise ValueError(f'{path!r} has no column {col!r} (columns: {list(rows[0])}).')
    return {r['arch'].strip(): float(r[column]) for r in rows}


def rank_correlation(a: Dict[str, float], b: Dict[str, float], topk: int = 5,
                     plot: Optional[str] = None, labels=('A', 'B')) -> Dict[str, float]:
    """Kendall tau-b, Spearman rho (both with scipy's p-values) and top-k overlap of two
    scores of the same archs, over the archs in both.

    Returns:
        dict: ``n`` (archs in both), ``kendall_tau``, ``kendall_p``, ``spearman_rho``,
        ``spearman_p``, ``topk`` (``min(topk, n)``) and ``topk_overlap`` (the share of the
        ``topk`` best archs by ``a`` that are among the ``topk`` best by ``b``, 0..1).
        ``plot``: also a scatter plot (PNG) of the common archs there, axes ``labels``.

    Raises:
        ValueError: fewer than 3 archs are in both.
    """
    from scipy.stats import kendalltau, spearmanr
    common = sorted(set(a) & set(b))
    if len(common) < 3:
        raise ValueError(f'Only {len(common)} archs are in both lists; need at least 3.')
    x = np.array([a[k] for k in common])
    y = np.array([b[k] for k in common])
    tau = kendalltau(x, y)
    rho = spearmanr(x, y)
    k = min(topk, len(common))
    top_a = {common[i] for i in np.argsort(-x)[:k]}
    top_b = {common[i] for i in np.argsort(-y)[:k]}
    result = dict(n=len(common), kendall_tau=float(tau.statistic),
                  kendall_p=float(tau.pvalue), spearman_rho=float(rho.statistic),
                  spearman_p=float(rho.pvalue), topk=k,
                  topk_overlap=len(top_a & top_b) / k)
    if plot:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.scatter(x, y, s=14)
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
        ax.set_title(f"Kendall tau {result['kendall_tau']:.3f}, "
                     f"Spearman rho {result['spearman_rho']:.3f}")
        fig.tight_layout()
        fig.savefig(plot, dpi=100)
        plt.close(fig)
    return result


def main(argv=None) -> Dict[str, float]:
    """The command line of ``tools/analysis/rank_correlation.py`` (see this module's doc):
    prints and returns :func:`rank_correlation` of the two CSVs."""
    parser = argparse.ArgumentParser(
        description='Kendall tau, Spearman rho and top-k overlap between two score lists '
        'of the same archs.')
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
