"""The main job: unlabelled images -> searched backbone -> Mask R-CNN and DeepLabV3.

Every stage is a real run of the same tools and configs a GPU user runs (a subprocess
started by :mod:`pinas_mm.orchestration.runner`, its log in ``<stage>/run.log``); only the
schedule, sizes and data differ. Two data presets (``--data``):

* ``tiny`` (default, needs no data): the built-in synthetic tiny datasets, generated into
  ``--data-root`` (default ``data/tiny``);
* ``real``: real photos and annotations under ``--data-root`` (default ``../shared/data``):
  ``cifar10/`` (Pi-NAS pretraining, linear probe, search on a held-out part of train),
  ``coco128/`` (Mask R-CNN, COCO's 80 classes) and ``camvid/`` (DeepLabV3, 11 classes).

Stages (configs in ``PRESETS``):

  1 datasets   tools/dataset_converters/make_tiny_datasets.py     (tiny only)
  2 supernet   tools/train.py  Pi-NAS config                      (no labels)
  3 probe      tools/train.py  supernet linear-probe config
  4 search     tools/search.py search config
  5 export     tools/export_subnet.py --from-search
  6 det        tools/train.py  Mask R-CNN config, inherited backbone and random init,
  7 seg        tools/train.py  DeepLabV3 config,  each with --seeds seeds
  8 report     <work_dir>/report.md: per-stage metrics and wall time, mean +- std over
               seeds of inherited vs random init, and whether each difference exceeds
               the seed spread; torch version, threads and CPU model

    python tools/pipeline.py [--data tiny|real] [--data-root DIR] [--seeds 3] [--jobs 1]
                             [--work-dir work_dirs/pipeline]
Rerunning continues: a stage whose outputs exist is skipped.
"""
import argparse
import concurrent.futures
import functools
import json
import math
import os
import os.path as osp
import platform
import re
import threading
import time

from pinas_mm.export import export_paths
from pinas_mm.orchestration.runner import (ROOT, StagedRun, ToolFailed, run_tool,
                                           tool_command, tool_env)
from pinas_mm.space import Arch

#: per preset: the configs of every stage, the data root those configs name (every path
#: in them that starts with it is re-rooted at --data-root), the default --data-root and
#: the datasets the run needs under it
PRESETS = dict(
    tiny=dict(
        supernet='configs/pinas/pinas_tiny-space_1xb16-coslr-16e_tiny-in.py',
        probe='configs/linear_probe/linear-probe_pinas-tiny-supernet_1xb32-steplr-6e_tiny-in.py',
        search='configs/search/search-evolution_pinas-tiny-supernet_linear-probe_tiny-in.py',
        det='configs/mask_rcnn/mask-rcnn_pinas-trans-tiny-fpn_1xb2-ms-4e_tiny-coco.py',
        seg='configs/deeplabv3/deeplabv3_pinas-trans-tiny-d8_1xb2-200i_tiny-cityscapes-128x256.py',
        config_root='data/tiny', default_root='data/tiny',
        datasets=('imagenet', 'coco', 'cityscapes')),
    real=dict(
        supernet='configs/pinas/pinas_tiny-space_1xb64-coslr-2e_cifar10.py',
        probe='configs/linear_probe/linear-probe_pinas-tiny-supernet_1xb64-steplr-3e_cifar10.py',
        search='configs/search/search-evolution_pinas-tiny-supernet_linear-probe_cifar10.py',
        det='configs/mask_rcnn/mask-rcnn_pinas-trans-tiny-fpn_1xb2-ms-2e_coco128.py',
        seg='configs/deeplabv3/deeplabv3_pinas-trans-tiny-d8_1xb2-120i_camvid-180x240.py',
        config_root='../shared/data', default_root='../shared/data',
        datasets=('cifar10', 'coco128', 'camvid')),
)
#: the tiny preset's configs (tests and older callers use this name)
CFG = PRESETS['tiny']
#: the report's headline metric keys per stage kind
KEYS = dict(probe=['accuracy/top1'], det=['coco/bbox_mAP', 'coco/segm_mAP', 'coco/bbox_mAP_50'],
            seg=['mIoU', 'aAcc'])
