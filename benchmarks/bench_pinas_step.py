"""One Pi-NAS training step vs two MoCo steps on the same subnet (target <= 1.10).

A Pi-NAS step embeds 4 views: the student runs path A on q0 and path B on q1 (forward +
backward), the teacher runs A on k0 and B on k1, and the path-wise EMA touches both paths.
Two MoCo steps do the same amount of network work on ONE architecture: mmpretrain's
``MoCo`` whose backbone is ``pinas_mm.PiNASResNeSt`` of path A, step 1 on (q0, k0), step 2
on (q1, k1) of the same batch, with the same neck, head, queue, momentum and optimizer
(mmengine ``OptimWrapper`` over SGD, ``model.train_step``). The Pi-NAS step counter is
reset before every step so it always samples the same paths (A, B); path B costs a little
more or less than A (its FLOPs are printed).

Steps are timed in turns (one Pi-NAS step, then two MoCo steps) so that load from other
processes hits both alike; the ratio is of the medians.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` over one timed step (absolute, and
above what was allocated before it). On the CPU each algorithm runs alone in a fresh
subprocess: its peak resident set size (``VmHWM`` of /proc/self/status, the counter behind
``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which is the fallback) is reset to the current
RSS via /proc/self/clear_refs just before the first training step (model, optimizer and
batch built) and read after the steps: the growth is activations, gradients, optimizer
state and the allocator's high-water mark. (tracemalloc does not see tensor memory; plain
ru_maxrss can not be reset and keeps the transient peak of the imports, ~1.3 GiB here.)

    python benchmarks/bench_pinas_step.py                        # CPU, tiny space, 32 x 64^2
    python benchmarks/bench_pinas_step.py --device cuda --space resnest50 --batch 32 --size 224
"""
import argparse
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

NECKS = {  # as the Pi-NAS configs (the resnest50 queue is shortened: any multiple works)
    'tiny': dict(in_channels=512, hid_channels=256, out_channels=64, queue_len=1024),
    'resnest50': dict(in_channels=2048, hid_channels=2048, out_channels=128, queue_len=8192),
}


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def build(args, device, which=('pinas', 'moco'), path_a=None):
    """(models, optim wrappers, data, paths) of the algorithms in ``which``."""
    from mmengine.optim import OptimWrapper
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    import pinas_mm  # noqa: F401
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    n = NECKS[args.space]
    common = dict(
        data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], to_rgb=True),
        neck=dict(type='MoCoV2Neck', in_channels=n['in_channels'],
                  hid_channels=n['hid_channels'], out_channels=n['out_channels'],
                  with_avg_pool=True),
        head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
                  temperature=0.2),
        queue_len=n['queue_len'], feat_dim=n['out_channels'], momentum=0.001)
    models, path_b = {}, None
    if 'pinas' in which:
        models['pinas'] = MODELS.build(dict(type='pinas_mm.PiNAS', backbone=dict(
            type='pinas_mm.PiNASSuperNet', space=args.space, out_indices=(3, )), **common))
        path_a, path_b = models['pinas'].sample_paths()  # those of step 0, every step
    if 'moco' in which:
        models['moco'] = MODELS.build(dict(type='MoCo', backbone=dict(
            type='pinas_mm.PiNASResNeSt', arch=path_a, space=args.space,
            out_indices=(3, )), **common))
    models = {k: m.to(device).train() for k, m in models.items()}
    wrappers = {k: OptimWrapper(torch.optim.SGD(
        [p for p in m.parameters() if p.requires_grad], lr=0.03, momentum=0.9,
        weight_decay=1e-4)) for k, m in models.items()}
    g = torch.Generator().manual_seed(0)
    views = [torch.randint(0, 256, (args.batch, 3, args.size, args.size), generator=g,
                           dtype=torch.uint8).to(device) for _ in range(4)]
    samples = [DataSample() for _ in range(args.batch)]
    data = dict(pinas=[dict(inputs=views, data_samples=samples)],
                moco=[dict(inputs=[views[0], views[1]], data_samples=samples),
                      dict(inputs=[views[2], views[3]], data_samples=samples)])
    return models, wrappers, data, (path_a, path_b)


def step(name, models, wrappers, data):
    """One Pi-NAS step, or two MoCo steps."""
    model = models[name]
    for batch in data[name]:
        if name == 'pinas':
            model.step.zero_()  # always the paths (A, B) of step 0
        model.train_step(batch, wrappers[name])


