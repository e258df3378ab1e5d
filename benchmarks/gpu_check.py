"""One check of the GPU-only paths, printed as one table (tools/gpu_check.sh runs it).

Rows (``--device cuda``, the default; at most ~8 minutes on one H100/H200):

1. Pi-NAS on the resnest50 space at 224 x 224, ``--steps`` (30) timed training steps after
   ``--warmup`` (3), with fp32 ``OptimWrapper`` and with ``AmpOptimWrapper`` (what
   ``tools/train.py --amp`` uses: fp16 autocast, dynamic loss scale, the path-wise EMA
   teacher inside the step); beside it mmpretrain's ``MoCo`` (MoCo v2 neck/head) with a
   ``pinas_mm.PiNASResNeSt`` of Pi-NAS's first path as backbone, same batch, queue,
   optimizer and precision. Models, views and optimizers are those of
   ``benchmarks/bench_pinas_step.py`` (synthetic uint8 views: data loading is not timed).
   images/s = batch / median step time: a Pi-NAS step consumes ``batch`` images with 4
   views over 2 paths, a MoCo step ``batch`` images with 2 views on 1 path, so the target
   is Pi-NAS >= 0.45 x MoCo's images/s. Peak memory = ``torch.cuda.max_memory_allocated``
   over the timed steps.
2. Mask R-CNN and DeepLabV3 (Cityscapes) with the ``pinas-trans`` backbone (random init,
   ``model.backbone.init_cfg=None``: the metrics only show the evaluation runs): the model-zoo
   configs (SyncBN) through ``torch.distributed.run`` with 1 process (NCCL), 20 iterations
   on the built-in tiny COCO / Cityscapes, then the config's evaluator on the tiny val
   split (``tools/train.py``; metrics read from the run's scalars).
3. ``tools/search.py`` with the learned-partition search config on a random-init
   resnest50 supernet linear probe: 3 candidates, each BN-recalibrated and scored.

``--device cpu --tiny`` is the dry run of the same code on the CPU: tiny space, 64 x 64,
the tiny downstream configs without launcher, the tiny evolution search; AMP rows are
skipped (mmengine's ``AmpOptimWrapper`` needs a GPU). Its numbers say nothing about a GPU.

    python benchmarks/gpu_check.py [--work-dir DIR] [--batch 32] [--steps 30]
    python benchmarks/gpu_check.py --device cpu --tiny --steps 2 --iters 2
"""
import argparse
import os
import os.path as osp
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

#: family -> (GPU config, tiny CPU config, tiny dataset, metric keys)
DOWNSTREAM = {
    'Mask R-CNN': ('configs/mask_rcnn/mask-rcnn_pinas-trans-fpn-syncbn_8xb2-ms-1x_coco.py',
                   'configs/mask_rcnn/mask-rcnn_pinas-trans-tiny-fpn_1xb2-ms-4e_tiny-coco.py',
                   'coco', ('coco/bbox_mAP', 'coco/segm_mAP')),
    'DeepLabV3': (
        'configs/deeplabv3/deeplabv3_pinas-trans-d8_4xb2-80k_cityscapes-512x1024.py',
        'configs/deeplabv3/deeplabv3_pinas-trans-tiny-d8_1xb2-200i_tiny-cityscapes-128x256.py',
        'cityscapes', ('mIoU', )),
}
SEARCH = {  # device -> search config
    'cuda': 'configs/search/search-partition_pinas-supernet_linear-probe_8xb64_in1k.py',
    'cpu': 'configs/search/search-evolution_pinas-tiny-supernet_linear-probe_tiny-in.py',
}
COLUMNS = ('check', 'setting', 'throughput', 'peak GPU mem', 'result')


class NoGPUError(RuntimeError):
    """--device cuda without a CUDA GPU, or mmcv's ops built without CUDA."""


def load_bench():
    """:mod:`benchmarks.bench_pinas_step` (its model/view/optimizer builders)."""
    from benchmarks import bench_pinas_step
    return bench_pinas_step


