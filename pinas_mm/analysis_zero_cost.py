"""Ranking study of the training-free scorers against the NAS-Bench-201 table.

Samples cells of the NAS-Bench-201 space uniformly (seeded, without replacement), builds
each as an mmpretrain ``ImageClassifier`` over ``pinas_mm.NB201Net`` at PyTorch's default
initialisation (seeded per cell), scores it with every scorer of
:data:`pinas_mm.search.zero_cost.ZERO_COST_SCORERS` on one fixed batch of CIFAR-10 photos,
and compares the scores with the table's CIFAR-10 accuracy
(:mod:`pinas_mm.search.nb201_table`): Kendall tau and Spearman rho (scipy) with
percentile-bootstrap 95% intervals (``scipy.stats.bootstrap``, archs resampled in pairs)
and the top-k overlap. ``tools/analysis/zero_cost_study.py`` is the command line.
"""
import csv
import os
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

#: CIFAR-10 channel mean / std (0..255, RGB), as in mmpretrain's CIFAR-10 configs
CIFAR_MEAN = (125.307, 122.961, 113.8575)
CIFAR_STD = (51.5865, 50.847, 51.255)

#: Published NAS-Bench-201 CIFAR-10 Spearman rho of Abdelfattah et al. (ICLR 2021), all
#: 15,625 cells vs the original table's test accuracy, from the output of the authors'
#: notebook (github.com/SamsungLabs/zero-cost-nas, notebooks/nasbench201_correlations.ipynb,
#: cell "Table 1: Spearman rho of zero-cost proxies on NAS-Bench-201", row CIFAR10; the
#: notebook takes |rho|).
PUBLISHED_SPEARMAN = {'grad_norm': 0.594, 'snip': 0.596, 'synflow': 0.737,
                      'jacob_cov': 0.731}


def sample_archs(num: int, seed: int = 0) -> List:
    """``num`` distinct cells, uniform over the 15,625 (``numpy default_rng(seed)``)."""
    from pinas_mm.search.nb201_table import NUM_CELLS, all_archs
    if not 1 <= num <= NUM_CELLS:
        raise ValueError(f'Invalid number of archs {num}: expected 1..{NUM_CELLS}.')
    idx = np.random.default_rng(seed).choice(NUM_CELLS, size=num, replace=False)
    archs = all_archs()
    return [archs[i] for i in idx]


def load_batch(root: str, num_images: int = 64, seed: int = 0) -> Dict:
    """One fixed batch from an ImageNet-style folder (``<root>/<class>/*.jpg``):
    ``num_images`` files drawn with ``default_rng(seed)`` from the sorted list; returns a
    data dict ``{'inputs': uint8 (N, 3, H, W) RGB, 'data_samples': [DataSample]}`` for a
    ``ClsDataPreprocessor`` (labels = index of the sorted class folder)."""
    from mmpretrain.structures import DataSample
    from PIL import Image
    if not osp.isdir(root):
        raise FileNotFoundError(f'Image folder {root!r} not found (expected '
                                '<root>/<class>/*.jpg, e.g. ../shared/data/cifar10/train).')
    classes = sorted(d for d in os.listdir(root) if osp.isdir(osp.join(root, d)))
    files = [(osp.join(root, c, f), i) for i, c in enumerate(classes)
             for f in sorted(os.listdir(osp.join(root, c)))
             if f.lower().endswith(('.jpg', '.jpeg', '.png'))]
    if len(files) < num_images:
        raise ValueError(f'{root!r} has {len(files)} images; {num_images} requested.')
    pick = np.random.default_rng(seed).choice(len(files), size=num_images, replace=False)
    images, samples = [], []
    for i in sorted(pick):
        path, label = files[i]
        with Image.open(path) as im:
            arr = np.asarray(im.convert('RGB'))
        images.append(torch.from_numpy(arr.copy()).permute(2, 0, 1))
        samples.append(DataSample().set_gt_label(label))
    return dict(inputs=torch.stack(images), data_samples=samples)


def build_classifier(arch, space='nb201', num_classes: int = 10):
    """``ImageClassifier(NB201Net(arch) + GAP + LinearClsHead)``, PyTorch default init
    (``init_weights`` is not called: the proxies' papers score at default init)."""
    from pinas_mm.registry import MODELS
    from pinas_mm.space import NB201Space
    space = NB201Space.get(space)
    return MODELS.build(dict(
        type='mmpretrain.ImageClassifier',
        backbone=dict(type='pinas_mm.NB201Net', space=space.to_dict(),
                      arch=arch if isinstance(arch, str) else [int(a) for a in arch]),
        neck=dict(type='mmpretrain.GlobalAveragePooling'),
        head=dict(type='mmpretrain.LinearClsHead', num_classes=num_classes,
                  in_channels=space.out_channels[-1],
                  loss=dict(type='mmpretrain.CrossEntropyLoss')),
        data_preprocessor=dict(type='mmpretrain.ClsDataPreprocessor', mean=CIFAR_MEAN,
                               std=CIFAR_STD, to_rgb=False)))