def peak_rss_kib():
    """The process's peak RSS: VmHWM of /proc/self/status (what ru_maxrss reports for a
    single-threaded process, but resettable and not raised by threads that exited
    earlier); ru_maxrss where /proc is missing."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_child(args):
    """In a fresh process: peak RSS growth over warm-up + timed steps of one algorithm."""
    torch.set_num_threads(args.threads)
    device = torch.device('cpu')
    models, wrappers, data, _ = build(args, device, which=(args._mem, ),
                                      path_a=args.path_a)
    import gc
    gc.collect()
    try:  # reset the peak RSS (VmHWM) to the current RSS
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        reset = True
    except OSError:
        reset = False
    before = peak_rss_kib()
    for _ in range(args.warmup + args.mem_steps):
        step(args._mem, models, wrappers, data)
    after = peak_rss_kib()
    print(json.dumps(dict(name=args._mem, before_kib=before, after_kib=after,
                          peak_reset=reset)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--space', default='tiny', choices=sorted(NECKS))
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--size', type=int, default=64)
    parser.add_argument('--repeats', type=int, default=9)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--mem-steps', type=int, default=2,
                        help='steps after warm-up in each CPU memory subprocess')
    parser.add_argument('--threads', type=int, default=1,
                        help='CPU intra-op threads (default 1: stable on a shared box)')
    parser.add_argument('--_mem', choices=['pinas', 'moco'], help=argparse.SUPPRESS)
    parser.add_argument('--path-a', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._mem:
        return memory_child(args)

    device = torch.device(args.device)
    if device.type == 'cpu':
        torch.set_num_threads(args.threads)
    t0 = time.time()
    models, wrappers, data, (path_a, path_b) = build(args, device)
    from pinas_mm.models.complexity import arch_complexity
    fa, fb = (arch_complexity(p, args.space, args.size, 0)[0] for p in (path_a, path_b))
    print(f'device {device} ({torch.get_num_threads()} CPU threads), space {args.space}, '
          f'batch {args.batch} x 4 views of {args.size}^2; path A {path_a} '
          f'({fa / 1e6:.1f} MFLOPs/img), path B {path_b} ({fb / 1e6:.1f} MFLOPs/img); '
          f'built in {time.time() - t0:.1f} s')

    names = {'pinas': '1 Pi-NAS step', 'moco': '2 MoCo steps (path A)'}
    for _ in range(args.warmup):
        for name in models:
            step(name, models, wrappers, data)
    times = {name: [] for name in models}
    peak = {}
    for r in range(args.repeats):
        for name in models:
            if device.type == 'cuda' and r == 0:
                sync(device)
                base = torch.cuda.memory_allocated(device)
                torch.cuda.reset_peak_memory_stats(device)
            sync(device)
            t = time.perf_counter()
            step(name, models, wrappers, data)
            sync(device)
            times[name].append(time.perf_counter() - t)
            if device.type == 'cuda' and r == 0:
                peak[name] = (torch.cuda.max_memory_allocated(device), base)

    print()
    for name, ts in times.items():
        print(f'  {names[name]:<24} median {statistics.median(ts) * 1e3:9.1f} ms   '
              f'min {min(ts) * 1e3:9.1f} ms   ({len(ts)} runs)')
    ratio = statistics.median(times['pinas']) / statistics.median(times['moco'])
    paired = statistics.median(a / b for a, b in zip(times['pinas'], times['moco']))
    print(f'  Pi-NAS step / 2 MoCo steps: {ratio:.3f} (ratio of medians; paired median '
          f'{paired:.3f}); target <= 1.10: {"ok" if ratio <= 1.10 else "ABOVE TARGET"}')

    print('\npeak memory')
    if device.type == 'cuda':
        print('  (torch.cuda.max_memory_allocated over one timed step; "above" = minus the '
              'memory allocated just before it, both models resident)')
        for name, (mx, base) in peak.items():
            print(f'  {names[name]:<24} peak {mx / 2**20:9.1f} MiB   above '
                  f'{(mx - base) / 2**20:9.1f} MiB')
    else:
        print(f'  (CPU: each algorithm alone in a fresh subprocess; peak RSS = VmHWM, the '
              f'counter behind ru_maxrss, after {args.warmup}+{args.mem_steps} steps; growth = '
              f'from just before the first step, where the peak is reset to the current RSS '
              f'via /proc/self/clear_refs)')
        for name in models:
            cmd = [sys.executable, osp.abspath(__file__), '--_mem', name, '--space',
                   args.space, '--batch', str(args.batch), '--size', str(args.size),
                   '--warmup', str(args.warmup), '--mem-steps', str(args.mem_steps),
                   '--threads', str(args.threads), '--path-a', str(path_a)]
            env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
            out = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if out.returncode:
                print(f'  {names[name]}: failed\n{out.stderr[-2000:]}')
                continue
            rec = json.loads(out.stdout.strip().splitlines()[-1])
            print(f'  {names[name]:<24} peak RSS {rec["after_kib"] / 1024:9.1f} MiB   growth '
                  f'over the steps {(rec["after_kib"] - rec["before_kib"]) / 1024:9.1f} MiB'
                  + ('' if rec['peak_reset'] else '  (peak NOT reset: growth understated)'))


if __name__ == '__main__':
    main()
