"""Ranking study: supernet scores vs. stand-alone accuracy of the same architectures.

    python tools/analysis/ranking_study.py --supernet pinas=A.pth spos=B.pth ...
        [--num-archs 12 --arch-seed 0 | --archs-from results.csv [--top K]]
        [--standalone-config configs/ranking/standalone_tiny-space_1xb32-coslr-15e_tiny-in.py]
        [--standalone-seeds 0 1] [--scorer knn|probe] [--recal-batches 4]
        [--work-dir work_dirs/ranking_study] [--out benchmarks/results/ranking_study_tiny.md]

1. Architectures: ``--num-archs`` distinct ones drawn uniformly with ``--arch-seed``, or
   the ``arch`` column of a search ``results.csv`` (``--top K``: the K best by score).
2. Ground truth: each arch trained stand-alone with ``tools/train.py`` (a subprocess
   started by :func:`pinas_mm.orchestration.runner.run_tool`, one work_dir per arch and
   seed, ``randomness.seed`` per seed) and its final val top-1
   read from the run's ``scalars.json``; the mean over seeds is the stand-alone score.
   With two or more seeds the table also gives the seed-vs-seed Kendall tau of the
   stand-alone ranking itself: the ceiling any supernet can reach on this data.
3. Supernet scores (in this process): for each ``NAME=CKPT``, the supernet backbone
   (``backbone.*`` keys of a Pi-NAS, SPOS or probe checkpoint) gets per arch precise-BN
   recalibration on the train split, then the kNN top-1 (``KNNScorer``: train split as
   memory, val split as queries; label-free training needs no head), or with
   ``--scorer probe`` the linear-probe top-1 of the checkpoint's own head.
4. Kendall tau / Spearman rho / top-k overlap of each supernet vs. stand-alone
   (``pinas_mm.analysis.rank_correlation``), written as a markdown table to ``--out``
   plus ``<out>.csv`` (one row per arch) and ``<out>_correlation.csv``.

Finished pieces are kept in the work_dir (``standalone/<arch>_s<seed>/result.json``,
``scores_<name>.csv``) and reused by a rerun; the stand-alone config, the data and the
scorer settings are part of the file names' folders, so change ``--work-dir`` when you
change them.
"""
import argparse
import csv
import json
import os
import os.path as osp
import random
import shlex
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

from pinas_mm.orchestration.runner import run_tool, tool_command

DEFAULT_CONFIG = 'configs/ranking/standalone_tiny-space_1xb32-coslr-15e_tiny-in.py'


# ------------------------------------------------------------------------------- archs
def sample_archs(n: int, seed: int, space) -> List[str]:
    """``n`` distinct archs of ``space`` (a :class:`~pinas_mm.space.SearchSpace`), each
    block's choice drawn uniformly with ``random.Random(seed)``, as digit strings.

    Raises:
        ValueError: ``n`` exceeds the number of archs in the space.
    """
    rng = random.Random(seed)
    total = space.num_choices ** space.num_blocks
    if n > total:
        raise ValueError(f'--num-archs {n} exceeds the {total} archs of the space.')
    archs: List[str] = []
    while len(archs) < n:
        arch = ''.join(str(rng.randrange(space.num_choices)) for _ in range(space.num_blocks))
        if arch not in archs:
            archs.append(arch)
    return archs


def archs_from_csv(path: str, top: int = 0) -> List[str]:
    """The distinct archs of the ``arch`` column of a CSV (e.g. a search's
    ``results.csv``), in file order; ``top > 0``: the ``top`` rows of highest ``score``
    first.

    Raises:
        ValueError: no ``arch`` column, or ``top`` without a ``score`` column.
    """
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    if not rows or 'arch' not in rows[0]:
        raise ValueError(f'{path!r} has no column "arch".')
    if top:
        if 'score' not in rows[0]:
            raise ValueError(f'--top needs a "score" column in {path!r}.')
        rows = sorted(rows, key=lambda r: -float(r['score']))[:top]
    archs = []
    for r in rows:
        if r['arch'].strip() not in archs:
            archs.append(r['arch'].strip())
    return archs