def correlation(x: Sequence[float], y: Sequence[float], topk: Sequence[int] = (10, 20),
                n_boot: int = 1000, seed: int = 0) -> Dict[str, float]:
    """Kendall tau-b and Spearman rho of ``y`` (scores) vs ``x`` (ground truth), each with
    a percentile-bootstrap 95% interval over archs (``scipy.stats.bootstrap``, paired,
    ``n_boot`` resamples), and the top-k overlap |top_k(x) & top_k(y)| / k. Scores of
    ``-inf`` rank last."""
    from scipy.stats import bootstrap, kendalltau, spearmanr
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or len(x) < 3:
        raise ValueError(f'Need two equal-length lists of >= 3 values; got {x.shape} and '
                         f'{y.shape}.')
    if np.isnan(y).any():
        raise ValueError('Scores contain NaN.')
    y = _finite_ranks_keep_order(y)
    out = dict(n=int(len(x)))
    for name, fn in (('kendall_tau', kendalltau), ('spearman_rho', spearmanr)):
        out[name] = float(fn(x, y).statistic)
        res = bootstrap((x, y), lambda a, b: fn(a, b).statistic, paired=True,
                        vectorized=False, n_resamples=n_boot, method='percentile',
                        confidence_level=0.95, random_state=np.random.default_rng(seed))
        out[f'{name}_lo'] = float(res.confidence_interval.low)
        out[f'{name}_hi'] = float(res.confidence_interval.high)
    order_x, order_y = np.argsort(-x, kind='stable'), np.argsort(-y, kind='stable')
    for k in topk:
        k = min(int(k), len(x))
        out[f'top{k}_overlap'] = len(set(order_x[:k]) & set(order_y[:k])) / k
    return out


def _finite_ranks_keep_order(y: np.ndarray) -> np.ndarray:
    """Replace -inf by a value below every finite score (same ranks, finite stats)."""
    y = y.copy()
    neg = np.isneginf(y)
    if neg.any():
        finite = y[~neg]
        low = finite.min() if finite.size else 0.0
        y[neg] = low - 1.0 - abs(low)
    if np.isposinf(y).any():
        raise ValueError('Scores contain +inf.')
    return y


def score_archs(archs, batch: Dict, scorers: Sequence[str], space='nb201', seed: int = 0,
                log=print) -> List[Dict]:
    """Score every arch with every scorer; rows ``{arch, <scorer>: score,
    <scorer>_s: CPU seconds}``. The network of arch ``i`` is built after
    ``torch.manual_seed(seed * 1_000_003 + i)``."""
    from pinas_mm.registry import SCORERS
    from pinas_mm.search.zero_cost import ZERO_COST_SCORERS
    unknown = [s for s in scorers if s not in ZERO_COST_SCORERS]
    if unknown:
        raise ValueError(f'Unknown scorers {unknown}; valid: {sorted(ZERO_COST_SCORERS)}.')
    built = {s: SCORERS.build(dict(type=ZERO_COST_SCORERS[s], dataloader=[batch]))
             for s in scorers}
    rows = []
    for i, arch in enumerate(archs):
        torch.manual_seed(seed * 1_000_003 + i)
        model = build_classifier(arch, space)
        row = dict(arch=''.join(map(str, arch)))
        for name, scorer in built.items():
            t0 = time.process_time()
            row[name] = scorer(model)
            row[f'{name}_s'] = time.process_time() - t0
        rows.append(row)
        if log and (i + 1) % 10 == 0:
            log(f'scored {i + 1}/{len(archs)} archs')
    return rows