#: the inherited-vs-random comparison: (task, metric)
COMPARED = (('det', 'coco/bbox_mAP'), ('det', 'coco/segm_mAP'), ('seg', 'mIoU'),
            ('seg', 'aAcc'))
INITS = ('inherited', 'random-init')
PROGRESS = re.compile(r'(Epoch\(|Iter\(|Search:|search |resumed|Saving checkpoint)')


#: a stage's tool exited non-zero (the runner's error, under the name callers know)
StageFailed = ToolFailed


@functools.lru_cache(maxsize=None)
def load_config(config):
    from mmengine.config import Config
    return Config.fromfile(osp.join(ROOT, config), import_custom_modules=False)


@functools.lru_cache(maxsize=None)
def last_checkpoint(config):
    """File name of the checkpoint a config's run ends with (epoch_N.pth / iter_N.pth)."""
    train_cfg = load_config(config).train_cfg
    if 'max_epochs' in train_cfg:
        return f'epoch_{train_cfg.max_epochs}.pth'
    return f'iter_{train_cfg.max_iters}.pth'


def reroot_options(cfg, old_root, new_root):
    """``--cfg-options`` that move every path of ``cfg`` under ``old_root`` to ``new_root``.

    Args:
        cfg (dict | mmengine Config): a loaded config.
        old_root (str): the data root the config names (e.g. ``../shared/data``).
        new_root (str): where the data is (absolute, or relative to the repo root).

    Returns:
        list[str]: ``key.path=value`` items, one per string value that equals ``old_root``
        or starts with ``old_root + '/'`` (lists are walked by index).
    """
    old = osp.normpath(old_root)
    found = []

    def walk(node, prefix):
        items = node.items() if isinstance(node, dict) else \
            enumerate(node) if isinstance(node, (list, tuple)) else ()
        for k, v in items:
            key = f'{prefix}.{k}' if prefix else str(k)
            if isinstance(v, str):
                norm = osp.normpath(v)
                if norm == old or norm.startswith(old + '/'):
                    new = osp.join(new_root, osp.relpath(norm, old))
                    found.append(f'{key}={osp.normpath(new)}{"/" if v.endswith("/") else ""}')
            else:
                walk(v, key)

    walk(cfg.to_dict() if hasattr(cfg, 'to_dict') else cfg, '')
    return found


def summarize(values):
    """Mean and sample standard deviation (ddof=1) of a metric over seeds.

    Returns:
        tuple[float, float | None, int]: mean, std (None for fewer than 2 values), n.
    """
    import numpy as np
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError('summarize: no values')
    return float(x.mean()), (float(x.std(ddof=1)) if x.size > 1 else None), int(x.size)


def compare(a, b):
    """Compare a metric over seeds of two settings (``a`` inherited, ``b`` random init).

    The difference "exceeds the spread" when ``|mean(a) - mean(b)| > std(a) + std(b)``
    (sample stds over seeds): the two mean +- std intervals do not overlap. Welch's t-test
    (``scipy.stats.ttest_ind(equal_var=False)``, two-sided) is reported beside it; with
    3 seeds per side it only detects large effects.

    Returns:
        dict: ``diff`` (mean a - mean b), ``spread`` (std a + std b, or None), ``exceeds``
        (bool, or None without a spread), ``p`` (Welch p-value, or None) and the two
        summaries ``a``/``b`` as from :func:`summarize`.
    """
    sa, sb = summarize(a), summarize(b)
    diff = sa[0] - sb[0]
    spread = sa[1] + sb[1] if sa[1] is not None and sb[1] is not None else None
    exceeds = None if spread is None else abs(diff) > spread
    p = None
    if sa[2] > 1 and sb[2] > 1 and (sa[1] or sb[1]):
        from scipy.stats import ttest_ind
        p = float(ttest_ind(a, b, equal_var=False).pvalue)
    return dict(a=sa, b=sb, diff=diff, spread=spread, exceeds=exceeds, p=p)


