"""Search costs: (a) the overhead of evaluating one candidate, (b) strategy sample efficiency.

(a) ``CandidateEvaluator(arch)`` (BN recalibration of the path on ``--recal-batches``
    train batches + the linear-probe scorer over the val split, or its first
    ``--score-batches``) on the tiny space at 32^2 (``--space resnest50``: the ResNeSt-50
    space at ``--input-size`` 224, images resized) and the built-in tiny ImageNet-format
    data, divided by the bare forward passes it needs: the
    same number of batches through the same path with plain ``no_grad`` eval-mode
    forwards (backbone for the recalibration batches, backbone + neck + head for the
    scoring batches),
      * over tensors pre-loaded and pre-processed in memory (pure evaluator overhead,
        data loading included in the numerator only), and
      * over the same dataloaders (data loading + pre-processing on both sides; target
        <= 1.15).
    The three are timed in turns (one round = each once), ratio of the medians. A fourth,
    informative baseline runs the recalibration batches with train-mode BN (batch
    statistics, which recalibration has to compute), over the dataloaders and over the
    pre-loaded tensors: the part of the overhead that is BN work rather than evaluator
    bookkeeping (train-mode BN on the path's BN layers only, as in recalibration). (BN is
    a large share of this tiny, 1/4-width network at 32^2: conv cost grows with width^2,
    BN cost with width.)
    The evaluator caches the decoded batches across candidates (the scorer's
    ``cache_batches``, on by default; ``--no-cache``: decode them for every candidate as
    before), so after the warm-up rounds it reads them from memory like the pre-loaded
    baseline. ``--clock cpu`` times with the process CPU clock (1 thread: the work done,
    robust on a shared machine) instead of wall time.
(b) ``benchmarks/bench_search_strategies.py --quick``: evaluations to reach the top 1% /
    0.1% of a synthetic objective on the real space, per strategy, relative to random.

    python benchmarks/bench_search.py [--recal-batches 4] [--batch 32] [--repeats 15]
    python benchmarks/bench_search.py --skip-strategies [--no-cache] [--clock cpu]
    python benchmarks/bench_search.py --skip-strategies --space resnest50 --input-size 224 \
        --batch 8 --recal-batches 2 --score-batches 2 --repeats 5 --warmup 1
"""
import argparse
import itertools
import os.path as osp
import statistics
import sys
import tempfile
import time

import torch
from torch.nn.modules.batchnorm import _BatchNorm

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
SEARCH_CFG = osp.join(ROOT, 'configs/search/'
                      'search-evolution_pinas-tiny-supernet_linear-probe_tiny-in.py')


def tiny_imagenet_root(data_root):
    if data_root and osp.isfile(osp.join(data_root, 'meta', 'val.txt')):
        return data_root
    from pinas_mm.datasets.tiny import make_tiny_datasets
    out = tempfile.mkdtemp(prefix='pinas_tiny_')
    return make_tiny_datasets(out, which=('imagenet', ))['imagenet']