# -------------------------------------------------------------------------- stand-alone
def _read_top1(work_dir: str) -> float:
    from pinas_mm.analysis import last_scalars
    top1 = last_scalars(work_dir).get('accuracy/top1')
    if top1 is None:
        raise RuntimeError(f'No accuracy/top1 in {work_dir}/*/vis_data/scalars.json: did the '
                           'run validate (train_cfg.val_interval)?')
    return float(top1)


def train_standalone(arch: str, seed: int, config: str, work_dir: str,
                     log: Callable[[str], None]) -> Dict:
    """Train ``arch`` stand-alone with ``tools/train.py CONFIG`` (one subprocess, its output
    in ``<work_dir>/standalone/<arch>_s<seed>/train.log``) and read its final val top-1.

    Args:
        arch (str): 16 digits of the space, e.g. ``'3013231203213032'``.
        seed (int): ``randomness.seed`` of the run.
        config (str): the stand-alone training config (its ``model.backbone.arch`` is set).
        work_dir (str): the study's work_dir.
        log (callable): called with one progress line when the run finishes.

    Returns:
        dict: ``arch``, ``seed``, ``top1`` (val top-1, percent) and ``seconds`` (wall
        time), also written to ``result.json`` in the run's folder; an existing
        ``result.json`` is returned as it is, without training.

    Raises:
        ToolFailed: (a RuntimeError) the training exited non-zero; names the log.
        RuntimeError: the run logged no ``accuracy/top1`` (it never validated).
    """
    run_dir = osp.join(work_dir, 'standalone', f'{arch}_s{seed}')
    result_file = osp.join(run_dir, 'result.json')
    if osp.isfile(result_file):
        with open(result_file) as f:
            return json.load(f)
    arch_list = '[' + ','.join(arch) + ']'  # a digit string would parse as an int
    cmd = tool_command('train.py', config, '--work-dir', run_dir, '--cfg-options',
                       f'model.backbone.arch={arch_list}', f'randomness.seed={seed}')
    start = time.time()
    run_tool(cmd, osp.join(run_dir, 'train.log'),
             failure=lambda code, log_file: f'Stand-alone training of {arch} failed; see '
             f'{log_file}')
    result = dict(arch=arch, seed=seed, top1=_read_top1(run_dir),
                  seconds=round(time.time() - start, 1))
    with open(result_file, 'w') as f:
        json.dump(result, f)
    log(f'stand-alone {arch} seed {seed}: top-1 {result["top1"]:.2f} '
        f'({result["seconds"]} s)')
    return result


# ------------------------------------------------------------------------ supernet side
def _data_cfg(config: str):
    """Data and model settings of the stand-alone config (same data for both sides)."""
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    test_pipeline = cfg.val_dataloader.dataset.pipeline
    train_ds = dict(cfg.train_dataloader.dataset, pipeline=test_pipeline)
    train_ds.pop('indices', None)
    loader = dict(num_workers=0, collate_fn=dict(type='default_collate'))
    recal = dict(loader, batch_size=32, dataset=train_ds,
                 sampler=dict(type='DefaultSampler', shuffle=True, seed=0))
    memory = dict(loader, batch_size=64, dataset=train_ds,
                  sampler=dict(type='DefaultSampler', shuffle=False))
    query = dict(loader, batch_size=64, dataset=dict(cfg.val_dataloader.dataset),
                 sampler=dict(type='DefaultSampler', shuffle=False))
    return cfg, recal, memory, query