def verdict(task, key, c):
    """One sentence on a :func:`compare` result."""
    if c['exceeds'] is None:
        return (f'{task} {key}: one seed per side, no spread to compare the difference '
                f'({c["diff"]:+.4g}) with.')
    better = 'inherited' if c['diff'] > 0 else 'random init'
    if c['diff'] == 0:
        return f'{task} {key}: no difference.'
    p = f', Welch p = {c["p"]:.2g}' if c['p'] is not None else ''
    if c['exceeds']:
        return (f'{task} {key}: {better} is higher by {abs(c["diff"]):.4g}, more than the '
                f'seed spread ({c["spread"]:.4g}){p}.')
    return (f'{task} {key}: {better} is higher by {abs(c["diff"]):.4g}, within the seed '
            f'spread ({c["spread"]:.4g}){p}: no conclusion.')


def fmt_stat(s):
    mean, std, n = s
    return f'{mean:.4g} ± {std:.2g}' if std is not None else f'{mean:.4g}'


def environment():
    """What the timings depend on: torch, threads, CPU model, load."""
    import torch
    cpu = 'unknown'
    try:
        with open('/proc/cpuinfo') as f:
            names = [ln.split(':', 1)[1].strip() for ln in f if ln.startswith('model name')]
        cpu = names[0] if names else platform.processor() or 'unknown'
    except OSError:
        cpu = platform.processor() or 'unknown'
    return {
        'torch': torch.__version__,
        'torch.get_num_threads()': torch.get_num_threads(),
        'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', '(unset)'),
        'CPU model': cpu,
        'usable cores': len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity')
        else os.cpu_count(),
        'load average (1 min)': f'{os.getloadavg()[0]:.2f}' if hasattr(os, 'getloadavg')
        else 'n/a',
    }