def scatter_plot(path: str, acc: np.ndarray, rows: List[Dict], scorers: Sequence[str],
                 stats: Dict[str, Dict]) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    cols = 4
    nrows = (len(scorers) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3.3 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, scorers):
        y = np.array([r[name] for r in rows], dtype=np.float64)
        finite = np.isfinite(y)
        ax.scatter(y[finite], acc[finite], s=8, alpha=0.7)
        if (~finite).any():
            ax.text(0.02, 0.02, f'{int((~finite).sum())} at -inf (not drawn)',
                    transform=ax.transAxes, fontsize=8)
        positive = y[finite & (y > 0)]
        if name in ('synflow', 'snip', 'grad_norm', 'flops', 'params') and positive.size \
                and (y[finite] >= 0).all():
            # zeros (disconnected cells) stay visible left of the log decades
            ax.set_xscale('symlog', linthresh=float(positive.min()))
        s = stats[name]
        ax.set_title(f"{name}: tau {s['kendall_tau']:.2f}, rho {s['spearman_rho']:.2f}",
                     fontsize=10)
        ax.set_xlabel('score')
        ax.set_ylabel('table CIFAR-10 acc. (%)')
    for ax in list(axes.flat)[len(scorers):]:
        ax.axis('off')
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_csv(path: str, rows: List[Dict], acc: np.ndarray, space) -> None:
    keys = list(rows[0])
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['arch', 'arch_string', 'table_accuracy'] + keys[1:])
        for r, a in zip(rows, acc):
            w.writerow([r['arch'], space.arch_string(r['arch']), f'{a:.4f}']
                       + [f'{r[k]:.6g}' for k in keys[1:]])


def run_study(data_root: str, num_archs: int = 200, arch_seed: int = 0,
              num_images: int = 64, data_seed: int = 0, init_seed: int = 0,
              scorers: Optional[Sequence[str]] = None, n_boot: int = 1000,
              topk: Sequence[int] = (10, 20), table_path: Optional[str] = None,
              log=print) -> Dict:
    """The whole study; returns ``{archs, accuracy, rows, stats, cpu_s, table}``."""
    from pinas_mm.search.nb201_table import load_nb201_table
    from pinas_mm.search.zero_cost import ZERO_COST_SCORERS
    from pinas_mm.space import NB201Space
    scorers = list(scorers or ZERO_COST_SCORERS)
    table = load_nb201_table(table_path)
    space = NB201Space.get('nb201')
    archs = sample_archs(num_archs, arch_seed)
    acc = np.array([table.query(a) for a in archs])
    batch = load_batch(data_root, num_images, data_seed)
    t0 = time.process_time()
    rows = score_archs(archs, batch, scorers, space, init_seed, log)
    cpu_s = time.process_time() - t0
    stats = {s: correlation(acc, [r[s] for r in rows], topk, n_boot, arch_seed)
             for s in scorers}
    return dict(archs=archs, accuracy=acc, rows=rows, stats=stats, cpu_s=cpu_s,
                table=table, space=space, scorers=scorers, num_images=num_images)


_PAPERS = {
    'naswot': 'Mellor et al., ICML 2021', 'jacob_cov': 'Mellor et al. 2020 (v1)',
    'synflow': 'Abdelfattah et al. 2021', 'snip': 'Abdelfattah et al. 2021',
    'grad_norm': 'Abdelfattah et al. 2021', 'flops': 'baseline', 'params': 'baseline'}