def require_gpu() -> str:
    """'<GPU name>, torch X, CUDA Y'; raises NoGPUError (one line) when torch sees no
    CUDA GPU or mmcv's compiled ops have no CUDA kernels."""
    import torch
    if not torch.cuda.is_available():
        raise NoGPUError(
            f'no CUDA GPU visible to torch {torch.__version__} (CUDA '
            f'{torch.version.cuda}): run on a GPU machine, or use --device cpu --tiny')
    from mmcv.ops import get_compiling_cuda_version
    built = get_compiling_cuda_version()
    if not built or built == 'not available':
        raise NoGPUError('mmcv\'s ops were built without CUDA: rerun tools/setup_env.sh on '
                         'this GPU machine (or PINAS_MMCV_CUDA=1, see its README section)')
    return (f'{torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA '
            f'{torch.version.cuda}, mmcv ops CUDA {built}')


# --------------------------------------------------------------------------- 1. Pi-NAS
def time_steps(bench, name, models, wrappers, data, steps, warmup, device):
    """Median seconds of one step of ``name`` (one Pi-NAS step / ONE MoCo step) and the
    peak CUDA memory (bytes, None on the CPU) over the timed steps."""
    import torch
    model, wrapper = models[name], wrappers[name]
    batches = data[name][:1]  # MoCo: one step on (q0, k0); Pi-NAS: its 4 views

    def one():
        for batch in batches:
            if name == 'pinas':
                model.step.zero_()  # the paths (A, B) of step 0, as bench_pinas_step
            model.train_step(batch, wrapper)

    for _ in range(warmup):
        one()
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(steps):
        bench.sync(device)
        t = time.perf_counter()
        one()
        bench.sync(device)
        times.append(time.perf_counter() - t)
    peak = torch.cuda.max_memory_allocated(device) if device.type == 'cuda' else None
    return statistics.median(times), peak


def pinas_rows(args, device) -> List[Dict]:
    """Rows of Pi-NAS vs MoCo v2, fp32 and (on CUDA) AMP."""
    import torch
    from mmengine.optim import AmpOptimWrapper
    bench = load_bench()
    bargs = argparse.Namespace(space=args.space, batch=args.batch, size=args.size)
    rows = []
    for amp in ((False, True) if device.type == 'cuda' else (False, )):
        models, wrappers, data, (path_a, path_b) = bench.build(bargs, device)
        if amp:
            wrappers = {k: AmpOptimWrapper(optimizer=w.optimizer, loss_scale='dynamic')
                        for k, w in wrappers.items()}
        result = {}
        for name in ('moco', 'pinas'):
            sec, peak = time_steps(bench, name, models, wrappers, data, args.steps,
                                   args.warmup, device)
            result[name] = (args.batch / sec, peak)
        del models, wrappers, data
        if device.type == 'cuda':
            torch.cuda.empty_cache()
        prec = 'AMP fp16' if amp else 'fp32'
        ratio = result['pinas'][0] / result['moco'][0]
        common = f'{args.space} space, {args.size}px, batch {args.batch}, {prec}'
        rows.append(dict(check='MoCo v2 (path A subnet)', setting=common,
                         throughput=f'{result["moco"][0]:.1f} img/s',
                         mem=mib(result['moco'][1]), result=f'arch {path_a}'))
        rows.append(dict(check='Pi-NAS (supernet, 2 paths)', setting=common,
                         throughput=f'{result["pinas"][0]:.1f} img/s',
                         mem=mib(result['pinas'][1]),
                         result=f'{ratio:.2f}x MoCo (target >= 0.45: '
                                f'{"ok" if ratio >= 0.45 else "BELOW"})'))
    if device.type != 'cuda':
        rows.append(dict(check='Pi-NAS / MoCo AMP', setting='skipped on the CPU',
                         throughput='-', mem='-', result='AmpOptimWrapper needs a GPU'))
    return rows


def mib(nbytes: Optional[float]) -> str:
    return '-' if nbytes is None else f'{nbytes / 2**20:.0f} MiB'


# ------------------------------------------------------------------ 2. downstream, search
def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def launch(script: str, argv: List[str], device, log: str) -> float:
    """Run ``tools/<script>`` (1 NCCL process through torch.distributed.run on CUDA, a
    plain process on the CPU); return its wall seconds. Raises RuntimeError with the
    log's tail when it fails."""
    tool = osp.join(ROOT, 'tools', script)
    if device.type == 'cuda':
        cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=1',
               f'--master_port={free_port()}', tool] + argv + ['--launcher', 'pytorch']
    else:
        cmd = [sys.executable, tool] + argv
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    t0 = time.time()
    with open(log, 'w') as f:
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env).returncode
    if rc:
        with open(log) as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f'{script} failed (exit {rc}); log {log}:\n{tail}')
    return time.time() - t0