def score_supernet(name: str, ckpt: str, archs: List[str], config: str, scorer: str,
                   recal_batches: int, work_dir: str,
                   log: Callable[[str], None]) -> Tuple[Dict[str, float], float]:
    """Score every arch on the supernet of checkpoint ``ckpt`` (in this process).

    The supernet gets the stand-alone config's backbone settings (space, widths); per arch
    :class:`~pinas_mm.search.CandidateEvaluator` recalibrates the path's BN statistics on
    ``recal_batches`` batches of 32 train images, then scores it: ``scorer='knn'``, the
    kNN top-1 (:class:`~pinas_mm.search.KNNScorer`, k=20, temperature 0.07, train split as
    memory, val split as queries; only the ``backbone.*`` keys are loaded), or
    ``'probe'``, the top-1 of the checkpoint's own linear head (every key loaded).

    Returns:
        tuple: ``({arch: top-1 in percent}, seconds of scoring)``; cached in
        ``<work_dir>/scores_<name>.csv`` (and ``.json``, the seconds) and read from there
        when it holds every arch.

    Raises:
        CheckpointError: ``ckpt`` is missing or unreadable (one line naming it).
        RuntimeError: the checkpoint's keys do not fit the supernet (strict loading).
    """
    out = osp.join(work_dir, f'scores_{name}.csv')
    if osp.isfile(out):
        with open(out, newline='') as f:
            have = {r['arch']: float(r['score']) for r in csv.DictReader(f)}
        if all(a in have for a in archs):
            return {a: have[a] for a in archs}, _seconds(out)
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    from mmpretrain.registry import MODELS

    import pinas_mm  # noqa: F401
    from pinas_mm.search import CandidateEvaluator, KNNScorer, LinearProbeScorer
    from pinas_mm.search.driver import evaluate_archs
    cfg, recal, memory, query = _data_cfg(config)
    init_default_scope('mmpretrain')
    backbone = dict(cfg.model.backbone, type='pinas_mm.PiNASSuperNet')
    backbone.pop('arch', None)
    backbone.pop('init_cfg', None)
    model = MODELS.build(dict(type='pinas_mm.SupernetClassifier', sample_path=False,
                              data_preprocessor=cfg.model.data_preprocessor,
                              backbone=backbone, neck=cfg.model.neck, head=cfg.model.head))
    from pinas_mm.engine.checkpoint import read_state_dict
    state = read_state_dict(ckpt)
    if scorer == 'probe':
        model.load_state_dict(state, strict=True)
    else:
        bb = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
        model.backbone.load_state_dict(bb, strict=True)
    recal_loader = Runner.build_dataloader(recal, seed=0)
    if scorer == 'probe':
        score_fn = LinearProbeScorer(query)
    else:
        score_fn = KNNScorer(query, memory_dataloader=memory, k=20, temperature=0.07)
    evaluator = CandidateEvaluator(model, recal_loader, score_fn, recal_batches)
    start = time.time()
    scores = dict(zip(archs, evaluate_archs(lambda arch: float(evaluator(arch)),
                                            model.backbone.space, archs)))
    seconds = time.time() - start
    log(f'supernet {name}: {len(archs)} archs scored in {seconds:.1f} s')
    with open(out, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['arch', 'score'])
        writer.writerows([(a, scores[a]) for a in archs])
    with open(out[:-4] + '.json', 'w') as f:
        json.dump(dict(seconds=round(seconds, 1), archs=len(archs)), f)
    return scores, seconds


def _seconds(scores_csv: str) -> float:
    path = scores_csv[:-4] + '.json'
    if not osp.isfile(path):
        return 0.0
    with open(path) as f:
        return float(json.load(f)['seconds'])