def evaluator_overhead(args):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    from mmpretrain.registry import MODELS

    import pinas_mm  # noqa: F401
    from pinas_mm.search import CandidateEvaluator, LinearProbeScorer
    from pinas_mm.search.evaluator import seeded_batches
    init_default_scope('mmpretrain')
    root = tiny_imagenet_root(args.data_root)
    cfg = Config.fromfile(SEARCH_CFG)
    model_cfg = cfg.model.to_dict()
    input_size = args.input_size or (224 if args.space == 'resnest50' else 32)
    if args.space != 'tiny':
        model_cfg['backbone']['space'] = args.space
        model_cfg['head']['in_channels'] = 2048
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    recal_cfg = cfg.train_dataloader.to_dict()
    val_cfg = cfg.train_cfg.scorer.dataloader.to_dict()
    for c in (recal_cfg, val_cfg):
        c['dataset']['data_root'] = root
        c['batch_size'] = args.batch
        for t in c['dataset']['pipeline']:
            if t['type'] == 'Resize':
                t['scale'] = (input_size, input_size)
    recal_loader = Runner.build_dataloader(recal_cfg)
    scorer = LinearProbeScorer(val_cfg, num_batches=args.score_batches,
                               cache_batches=not args.no_cache)
    if len(recal_loader) < args.recal_batches:
        raise SystemExit(f'--recal-batches {args.recal_batches}: the tiny train split has '
                         f'only {len(recal_loader)} batches of {args.batch}.')
    evaluator = CandidateEvaluator(model, recal_loader, scorer, args.recal_batches)
    supernet = model.backbone
    arch = supernet.set_arch(args.arch)
    path_bns = [m for mod in supernet.path_modules(arch) for m in mod.modules()
                if isinstance(m, _BatchNorm)]

    def preprocess(data):
        return model.data_preprocessor(data, False)['inputs']

    recal_x = [preprocess(d) for d in seeded_batches(recal_loader, args.recal_batches)]
    val_x = [preprocess(d) for d in itertools.islice(scorer.dataloader, args.score_batches)]

    def run_evaluator():
        evaluator(arch)

    @torch.no_grad()
    def bare_preloaded():
        model.eval()
        for x in recal_x:
            supernet(x)
        for x in val_x:
            model(x, mode='tensor')

    @torch.no_grad()
    def bare_preloaded_train_bn():
        model.eval()
        for m in path_bns:
            m.train()  # batch statistics, as recalibration must compute them
        for x in recal_x:
            supernet(x)
        model.eval()
        for x in val_x:
            model(x, mode='tensor')

    @torch.no_grad()
    def bare_loader():
        model.eval()
        for d in itertools.islice(recal_loader, args.recal_batches):
            supernet(preprocess(d))
        for d in itertools.islice(scorer.dataloader, args.score_batches):
            model(preprocess(d), mode='tensor')

    @torch.no_grad()
    def bare_loader_train_bn():
        model.eval()
        bns = [m for m in supernet.modules() if isinstance(m, _BatchNorm)]
        for m in bns:
            m.train()  # batch statistics, as recalibration must compute them
        for d in itertools.islice(recal_loader, args.recal_batches):
            supernet(preprocess(d))
        model.eval()
        for d in itertools.islice(scorer.dataloader, args.score_batches):
            model(preprocess(d), mode='tensor')

    fns = {'CandidateEvaluator': run_evaluator, 'bare, pre-loaded tensors': bare_preloaded,
           'bare, pre-loaded, train BN': bare_preloaded_train_bn,
           'bare, same dataloaders': bare_loader,
           'bare, dataloaders, train BN': bare_loader_train_bn}
    for _ in range(args.warmup):
        for fn in fns.values():
            fn()
    times = {k: [] for k in fns}
    clock = time.process_time if args.clock == 'cpu' else time.perf_counter
    for _ in range(args.repeats):
        for name, fn in fns.items():
            t = clock()
            fn()
            times[name].append(clock() - t)
    n_val = len(val_x)
    cache = evaluator.batch_cache
    print(f'(a) one candidate, {args.space} space, path {arch}: {args.recal_batches} '
          f'recalibration batches + {n_val} scoring batches of {args.batch} images at '
          f'{input_size}^2 ({torch.get_num_threads()} CPU thread(s), {args.repeats} rounds, '
          f'{args.clock} time; batch cache: '
          f'{"off" if cache is None else f"{cache.num_batches} batches cached"})')
    for name, ts in times.items():
        print(f'  {name:<28} median {statistics.median(ts) * 1e3:8.1f} ms   '
              f'min {min(ts) * 1e3:8.1f} ms')
    ev = times['CandidateEvaluator']
    for den, target in (('bare, pre-loaded tensors', 1.10),
                        ('bare, pre-loaded, train BN', None), ('bare, same dataloaders', 1.15),
                        ('bare, dataloaders, train BN', None)):
        ratio = statistics.median(ev) / statistics.median(times[den])
        pairs = [a / b for a, b in zip(ev, times[den])]
        paired = statistics.median(pairs)
        spread = statistics.stdev(pairs) if len(pairs) > 1 else 0.0
        verdict = '' if target is None else \
            f'; target <= {target:.2f}: {"ok" if ratio <= target else "ABOVE TARGET"}'
        print(f'  evaluator / {den}: {ratio:.3f} (ratio of medians; paired median '
              f'{paired:.3f}, paired mean {statistics.mean(pairs):.3f} sd {spread:.3f})'
              f'{verdict}')


def strategies():
    from bench_search_strategies import main as strategies_main  # this script's folder
    print('\n(b) bench_search_strategies.py --quick')
    strategies_main(['--quick'])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data-root', default=osp.join(ROOT, 'data/tiny/imagenet'),
                        help='tiny ImageNet-format data (generated in a temp dir if absent)')
    parser.add_argument('--arch', default='pinas-cls')
    parser.add_argument('--space', default='tiny', choices=['tiny', 'resnest50'])
    parser.add_argument('--input-size', type=int, default=None,
                        help='default 32 (tiny), 224 (resnest50)')
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--recal-batches', type=int, default=4)
    parser.add_argument('--score-batches', type=int, default=None,
                        help='scoring batches (default: the whole val split)')
    parser.add_argument('--no-cache', action='store_true',
                        help='scorer cache_batches=False: decode every batch per candidate')
    parser.add_argument('--clock', default='wall', choices=['wall', 'cpu'])
    parser.add_argument('--repeats', type=int, default=15)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--threads', type=int, default=1,
                        help='CPU intra-op threads (default 1: stable on a shared box)')
    parser.add_argument('--skip-strategies', action='store_true')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    evaluator_overhead(args)
    print(f'  ({time.time() - t0:.1f} s)')
    if not args.skip_strategies:
        strategies()


if __name__ == '__main__':
    main()
