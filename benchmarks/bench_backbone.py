"""Backbone speed: our subnet vs mmpretrain's ResNeSt-50, and a supernet path vs its subnet.

Two ratios, each measured in this run on the same input, with the models timed in turns
(one round = every model once) so that load from other processes hits them alike:

* ``PiNASResNeSt(arch='resnest50')`` / mmpretrain ``ResNeSt(depth=50)``   (target <= 1.02)
* ``PiNASSuperNet`` with the path set / the same path as ``PiNASResNeSt``  (target <= 1.10)

for an eval-mode ``no_grad`` forward and for a train-mode forward + backward. The subnet
gets ResNeSt's weights (same keys) and the path's subnet the supernet's, so the outputs are
also compared (they must be equal).

    python benchmarks/bench_backbone.py                       # CPU, 1 thread, 4 x 112^2
    python benchmarks/bench_backbone.py --device cuda --batch 32 --size 224 --repeats 20
"""
import argparse
import os.path as osp
import statistics
import sys
import time

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def fwd_eval(model, x):
    with torch.no_grad():
        model(x)


def fwd_bwd_train(model, x):
    model.zero_grad(set_to_none=True)
    out = model(x)
    sum(o.float().mean() for o in out).backward()


def time_in_turns(models, fn, x, repeats, warmup, device):
    """{name: [seconds per call]}; each round calls every model once, in turns."""
    for _ in range(warmup):
        for m in models.values():
            fn(m, x)
    sync(device)
    times = {name: [] for name in models}
    for _ in range(repeats):
        for name, m in models.items():
            sync(device)
            t0 = time.perf_counter()
            fn(m, x)
            sync(device)
            times[name].append(time.perf_counter() - t0)
    return times


def report(title, times, pairs):
    print(f'\n{title}')
    for name, ts in times.items():
        print(f'  {name:<22} median {statistics.median(ts) * 1e3:9.2f} ms   '
              f'min {min(ts) * 1e3:9.2f} ms   ({len(ts)} runs)')
    results = {}
    for num, den, target in pairs:
        med = statistics.median(times[num]) / statistics.median(times[den])
        paired = statistics.median(a / b for a, b in zip(times[num], times[den]))
        best = min(times[num]) / min(times[den])
        ok = 'ok' if med <= target else 'ABOVE TARGET'
        print(f'  {num} / {den}: {med:.3f} (ratio of medians; paired median {paired:.3f}, '
              f'ratio of minima {best:.3f}); target <= {target:.2f}: {ok}')
        results[(num, den)] = med
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--size', type=int, default=112)
    parser.add_argument('--repeats', type=int, default=9)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--threads', type=int, default=1,
                        help='CPU intra-op threads (default 1: stable on a shared box)')
    parser.add_argument('--arch', default='pinas-cls',
                        help='the supernet path of the second ratio')
    parser.add_argument('--skip-train', action='store_true')
    args = parser.parse_args()

    from mmpretrain.models.backbones import ResNeSt

    from pinas_mm.models import PiNASResNeSt, PiNASSuperNet, inherit_subnet_state
    if args.device == 'cpu':
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    t0 = time.time()
    ref = ResNeSt(depth=50)
    ours = PiNASResNeSt(arch='resnest50')
    ours.load_state_dict(ref.state_dict())  # same keys: mmpretrain ResNeSt checkpoints load
    supernet = PiNASSuperNet(space='resnest50')
    path = supernet.set_arch(args.arch)
    subnet = PiNASResNeSt(arch=path)
    subnet.load_state_dict(inherit_subnet_state(supernet.state_dict(), path))
    models = {'mmpretrain ResNeSt-50': ref, 'PiNASResNeSt resnest50': ours,
              'supernet path': supernet, 'subnet of the path': subnet}
    for m in models.values():
        m.to(device)
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)
    print(f'device {device} ({torch.get_num_threads()} CPU threads), input {tuple(x.shape)}, '
          f'{args.repeats} rounds after {args.warmup} warm-up; path {path}; models built in '
          f'{time.time() - t0:.1f} s')

    with torch.no_grad():
        for m in models.values():
            m.eval()
        outs = {name: m(x) for name, m in models.items()}
    same_ref = all(torch.equal(a, b) for a, b in zip(outs['mmpretrain ResNeSt-50'],
                                                      outs['PiNASResNeSt resnest50']))
    same_path = all(torch.equal(a, b) for a, b in zip(outs['supernet path'],
                                                       outs['subnet of the path']))
    print(f'outputs equal: ours vs ResNeSt {same_ref}, supernet path vs subnet {same_path}')

    pairs = [('PiNASResNeSt resnest50', 'mmpretrain ResNeSt-50', 1.02),
             ('supernet path', 'subnet of the path', 1.10)]
    times = time_in_turns(models, fwd_eval, x, args.repeats, args.warmup, device)
    report('eval mode, no_grad forward', times, pairs)
    if not args.skip_train:
        for m in models.values():
            m.train()
        times = time_in_turns(models, fwd_bwd_train, x, args.repeats, args.warmup, device)
        report('train mode, forward + backward', times, pairs)


if __name__ == '__main__':
    main()
