"""Search workers sharing one history: wall time of 2 workers vs 1 for the same search.

Real candidate evaluation: ``tools/search.py`` processes (one thread each,
``OMP_NUM_THREADS=1``) search the tiny space with the tiny search config (evolution
strategy; per candidate precise-BN recalibration on ``--recal-batches`` train batches and
the linear-probe top-1 on the val split, 32x32 inputs, built-in tiny ImageNet-format data)
on a supernet probe with random weights (the cost of an evaluation does not depend on the
weights). One round runs the search with 1 worker, then with 2 workers started together
on a new history (SQLite by default, ``--postgres`` for a throwaway PostgreSQL server as in
the tests); rounds alternate so that both see the same machine load.

Printed per run:
  * ``search``: from the first claim to the ``--candidates``-th record (the claims' own
    database times) -- the time the workers spend on the shared search;
  * ``total``: from starting the processes to the last exit (process start-up, ~10 s of
    imports and model building per process here, included).
The ratio is 2 workers / 1 worker (median over rounds); target ``search`` ratio <= 0.6.
The machine's core count and load average (sampled every second during each run) are
printed too: 2 workers only run in parallel when 2 cores are free.

    python benchmarks/bench_search_workers.py [--candidates 40] [--rounds 2] [--postgres]
"""
import argparse
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
SEARCH_CFG = osp.join(ROOT, 'configs/search/'
                      'search-evolution_pinas-tiny-supernet_linear-probe_tiny-in.py')


def make_checkpoint(out):
    """The tiny search config's SupernetClassifier with random weights, saved as a
    checkpoint (what tools/search.py loads)."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import pinas_mm  # noqa: F401
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(SEARCH_CFG).model.to_dict())
    path = osp.join(out, 'supernet.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


class LoadSampler:
    """The 1-minute load average every second while the ``with`` block runs."""

    def __init__(self):
        self.samples, self._stop = [], threading.Event()

    def _run(self):
        while not self._stop.wait(1.0):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self):
        self.samples.append(os.getloadavg()[0])
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def summary(self):
        return f'load {statistics.mean(self.samples):.1f} (max {max(self.samples):.1f})'


def run_workers(args, workers, storage, study, work_root, ckpt, data_root):
    """Start ``workers`` tools/search.py processes on one history; return the timings."""
    from pinas_mm.search import SearchHistory
    opts = {'train_dataloader.dataset.data_root': data_root,
            'train_dataloader.batch_size': args.batch,
            'train_dataloader.sampler.shuffle': False,
            'train_cfg.scorer.dataloader.dataset.data_root': data_root,
            'train_cfg.recal_batches': args.recal_batches,
            'train_cfg.input_size': 32,
            'train_cfg.num_candidates': args.candidates,
            'train_cfg.study_name': study,
            'log_level': 'WARNING'}
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
               PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    procs, logs = [], []
    start = time.time()
    with LoadSampler() as load:
        for w in range(workers):
            work_dir = osp.join(work_root, f'{study}_w{w}')
            os.makedirs(work_dir, exist_ok=True)
            log = open(osp.join(work_dir, 'worker.log'), 'w')
            cmd = [sys.executable, osp.join(ROOT, 'tools/search.py'), SEARCH_CFG,
                   '--checkpoint', ckpt, '--work-dir', work_dir, '--storage', storage,
                   '--worker-id', f'{study}-w{w}', '--cfg-options',
                   *[f'{k}={v}' for k, v in opts.items()]]
            procs.append(subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=log))
            logs.append(log)
        codes = [p.wait() for p in procs]
    total = time.time() - start
    for log in logs:
        log.close()
    if any(codes):
        bad = codes.index(next(c for c in codes if c))
        with open(osp.join(work_root, f'{study}_w{bad}', 'worker.log')) as f:
            raise SystemExit(f'worker {bad} failed ({codes[bad]}):\n{f.read()[-3000:]}')
    with SearchHistory(storage, study, 16, 4) as hist:
        records, claims = hist.records(), hist.claims()
    archs = [str(r['arch']) for r in records]
    assert len(records) == args.candidates and len(set(archs)) == len(archs), \
        (len(records), len(set(archs)))
    search = max(c['heartbeat'] for c in claims) - min(c['claimed_at'] for c in claims)
    per_worker = {}
    for c in claims:
        per_worker[c['worker']] = per_worker.get(c['worker'], 0) + 1
    return dict(search=search, total=total, load=load.summary(), split=per_worker)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--candidates', type=int, default=40)
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--recal-batches', type=int, default=2)
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--postgres', action='store_true',
                        help='share the history through a throwaway PostgreSQL server '
                        '(tests/_postgres.py) instead of one SQLite file')
    args = parser.parse_args(argv)
    from pinas_mm.datasets.tiny import make_tiny_datasets
    tmp = tempfile.mkdtemp(prefix='pinas_bench_workers_')
    data_root = make_tiny_datasets(osp.join(tmp, 'data'), which=('imagenet', ))['imagenet']
    if not data_root.endswith('/'):
        data_root += '/'
    ckpt = make_checkpoint(tmp)
    server = None
    if args.postgres:
        sys.path.insert(0, osp.join(ROOT, 'tests'))
        from _postgres import PostgresServer
        server = PostgresServer()
        server.start()
    try:
        print(f'{os.cpu_count()} cores; {args.candidates} candidates per search, tiny space, '
              f'{args.recal_batches} recalibration batches of {args.batch}, 1 thread per '
              f'worker, history: {"PostgreSQL" if server else "SQLite"}')
        results = {1: [], 2: []}
        for r in range(args.rounds):
            for workers in (1, 2):
                study = f'r{r}_{workers}w'
                storage = server.url if server else \
                    f'sqlite:///{osp.join(tmp, study + ".db")}'
                res = run_workers(args, workers, storage, study, tmp, ckpt, data_root)
                results[workers].append(res)
                print(f'round {r}, {workers} worker(s): search {res["search"]:.1f} s, total '
                      f'{res["total"]:.1f} s, {res["load"]}, records per worker '
                      f'{sorted(res["split"].values())}', flush=True)
        for key in ('search', 'total'):
            one = statistics.median(r[key] for r in results[1])
            two = statistics.median(r[key] for r in results[2])
            print(f'{key}: 1 worker {one:.1f} s, 2 workers {two:.1f} s, ratio {two / one:.2f}'
                  + (' (target <= 0.6)' if key == 'search' else ''))
    finally:
        if server is not None:
            server.stop()


if __name__ == '__main__':
    main()