def write_report(path: str, result: Dict, command: str, csv_name: str, png_name: str) -> None:
    """The markdown result: setup, provenance of the table, correlations beside the
    published values, CPU time."""
    stats, scorers = result['stats'], result['scorers']
    rows = result['rows']
    n = len(rows)
    topks = [k for k in next(iter(stats.values())) if k.startswith('top')]
    table = result['table']
    lines = [
        '# Training-free scorers vs the NAS-Bench-201 table (CIFAR-10)', '',
        f'{n} cells of NAS-Bench-201 drawn uniformly without replacement (seeded), each '
        'built as `ImageClassifier(pinas_mm.NB201Net + GAP + linear)` at PyTorch default '
        'initialisation (seeded per cell) and scored by each training-free scorer of '
        '`pinas_mm/search/zero_cost.py` on one fixed batch of '
        f"{result['num_images']} CIFAR-10 train photos "
        '(`../shared/data/cifar10/train`, 32x32, CIFAR mean/std normalisation). '
        'Ground truth: the table\'s `baseline_accuracy` (see provenance below). '
        'Correlations: Kendall tau-b and Spearman rho (scipy), 95% intervals by a '
        'percentile bootstrap over the cells (1000 resamples, paired); top-k overlap = '
        'share of the table\'s k best sampled cells among the scorer\'s k best.', '',
        '## Regenerate', '', '```bash', command, '```', '',
        f"CPU time (process time, OMP_NUM_THREADS=1): {result['cpu_s']:.0f} s for all "
        f'{n} cells x {len(scorers)} scorers; per scorer (mean per cell): '
        + ', '.join(f"{s} {np.mean([r[s + '_s'] for r in rows]):.2f} s" for s in scorers)
        + '.', '',
        '## Correlation with the table\'s CIFAR-10 accuracy', '',
        '| scorer | Kendall tau [95% CI] | Spearman rho [95% CI] | '
        + ' | '.join(t.replace('_overlap', ' overlap').replace('top', 'top-') for t in topks)
        + ' | published rho (NB201 CIFAR-10) | |rho| - published |',
        '|---|---|---|' + '---|' * len(topks) + '---|---|']
    for s in scorers:
        st = stats[s]
        pub = PUBLISHED_SPEARMAN.get(s)
        lines.append(
            f"| {s} ({_PAPERS.get(s, '')}) | {st['kendall_tau']:+.3f} "
            f"[{st['kendall_tau_lo']:+.3f}, {st['kendall_tau_hi']:+.3f}] | "
            f"{st['spearman_rho']:+.3f} [{st['spearman_rho_lo']:+.3f}, "
            f"{st['spearman_rho_hi']:+.3f}] | "
            + ' | '.join(f'{st[t]:.2f}' for t in topks)
            + (f' | {pub:.3f} | {abs(st["spearman_rho"]) - pub:+.3f} |' if pub is not None
               else ' | - | - |'))
    n_inf = {s: sum(1 for r in rows if r[s] == float('-inf')) for s in scorers}
    n10 = int(np.sum(np.isclose(result['accuracy'], 10.0)))
    lines += [
        '', f'Cells at exactly 10.0% in the table (output not connected to the input) '
        f'among the sample: {n10}. Scores of -inf (output independent of the input, a '
        'singular kernel): ' + ', '.join(f'{s} {k}' for s, k in n_inf.items() if k)
        + ('' if any(n_inf.values()) else 'none') + '; they rank last.', '',
        f'Per-cell scores: [{csv_name}]({csv_name}); scatter plot: '
        f'[{png_name}]({png_name}).', '',
        '## The ground truth: what the table is', '',
        f'`pinas_mm.search.nb201_table` reads `{osp.basename(table.path)}` (sha256 '
        f'`{table.sha256[:16]}...`) of the PyPI package `analog-nasbench` 0.1.3: '
        'AnalogNAS-Bench (Benmeziane et al., arXiv:2506.18495, 2025). Its '
        '`baseline_accuracy` is the AnalogNAS-Bench authors\' own training of every '
        'NAS-Bench-201 cell: one seed, 200 epochs, SGD with Nesterov momentum, cosine '
        'schedule, CIFAR-10 test accuracy averaged over 25 evaluation passes (through '
        'the augmenting transform). It is not the original NAS-Bench-201 table (Dong & '
        'Yang, ICLR 2020: three seeds per cell, its own hyper-parameters): here the best '
        'cell scores 94.07, in NAS-Bench-201 94.37 (one op away). A published '
        'correlation measured on the original table can therefore differ from ours by '
        'more than our bootstrap interval without either implementation being wrong; '
        'the table\'s own seed noise (one run per cell) also caps every correlation.',
        '',
        '## Published values', '',
        '"published rho" is the NAS-Bench-201 CIFAR-10 Spearman rho of Abdelfattah et '
        'al., "Zero-Cost Proxies for Lightweight NAS" (ICLR 2021), as printed by the '
        'authors\' notebook `notebooks/nasbench201_correlations.ipynb` of '
        'github.com/SamsungLabs/zero-cost-nas (its "Table 1" cell, row CIFAR10: '
        'grad_norm 0.594, snip 0.596, grasp 0.514, fisher 0.36, synflow 0.737, '
        'jacob_cov 0.731), computed on all 15,625 cells against the original table\'s '
        'test accuracy, one batch of 64 images at default init, taking |rho|. The '
        'FLOPs / params baselines of that paper and NASWOT\'s published NAS-Bench-201 '
        'numbers (Mellor et al., ICML 2021, reported as Kendall tau) could not be read '
        'from a stored source in this session, so no number is put beside them.', '',
    ]
    open(path, 'w').write('\n'.join(lines) + '\n')


def main(argv=None):
    """``tools/analysis/zero_cost_study.py``: run the study, write OUT (markdown), OUT with
    .csv (per-cell scores) and .png (scatter plots).

        OMP_NUM_THREADS=1 python tools/analysis/zero_cost_study.py \\
            --data-root ../shared/data/cifar10/train --num-archs 200 \\
            --out benchmarks/results/zero_cost_nb201.md
    """
    import argparse
    import shlex
    import sys

    from pinas_mm.search.zero_cost import ZERO_COST_SCORERS

    parser = argparse.ArgumentParser(
        description='Ranking study: training-free scorers vs the NAS-Bench-201 CIFAR-10 table.')
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

