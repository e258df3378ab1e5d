"""Results a person reads: top-k table, results.csv/json, best_arch.yaml and plots."""
import csv
import json
import os.path as osp
from typing import Dict, List

import numpy as np

from pinas_mm.space import Arch


def pareto_front(flops: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats in both fewer FLOPs and higher score,
    sorted by FLOPs."""
    order = np.lexsort((-scores, flops))
    front, best = [], -np.inf
    for i in order:
        if scores[i] > best:
            front.append(i)
            best = scores[i]
    return np.array(front, dtype=int)


def topk_table(records: List[Dict], k: int) -> str:
    from rich.console import Console
    from rich.table import Table
    table = Table(title=f'top {k} architectures')
    for col in ('rank', 'arch', 'GFLOPs', 'params (M)', 'score'):
        table.add_column(col, justify='right' if col != 'arch' else 'left')
    for i, r in enumerate(sorted(records, key=lambda r: -r['score'])[:k]):
        table.add_row(str(i + 1), str(r['arch']), f"{r['flops'] / 1e9:.3f}",
                      f"{r['params'] / 1e6:.2f}", f"{r['score']:.4f}")
    import io
    console = Console(file=io.StringIO(), width=100)
    console.print(table)
    return console.file.getvalue()


def write_search_report(records: List[Dict], work_dir: str, topk: int = 10, logger=None,
                        **meta) -> Dict[str, str]:
    rows = [dict(index=i, arch=str(r['arch']), flops=int(r['flops']),
                 params=int(r['params']), score=float(r['score']))
            for i, r in enumerate(records)]
    paths = dict(csv=osp.join(work_dir, 'results.csv'),
                 json=osp.join(work_dir, 'results.json'),
                 best=osp.join(work_dir, 'best_arch.yaml'),
                 pareto_plot=osp.join(work_dir, 'score_vs_flops.png'),
                 progress_plot=osp.join(work_dir, 'best_vs_evaluations.png'))
    with open(paths['csv'], 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(paths['json'], 'w') as f:
        json.dump(rows, f, indent=1)
    best = max(rows, key=lambda r: r['score'])
    Arch.parse(best['arch']).dump(paths['best'], score=best['score'], flops=best['flops'],
                                  params=best['params'], evaluations=len(rows),
                                  **{k: v for k, v in meta.items() if v is not None})
    _plots(rows, paths)
    text = topk_table(records, topk)
    if logger is not None:
        logger.info('\n' + text)
    else:
        print(text)
    return paths


def _plots(rows, paths):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    flops = np.array([r['flops'] for r in rows], dtype=float) / 1e9
    scores = np.array([r['score'] for r in rows], dtype=float)
    front = pareto_front(flops, scores)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(flops, scores, s=12, alpha=0.6, label='evaluated')
    ax.plot(flops[front], scores[front], 'r.-', label='Pareto front')
    ax.set_xlabel('GFLOPs')
    ax.set_ylabel('score')
    ax.legend()
    fig.tight_layout()
    fig.savefig(paths['pareto_plot'], dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(np.arange(1, len(scores) + 1), np.maximum.accumulate(scores))
    ax.set_xlabel('evaluations')
    ax.set_ylabel('best score so far')
    fig.tight_layout()
    fig.savefig(paths['progress_plot'], dpi=100)
    plt.close(fig)