class Pipeline(StagedRun):
    """The main job as stages in ``work_dir``: each stage a tool run by the runner
    (:func:`~pinas_mm.orchestration.runner.run_tool`), skipped when its last output exists."""

    def __init__(self, work_dir, data_root=None, baseline=True, data='tiny', seeds=3, jobs=1):
        if data not in PRESETS:
            raise ValueError(f'--data {data!r}: expected one of {sorted(PRESETS)}')
        if seeds < 1:
            raise ValueError(f'--seeds {seeds}: expected a positive number of seeds')
        super().__init__(work_dir, log=functools.partial(print, flush=True))
        self.data = data
        self.preset = PRESETS[data]
        self.data_root = osp.abspath(data_root or self.preset['default_root'])
        self.baseline = baseline
        self.seeds = list(range(seeds))
        self.jobs = max(1, jobs)
        self.rows = []
        self._lock = threading.Lock()
        os.makedirs(self.work_dir, exist_ok=True)

    def cfg(self, stage):
        return self.preset[stage]

    def data_opts(self, stage):
        return reroot_options(load_config(self.cfg(stage)), self.preset['config_root'],
                              self.data_root)

    # ---- running one tool ------------------------------------------------------------
    def cores(self):
        return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') \
            else (os.cpu_count() or 1)

    def threads(self, parallel):
        """OMP_NUM_THREADS of a stage: the user's if set; else cores // jobs for the
        fine-tunes that run ``jobs`` at a time, and torch's default (all cores) for the
        stages that run alone."""
        if 'OMP_NUM_THREADS' in os.environ:
            return os.environ['OMP_NUM_THREADS']
        if parallel and self.jobs > 1:
            return str(max(1, self.cores() // self.jobs))
        return None

    def env(self, parallel=False):
        return tool_env(self.threads(parallel), PYTHONWARNINGS='ignore')

    def run(self, name, cmd, done_file, parallel=False):
        """Run a tool unless ``done_file`` exists; log to <stage>/run.log, show progress.

        ``cmd``: from :func:`tool_command` (``relative=True``), run from the repository
        root; the report shows it without the interpreter."""
        stage_dir = self.stage_dir(name)
        os.makedirs(stage_dir, exist_ok=True)
        shown = ' '.join(osp.relpath(c, ROOT) if osp.isabs(c) and c.startswith(ROOT)
                         else c for c in cmd[1:])
        if osp.exists(done_file):
            self.log(f'[{name}] done before, skipped: {osp.relpath(done_file, self.work_dir)}')
            with self._lock:
                self.rows.append(dict(stage=name, command=shown, seconds=None))
            return

        def progress(line):
            if PROGRESS.search(line):
                self.log(f'  [{name}] {line.rstrip()[-150:]}')

        self.log(f'[{name}] $ {shown}')
        seconds = run_tool(cmd, osp.join(stage_dir, 'run.log'), env=self.env(parallel),
                           cwd=ROOT, echo=progress,
                           failure=lambda code, log: f'[{name}] failed (exit {code}); see {log}')
        self.log(f'[{name}] finished in {seconds:.0f} s')
        with self._lock:
            self.rows.append(dict(stage=name, command=shown, seconds=round(seconds)))

    def train_cmd(self, name, stage, *opts):
        work = self.path(name)
        config = self.cfg(stage)
        return (name, tool_command('train.py', config, '--work-dir', work, '--cfg-options',
                                   *self.data_opts(stage), *opts, relative=True),
                osp.join(work, last_checkpoint(config)))

    def run_all(self, jobs):
        """Run independent (name, cmd, done_file) jobs, ``self.jobs`` at a time; every job
        runs even if another fails, then the first failure is raised."""
        with concurrent.futures.ThreadPoolExecutor(self.jobs) as pool:
            futures = [pool.submit(self.run, *job, parallel=True) for job in jobs]
            errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]

    def check_data(self):
        missing = [d for d in self.preset['datasets']
                   if not osp.isdir(osp.join(self.data_root, d))]
        if missing:
            raise SystemExit(
                f'--data {self.data}: no {", ".join(missing)} under {self.data_root}; '
                f'expected {", ".join(self.preset["datasets"])} there (see '
                f'../shared/data/README.md and tools/dataset_converters/), or pass '
                f'--data-root')

    def fine_tune_name(self, task, init, seed):
        return f'{"6" if task == "det" else "7"}_{task}_{init}_seed{seed}'

    # ---- the stages ------------------------------------------------------------------
    def __call__(self):
        t0 = time.time()
        self.env_start = environment()
        d = self.data_root
        if self.data == 'tiny':
            self.run('1_datasets', tool_command('dataset_converters/make_tiny_datasets.py',
                                                '--out', d, relative=True),
                     osp.join(d, 'cityscapes', '.pinas_tiny_stamp.json'))
        self.check_data()
        sup_ckpt, probe_ckpt = last_checkpoint(self.cfg('supernet')), \
            last_checkpoint(self.cfg('probe'))
        sup, probe = self.path('2_supernet'), self.path('3_probe')
        self.run(*self.train_cmd('2_supernet', 'supernet'))
        self.run(*self.train_cmd('3_probe', 'probe',
                                 f'model.backbone.init_cfg.checkpoint={sup}/{sup_ckpt}'))
        search = self.path('4_search')
        self.run('4_search', tool_command('search.py', self.cfg('search'), '--checkpoint',
                                          f'{probe}/{probe_ckpt}', '--work-dir', search,
                                          '--cfg-options', *self.data_opts('search'),
                                          relative=True),
                 osp.join(search, 'best_arch.yaml'))
        arch = str(Arch.from_file(osp.join(search, 'best_arch.yaml')))
        export = self.path('5_export')
        outputs = export_paths(export, arch, 'tiny')  # the files the export stage writes
        arch_file, backbone = outputs['arch_file'], outputs['checkpoint']
        self.run('5_export', tool_command('export_subnet.py', f'{sup}/{sup_ckpt}',
                                          '--from-search', search, '--out-dir', export,
                                          '--space', 'tiny', '--recalibrate',
                                          self.cfg('search'), '--recal-batches', '10',
                                          '--cfg-options', *self.data_opts('search'),
                                          relative=True),
                 backbone)
        init_opts = {
            'inherited': [f'model.backbone.arch={arch_file}',
                          'model.backbone.init_cfg.type=Pretrained',
                          'model.backbone.init_cfg.prefix=backbone.',
                          f'model.backbone.init_cfg.checkpoint={backbone}'],
            'random-init': [f'model.backbone.arch={arch_file}', 'model.backbone.init_cfg=None'],
        }
        inits = INITS if self.baseline else INITS[:1]
        t_ft = time.time()
        self.run_all([self.train_cmd(self.fine_tune_name(task, init, seed), task,
                                     *init_opts[init], f'randomness.seed={seed}')
                      for task in ('det', 'seg') for init in inits for seed in self.seeds])
        self.fine_tune_seconds = time.time() - t_ft
        self.report(arch, arch_file, backbone, time.time() - t0)

    # ---- the report ------------------------------------------------------------------
    def metrics(self, name):
        """The last logged value of each metric of a run (mmengine's scalars.json)."""
        from pinas_mm.analysis import last_scalars
        return {k: v for k, v in last_scalars(self.path(name)).items()
                if '/' in k or k in ('mIoU', 'aAcc', 'mAcc')}

    def seed_values(self, task, init, key):
        """The metric of every seed's run that logged it (in seed order)."""
        values = []
        for seed in self.seeds:
            m = self.metrics(self.fine_tune_name(task, init, seed))
            if key in m and m[key] is not None and math.isfinite(m[key]):
                values.append(m[key])
        return values

    def comparison(self):
        """Report lines: inherited vs random init, mean +- std over seeds, in words."""
        lines = ['', '## Searched, Pi-NAS-inherited backbone vs random init, over seeds', '',
                 f'Each fine-tune ran with seeds {self.seeds} (`randomness.seed`: head '
                 'initialisation, data order and augmentation). Cells: mean ± sample std '
                 '(ddof 1) of the last validation. A difference "exceeds the spread" when '
                 '|mean difference| > std(inherited) + std(random init), i.e. the two '
                 'mean ± std intervals do not overlap; Welch\'s t-test p-value beside it.',
                 '', '| task | metric | inherited | random init | difference | spread '
                 '(sum of stds) | exceeds spread | Welch p |', '|---|---|---|---|---|---|---|---|']
        words = []
        for task, key in COMPARED:
            a = self.seed_values(task, 'inherited', key)
            b = self.seed_values(task, 'random-init', key)
            if not a or not b:
                continue
            c = compare(a, b)
            spread = '-' if c['spread'] is None else f"{c['spread']:.4g}"
            exceeds = '-' if c['exceeds'] is None else ('yes' if c['exceeds'] else 'no')
            p = '-' if c['p'] is None else f"{c['p']:.2g}"
            lines.append(f'| {task} | {key} | {fmt_stat(c["a"])} (n={c["a"][2]}) | '
                         f'{fmt_stat(c["b"])} (n={c["b"][2]}) | {c["diff"]:+.4g} | {spread} | '
                         f'{exceeds} | {p} |')
            words.append('- ' + verdict(task, key, c))
        return lines + [''] + words

    def report(self, arch, arch_file, backbone, seconds):
        from pinas_mm.models.complexity import arch_complexity
        flops, params = arch_complexity(arch, 'tiny', 224, 1000)
        lines = ['# pinas_mm pipeline report', '',
                 f'Data: `--data {self.data}` under `{self.data_root}`; '
                 f'{len(self.seeds)} seed(s) per fine-tune; {self.jobs} job(s) at a time.', '',
                 f'Chosen arch: `{arch}` (tiny space), {flops / 1e9:.3f} GFLOPs and '
                 f'{params / 1e6:.2f} M params at 224x224 with a 1000-class head.', '',
                 '| stage | metrics | seconds | command |', '|---|---|---|---|']
        for row in sorted(self.rows, key=lambda r: r['stage']):
            m = self.metrics(row['stage'])
            kind = row['stage'].split('_')[1] if '_' in row['stage'] else ''
            shown = ', '.join(f'{k} {m[k]:.4g}' for k in KEYS.get(kind, []) if k in m)
            if row['stage'] == '4_search':
                res = json.load(open(self.path('4_search', 'results.json')))
                best = max(r['score'] for r in res)
                shown = (f'{len(res)} archs evaluated, best linear-probe top-1 {best:.4g} '
                         '(held-out part of the train split)' if self.data == 'real' else
                         f'{len(res)} archs evaluated, best linear-probe top-1 {best:.4g}')
            lines.append(f"| {row['stage']} | {shown or '-'} | "
                         f"{'-' if row['seconds'] is None else row['seconds']} | "
                         f"`{row['command']}` |")
        if self.baseline:
            lines += self.comparison()
        env = dict(getattr(self, 'env_start', None) or environment())
        env_end = environment()
        lines += ['', '## Environment', '',
                  *[f'- {k}: {v}' for k, v in env.items() if k != 'load average (1 min)'],
                  f'- OMP_NUM_THREADS given to the stages that run alone: '
                  f'{self.threads(False) or "(unset: torch uses all cores)"}; to the '
                  f'fine-tunes ({self.jobs} at a time): '
                  f'{self.threads(True) or "(unset: torch uses all cores)"}',
                  f'- load average (1 min) at start / end: {env.get("load average (1 min)")}'
                  f' / {env_end["load average (1 min)"]} (a load above the usable cores '
                  'means other processes shared the CPU and inflated the wall times)',
                  f'- fine-tunes (detection + segmentation, all seeds and inits): '
                  f'{getattr(self, "fine_tune_seconds", 0):.0f} s wall time',
                  f'- total wall time of this invocation: {seconds:.0f} s']
        lines += ['', '## Artefacts', '',
                  f'- supernet: `{self.path("2_supernet", last_checkpoint(self.cfg("supernet")))}`',
                  f'- linear probe: `{self.path("3_probe", last_checkpoint(self.cfg("probe")))}`',
                  f'- search results: `{self.path("4_search", "results.csv")}`',
                  f'- search plots: `{self.path("4_search", "score_vs_flops.png")}`, '
                  f'`{self.path("4_search", "best_vs_evaluations.png")}`',
                  f'- arch file: `{arch_file}`', f'- backbone checkpoint: `{backbone}`',
                  f'- detection / segmentation runs: `{self.path("6_det_*")}`, '
                  f'`{self.path("7_seg_*")}`']
        out = self.path('report.md')
        with open(out, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        print('\n'.join(lines))
        print(f'\nreport: {out}')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', choices=sorted(PRESETS), default='tiny',
                        help='tiny: built-in synthetic data (default, needs nothing); '
                        'real: cifar10 / coco128 / camvid under --data-root')
    parser.add_argument('--data-root', default=None,
                        help='default: data/tiny (tiny) or ../shared/data (real), relative '
                        'to the repository root')
    parser.add_argument('--work-dir', default=None,
                        help='default: work_dirs/pipeline (tiny), work_dirs/pipeline_real')
    parser.add_argument('--seeds', type=int, default=3,
                        help='fine-tune seeds per task and init (0..N-1; default 3)')
    parser.add_argument('--jobs', type=int, default=1,
                        help='fine-tunes run in parallel (each gets cores/jobs threads '
                        'unless OMP_NUM_THREADS is set)')
    parser.add_argument('--no-baseline', action='store_true',
                        help='skip the random-init downstream runs')
    args = parser.parse_args(argv)
    work_dir = args.work_dir or ('work_dirs/pipeline' if args.data == 'tiny'
                                 else 'work_dirs/pipeline_real')
    # relative paths are relative to the repository root (the runner's cwd)
    data_root = None if args.data_root is None else osp.join(os.getcwd(), args.data_root)
    if args.data_root is None:
        data_root = osp.join(ROOT, PRESETS[args.data]['default_root'])
    try:
        Pipeline(osp.join(os.getcwd(), work_dir) if args.work_dir else osp.join(ROOT, work_dir),
                 data_root, baseline=not args.no_baseline, data=args.data, seeds=args.seeds,
                 jobs=args.jobs)()
    except (StageFailed, ValueError) as e:
        raise SystemExit(str(e))


if __name__ == '__main__':
    main()