# ----------------------------------------------------------------------------- report
def write_report(out: str, archs: List[str], standalone: Dict[str, float],
                 per_seed: Dict[int, Dict[str, float]], supernets: Dict[str, Dict[str, float]],
                 results: Dict[str, Dict], seed_tau: Optional[Dict], command: str,
                 meta: Dict) -> None:
    """Write the study: ``out`` (markdown), ``<out stem>.csv`` (one row per arch:
    stand-alone top-1, mean and per seed, and each supernet's score) and
    ``<out stem>_correlation.csv`` (one row per supernet).

    Args:
        standalone: per arch, the mean stand-alone top-1 over seeds (percent).
        per_seed: per seed, per arch, the stand-alone top-1.
        supernets: per supernet name, per arch, its score.
        results: per supernet name, :func:`pinas_mm.analysis.rank_correlation` against
            ``standalone``.
        seed_tau: the same between the first two seeds plus ``seeds``, or ``None``.
        command: the command line shown under "Regenerate".
        meta: ``title``, ``intro``, ``prelude`` (command lines before ``command``),
            ``checkpoints`` (name -> path) and ``caveats`` (markdown lines).
    """
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    stem = osp.splitext(out)[0]
    names = list(supernets)
    with open(stem + '.csv', 'w', newline='') as f:
        writer = csv.writer(f)
        seeds = sorted(per_seed)
        writer.writerow(['arch', 'standalone_top1'] + [f'standalone_top1_s{s}' for s in seeds]
                        + [f'{n}_score' for n in names])
        for a in archs:
            writer.writerow([a, f'{standalone[a]:.4f}'] + [f'{per_seed[s][a]:.4f}' for s in seeds]
                            + [f'{supernets[n][a]:.4f}' for n in names])
    with open(stem + '_correlation.csv', 'w', newline='') as f:
        writer = csv.writer(f)
        keys = ['n', 'kendall_tau', 'kendall_p', 'spearman_rho', 'spearman_p', 'topk',
                'topk_overlap']
        writer.writerow(['supernet'] + keys)
        for n in names:
            writer.writerow([n] + [results[n][k] for k in keys])
    lines = [f'# {meta["title"]}', '', meta['intro'], '', '## Regenerate', '', '```bash']
    lines += meta['prelude'] + [command, '```', '', '## Kendall tau vs. stand-alone top-1', '',
                                '| supernet | checkpoint | Kendall tau | p | Spearman rho | p '
                                f'| top-{results[names[0]]["topk"]} overlap |',
                                '|---|---|---|---|---|---|---|']
    for n in names:
        r = results[n]
        lines.append(f'| {n} | `{meta["checkpoints"][n]}` | {r["kendall_tau"]:+.3f} | '
                     f'{r["kendall_p"]:.2f} | {r["spearman_rho"]:+.3f} | {r["spearman_p"]:.2f} | '
                     f'{r["topk_overlap"]:.2f} |')
    if seed_tau is not None:
        lines += ['', f'Stand-alone seed {seed_tau["seeds"][0]} vs. seed {seed_tau["seeds"][1]} '
                  f'(the same archs trained twice): Kendall tau {seed_tau["kendall_tau"]:+.3f} '
                  f'(Spearman rho {seed_tau["spearman_rho"]:+.3f}). No supernet can be '
                  'expected to agree with the stand-alone ranking better than the stand-alone '
                  'ranking agrees with itself.']
    lines += ['', '## Per architecture', '',
              '| arch | stand-alone top-1 (mean) | ' + ' | '.join(
                  f'seed {s}' for s in sorted(per_seed)) + ' | ' + ' | '.join(names) + ' |',
              '|---|---|' + '---|' * (len(per_seed) + len(names))]
    for a in sorted(archs, key=lambda a: -standalone[a]):
        lines.append(f'| `{a}` | {standalone[a]:.2f} | ' + ' | '.join(
            f'{per_seed[s][a]:.2f}' for s in sorted(per_seed)) + ' | ' + ' | '.join(
            f'{supernets[n][a]:.2f}' for n in names) + ' |')
    lines += ['', '## Caveats', ''] + meta['caveats'] + ['']
    with open(out, 'w') as f:
        f.write('\n'.join(lines))