def cli(opts: Dict) -> List[str]:
    def fmt(v):
        return '[' + ','.join(map(str, v)) + ']' if isinstance(v, (list, tuple)) else str(v)
    return ['--cfg-options'] + [f'{k}={fmt(v)}' for k, v in opts.items()]


def downstream_opts(family: str, data_root: str, iters: int, tiny: bool) -> Dict:
    """cfg-options: the tiny data, ``iters`` training iterations, evaluation at the end,
    a log line every few iterations (so the scalars hold time and memory)."""
    dataset = DOWNSTREAM[family][2]
    opts = {f'{loader}.dataset.data_root': data_root + '/'
            for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')}
    log_every = max(1, min(5, iters))
    opts.update({'model.backbone.init_cfg': None,  # random init: no exported checkpoint
                 'default_hooks.logger.interval': log_every,
                 'default_hooks.checkpoint.interval': 10**6,
                 'val_dataloader.dataset.indices': 4 if tiny else 12})
    if dataset == 'coco':  # epoch-based: 1 epoch over batch * iters images
        for ev in ('val_evaluator', 'test_evaluator'):
            opts[f'{ev}.ann_file'] = data_root + '/annotations/instances_val2017.json'
        opts.update({'train_dataloader.dataset.indices': 2 * iters,
                     'train_dataloader.batch_size': 2, 'train_cfg.max_epochs': 1,
                     'train_cfg.val_interval': 1})
    else:  # iteration-based
        opts.update({'train_cfg.max_iters': iters, 'train_cfg.val_interval': iters,
                     'param_scheduler.0.end': iters, 'default_hooks.checkpoint.interval':
                     iters})
    return opts


def downstream_rows(args, device, tiny_roots: Dict[str, str], work_dir: str) -> List[Dict]:
    from pinas_mm.analysis import last_scalars
    rows = []
    for family, (gpu_cfg, cpu_cfg, dataset, keys) in DOWNSTREAM.items():
        cfg = cpu_cfg if args.tiny else gpu_cfg
        wd = osp.join(work_dir, family.replace(' ', '_').lower())
        argv = [osp.join(ROOT, cfg), '--work-dir', wd] + cli(
            downstream_opts(family, tiny_roots[dataset], args.iters, args.tiny))
        wall = launch('train.py', argv, device, wd + '.log')
        s = last_scalars(wd)
        missing = [k for k in keys if k not in s]
        if missing:
            raise RuntimeError(f'{family}: no {missing} in the scalars of {wd}')
        it_s = f'{1 / s["time"]:.2f} it/s' if s.get('time') else '-'
        rows.append(dict(
            check=f'{family} (pinas-trans)', setting=f'{osp.basename(cfg)}, {args.iters} '
            f'iters + eval' + (', NCCL x1' if device.type == 'cuda' else ''),
            throughput=it_s, mem=f'{s["memory"]:.0f} MiB' if 'memory' in s else '-',
            result=', '.join(f'{k} {s[k]:.3f}' for k in keys) + f' ({wall:.0f} s)'))
    return rows


def search_rows(args, device, tiny_roots: Dict[str, str], work_dir: str) -> List[Dict]:
    """tools/search.py on a random-init supernet probe: ``args.candidates`` candidates."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    import pinas_mm  # noqa: F401
    from pinas_mm.search import SearchHistory
    key = 'cpu' if args.tiny else 'cuda'
    cfg_path = osp.join(ROOT, SEARCH[key])
    cfg = Config.fromfile(cfg_path)
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model.to_dict())
    ckpt = osp.join(work_dir, 'random_supernet_probe.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    del model
    root = tiny_roots['imagenet'] + '/'
    opts = {'train_cfg.num_candidates': args.candidates, 'train_cfg.recal_batches': 2,
            'train_dataloader.batch_size': 16}
    if args.tiny:
        opts.update({'train_dataloader.dataset.data_root': root,
                     'train_cfg.scorer.dataloader.dataset.data_root': root,
                     'train_cfg.input_size': 32})
    else:  # HeldOutSplit(ImageNet) over the tiny ImageNet layout
        opts.update({'train_dataloader.dataset.dataset.data_root': root,
                     'train_cfg.scorer.dataloader.dataset.dataset.data_root': root,
                     'train_cfg.scorer.dataloader.batch_size': 16})
    wd = osp.join(work_dir, 'search')
    wall = launch('search.py', [cfg_path, '--checkpoint', ckpt, '--work-dir', wd] + cli(opts),
                  device, wd + '.log')
    space = 'tiny' if args.tiny else 'resnest50'
    with SearchHistory(f'sqlite:///{osp.join(wd, "search.db")}', 'search', 16, 4) as h:
        recs = h.records()
    if len(recs) != args.candidates:
        raise RuntimeError(f'search stored {len(recs)} candidates, expected '
                           f'{args.candidates} (log {wd}.log)')
    best = max(recs, key=lambda r: r['score'])
    return [dict(check='search (random-init probe)',
                 setting=f'{osp.basename(cfg_path)}, {space} space',
                 throughput=f'{len(recs) / wall:.2f} cand/s', mem='-',
                 result=f'{len(recs)} candidates scored, best {best["arch"]} '
                        f'{best["score"]:.3f} ({wall:.0f} s)')]


# ---------------------------------------------------------------------------- table
def format_table(rows: List[Dict]) -> str:
    """A Markdown table of ``rows`` (keys check, setting, throughput, mem, result)."""
    keys = ('check', 'setting', 'throughput', 'mem', 'result')
    lines = ['| ' + ' | '.join(COLUMNS) + ' |', '|' + '---|' * len(COLUMNS)]
    for r in rows:
        lines.append('| ' + ' | '.join(str(r[k]) for k in keys) + ' |')
    return '\n'.join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--device', default='cuda', choices=['cuda', 'cpu'])
    p.add_argument('--tiny', action='store_true',
                   help='tiny space / tiny configs (the CPU dry run)')
    p.add_argument('--work-dir', help='runs and logs (default: a temporary folder)')
    p.add_argument('--data-dir', help='tiny datasets (generated there when missing)')
    p.add_argument('--batch', type=int, help='Pi-NAS/MoCo images per step '
                   '(default 32; 16 with --tiny)')
    p.add_argument('--steps', type=int, default=30, help='timed Pi-NAS/MoCo steps')
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--iters', type=int, default=20, help='downstream training iterations')
    p.add_argument('--candidates', type=int, default=3, help='search candidates')
    p.add_argument('--only', nargs='+', choices=['pinas', 'downstream', 'search'],
                   default=['pinas', 'downstream', 'search'])
    args = p.parse_args(argv)
    for name in ('steps', 'iters', 'candidates'):
        if getattr(args, name) < 1:
            p.error(f'--{name} must be >= 1, got {getattr(args, name)}')
    args.space = 'tiny' if args.tiny else 'resnest50'
    args.size = 64 if args.tiny else 224
    if args.batch is None:
        args.batch = 16 if args.tiny else 32
    return args


def main(argv=None) -> str:
    """Run the checks, print and return the table. Raises NoGPUError without a GPU."""
    args = parse_args(argv)
    import torch
    device = torch.device(args.device)
    if device.type == 'cuda':
        what = require_gpu()
    else:
        torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', 1)))
        what = f'CPU dry run ({torch.get_num_threads()} threads), torch {torch.__version__}'
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='gpu_check_')
    os.makedirs(work_dir, exist_ok=True)
    t0 = time.time()
    rows = []
    if 'pinas' in args.only:
        rows += pinas_rows(args, device)
    if {'downstream', 'search'} & set(args.only):
        from pinas_mm.datasets.tiny import make_tiny_datasets
        roots = make_tiny_datasets(args.data_dir or osp.join(work_dir, 'data'),
                                   which=('imagenet', 'coco', 'cityscapes'))
        if 'downstream' in args.only:
            rows += downstream_rows(args, device, roots, work_dir)
        if 'search' in args.only:
            rows += search_rows(args, device, roots, work_dir)
    table = (f'gpu_check: {what}; {time.time() - t0:.0f} s; runs in {work_dir}\n\n'
             + format_table(rows))
    print(table, flush=True)
    return table


if __name__ == '__main__':
    try:
        main()
    except NoGPUError as e:
        sys.exit(f'gpu_check: {e}')