def _caveats(n, seed_tau, results, scorer) -> List[str]:
    from scipy.stats import kendalltau
    import numpy as np
    # smallest tau > 0 with p < 0.05 at this n (no ties)
    pairs = n * (n - 1) // 2
    crit = min((1 - 2 * k / pairs for k in range(pairs // 2 + 1)
                if kendalltau(np.arange(n), _perm_with_concordance(n, k)).pvalue < 0.05),
               default=1.0)
    out = [f'- Tiny: {n} archs, 8 classes of synthetic 32x32 images, 96 val images (one '
           'image = 1.04 points of top-1), supernets trained for about a minute each, '
           'stand-alone runs of 15 short epochs. With n=%d a Kendall tau must exceed about '
           '%.2f to be told from 0 at p=0.05, and with %d supernets one of them passes that '
           'by chance with probability about %.0f%%.' % (
               n, crit, len(results), 100 * (1 - 0.95 ** len(results)))]
    if seed_tau is not None:
        if abs(seed_tau['kendall_tau']) < 0.4:
            out.append(
                '- The ground truth does not reproduce: the same archs trained with another '
                'seed rank with Kendall tau %+.2f. The stand-alone differences between these '
                'archs are within seed noise on this data, so no tau in the table, whatever '
                'its p-value, says anything about how well a supernet ranks. It takes more '
                'archs with larger differences, more val images and several seeds per arch '
                '(a GPU-sized study) before these numbers mean something.'
                % seed_tau['kendall_tau'])
        else:
            out.append('- The stand-alone ranking reproduces across seeds (tau %+.2f), so it '
                       'is a usable ground truth at this size.' % seed_tau['kendall_tau'])
    if scorer == 'knn':
        out.append('- Every supernet is scored with the same label-free kNN probe, so the '
                   'self-supervised and the supervised (SPOS) supernets are compared alike; '
                   'the paper scores with a linear probe trained on the frozen supernet. '
                   'Low kNN scores (chance is 12.5%) mean the supernet learned little in '
                   'its short schedule.')
    return out


def _perm_with_concordance(n, k):
    """A ranking of n items with exactly k discordant pairs against 0..n-1."""
    order: List[int] = []
    for i in range(n):  # value i inserted with c_i <= i smaller values after it
        c = min(k, i)
        order.insert(i - c, i)
        k -= c
    return order


def main(argv=None) -> Dict[str, Dict]:
    """The command line of ``tools/analysis/ranking_study.py`` (see this module's doc);
    returns each supernet's :func:`~pinas_mm.analysis.rank_correlation` result."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--supernet', nargs='+', required=True, metavar='NAME=CKPT')
    src = parser.add_mutually_exclusive_group()
    src.add_argument('--num-archs', type=int, default=12)
    src.add_argument('--archs-from', metavar='RESULTS_CSV')
    parser.add_argument('--top', type=int, default=0, help='with --archs-from: best K')
    parser.add_argument('--arch-seed', type=int, default=0)
    parser.add_argument('--standalone-config', default=DEFAULT_CONFIG)
    parser.add_argument('--standalone-seeds', type=int, nargs='+', default=[0])
    parser.add_argument('--scorer', choices=['knn', 'probe'], default='knn')
    parser.add_argument('--recal-batches', type=int, default=4)
    parser.add_argument('--topk', type=int, default=3)
    parser.add_argument('--work-dir', default='work_dirs/ranking_study')
    parser.add_argument('--out', default='benchmarks/results/ranking_study_tiny.md')
    parser.add_argument('--notes', nargs='*', default=[],
                        help='extra caveat lines for the report')
    parser.add_argument('--prelude', nargs='*', default=[],
                        help='commands to print before this one in the report (how the '
                        'supernets were trained)')
    args = parser.parse_args(argv)
    from pinas_mm.analysis import rank_correlation
    from pinas_mm.space import SearchSpace
    supernets = {}
    for item in args.supernet:
        name, sep, path = item.partition('=')
        if not sep or not name:
            raise SystemExit(f'Invalid --supernet {item!r}: expected NAME=CKPT.')
        supernets[name] = path
    from pinas_mm.engine.checkpoint import exit_on_checkpoint_error, read_state_dict
    with exit_on_checkpoint_error():  # a broken checkpoint: one line, before any training
        for path in supernets.values():
            read_state_dict(path)
    from mmengine.config import Config
    space = SearchSpace.get(Config.fromfile(args.standalone_config).model.backbone.space)
    archs = (archs_from_csv(args.archs_from, args.top) if args.archs_from
             else sample_archs(args.num_archs, args.arch_seed, space))
    if len(archs) < 3:
        raise SystemExit(f'Need at least 3 archs for a rank correlation, got {len(archs)}.')
    log = print
    runs = {s: {a: train_standalone(a, s, args.standalone_config, args.work_dir, log)
                for a in archs} for s in args.standalone_seeds}
    per_seed = {s: {a: r['top1'] for a, r in rs.items()} for s, rs in runs.items()}
    t_standalone = sum(r['seconds'] for rs in runs.values() for r in rs.values())
    standalone = {a: sum(per_seed[s][a] for s in per_seed) / len(per_seed) for a in archs}
    scored = {n: score_supernet(n, p, archs, args.standalone_config, args.scorer,
                                args.recal_batches, args.work_dir, log)
              for n, p in supernets.items()}
    scores = {n: v[0] for n, v in scored.items()}
    t_scores = sum(v[1] for v in scored.values())
    results = {n: rank_correlation(s, standalone, args.topk) for n, s in scores.items()}
    seed_tau = None
    if len(per_seed) >= 2:
        s0, s1 = sorted(per_seed)[:2]
        seed_tau = dict(rank_correlation(per_seed[s0], per_seed[s1], args.topk), seeds=(s0, s1))
    for n, r in results.items():
        log(f'{n:>12}: Kendall tau {r["kendall_tau"]:+.3f} (p {r["kendall_p"]:.2f}), '
            f'Spearman rho {r["spearman_rho"]:+.3f}, top-{r["topk"]} overlap '
            f'{r["topk_overlap"]:.2f}')
    if seed_tau:
        log(f'stand-alone seed vs seed: Kendall tau {seed_tau["kendall_tau"]:+.3f}')
    kept, skipping = [], False
    for a in (argv if argv is not None else sys.argv[1:]):
        if a.startswith('--'):
            skipping = a in ('--prelude', '--notes')
        if not skipping:
            kept.append(a)
    command = 'OMP_NUM_THREADS=1 python tools/analysis/ranking_study.py ' + ' '.join(
        shlex.quote(a) for a in kept)
    scorer_text = ('precise-BN recalibration (%d batches of 32 train images) + kNN top-1 '
                   '(k=20, train split as memory, val split as queries)' % args.recal_batches
                   if args.scorer == 'knn' else
                   'precise-BN recalibration + the checkpoint\'s linear-probe top-1 on val')
    meta = dict(
        title='Ranking study on the tiny space',
        intro=(f'{len(archs)} architectures of the `{space.name}` space '
               + (f'(uniform, seed {args.arch_seed})' if not args.archs_from
                  else f'(from `{args.archs_from}`)')
               + f', each trained stand-alone with `{args.standalone_config}` '
               f'(seeds {args.standalone_seeds}; the mean val top-1 is the ground truth), '
               f'against the score each supernet gives the same arch: {scorer_text}. '
               f'The {len(archs) * len(per_seed)} stand-alone runs took '
               f'{t_standalone / 60:.1f} min of wall time in all, scoring the '
               f'{len(archs)} archs on the {len(supernets)} supernets {t_scores:.0f} s.'),
        prelude=list(args.prelude), checkpoints=supernets,
        caveats=_caveats(len(archs), seed_tau, results, args.scorer) + [
            f'- {note}' for note in args.notes])
    write_report(args.out, archs, standalone, per_seed, scores, results, seed_tau,
                 command, meta)
    log(f'report: {args.out}')
    return results


if __name__ == '__main__':
    main()
