"""Search on a trained supernet (tiny space, 32x32 inputs, CPU).

BN recalibration, scorer determinism, the SearchLoop with evolution (FLOPs budget) and
partition strategies, kill -9 + restart of tools/search.py, 2 CPU ranks vs 1, bad input,
export of the best subnet and the rank-correlation tool.

The supernet is not trained: a SupernetClassifier built from the tiny search config with
random weights and random BN statistics, saved like a checkpoint. Everything here checks
mechanics (statistics, bookkeeping, determinism, equality), not accuracy.
"""
import copy
import csv
import itertools
import json
import os
import os.path as osp
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import yaml
from torch.nn.modules.batchnorm import _BatchNorm

import _rank_scores
from pinas_mm.cli import tool_module as load_tool  # tools/X.py -> its package module
from _search_setup import (ROOT, SEARCH_CFG, mmpretrain_scope, search_config, tiny_loader,
                           tiny_pinas, two_view_pipeline)

#: recalibration images (indices into the 320 tiny train images): a fixed random subset,
#: 2 batches of 16 in this order (sampler without shuffling)
RECAL_INDICES = np.random.RandomState(0).permutation(320)[:32].tolist()
RECAL_BATCH, RECAL_BATCHES = 16, 2
ARCH_A, ARCH_B = '0123012301230123', '3210321032103210'


# ------------------------------------------------------------------------------ helpers
@pytest.fixture(autouse=True, scope='module')
def _one_thread_and_restore_torch_flags():
    """One intra-op thread (the box is shared: 2 threads contend badly) and undo the
    global switches an in-process Runner flips (deterministic algorithms)."""
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(det)


def env():
    e = dict(os.environ)
    e['PYTHONPATH'] = ROOT + os.pathsep + e.get('PYTHONPATH', '')
    e['OMP_NUM_THREADS'] = e['MKL_NUM_THREADS'] = '1'
    return e


def search_opts(tiny_data, indices=RECAL_INDICES):
    """cfg-options shared by every search run here (in-process and CLI)."""
    root = f'{tiny_data}/imagenet/'
    return {'train_dataloader.dataset.data_root': root,
            'train_dataloader.dataset.indices': list(indices),
            'train_dataloader.batch_size': RECAL_BATCH,
            'train_dataloader.sampler.shuffle': False,
            'train_cfg.scorer.dataloader.dataset.data_root': root,
            'train_cfg.recal_batches': RECAL_BATCHES,
            'train_cfg.input_size': 32}


def cli_opts(opts):
    def fmt(v):
        return '[' + ','.join(map(str, v)) + ']' if isinstance(v, (list, tuple)) else str(v)
    return [f'{k}={fmt(v)}' for k, v in opts.items()]


def build_probe_model(state=None):
    """The search config's SupernetClassifier (tiny supernet, GAP, 8-class linear head)."""
    mmpretrain_scope()
    from mmpretrain.registry import MODELS
    model = MODELS.build(search_config().model.to_dict())
    if state is not None:
        model.load_state_dict(state)
    return model


def build_loader(tiny_data, split='train', batch_size=RECAL_BATCH, indices=RECAL_INDICES,
                 pipeline=None, with_label=True, **sampler):
    return tiny_loader(tiny_data, split, batch_size, indices, pipeline, with_label, **sampler)


def val_loader_cfg(tiny_data):
    cfg = search_config().train_cfg.scorer.dataloader.to_dict()
    cfg['dataset']['data_root'] = f'{tiny_data}/imagenet/'
    return cfg


def bn_layers(module):
    return [(n, m) for n, m in module.named_modules() if isinstance(m, _BatchNorm)]


def path_bn_ids(supernet, arch):
    return {id(m) for mod in supernet.path_modules(arch) for m in mod.modules()
            if isinstance(m, _BatchNorm)}


def bn_state(bns):
    return {n: (m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
            for n, m in bns}


def build_search_runner(tiny_data, work_dir, checkpoint, **train_cfg):
    from mmengine.runner import Runner
    import pinas_mm  # noqa: F401
    cfg = copy.deepcopy(search_config())
    cfg.merge_from_dict(search_opts(tiny_data))
    cfg.log_level = 'WARNING'
    for key, value in train_cfg.items():
        cfg.train_cfg[key] = value
    cfg.work_dir, cfg.load_from, cfg.resume, cfg.launcher = str(work_dir), checkpoint, \
        False, 'none'
    return Runner.from_cfg(cfg)


def stored_records(work_dir):
    from pinas_mm.search import SearchHistory
    with SearchHistory(osp.join(work_dir, 'search.db'), 'search', 16, 4) as h:
        return h.records()


def count_complete(db):
    """COMPLETE trials in an Optuna sqlite DB that another process is writing: a plain
    read-only sqlite query (opening a SearchHistory would create/alter the study)."""
    if not osp.exists(db):
        return 0
    try:
        con = sqlite3.connect(f'file:{db}?mode=ro', uri=True, timeout=1)
        try:
            return con.execute(
                "SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:  # not created yet / locked for a moment
        return 0


def search_cmd(tiny_data, work_dir, checkpoint, indices=RECAL_INDICES, num_candidates=10,
               launcher=None):
    opts = dict(search_opts(tiny_data, indices), **{'train_cfg.num_candidates':
                                                    num_candidates})
    cmd = [osp.join(ROOT, 'tools/search.py'), SEARCH_CFG, '--checkpoint', str(checkpoint),
           '--work-dir', str(work_dir), '--cfg-options', *cli_opts(opts)]
    if launcher is None:
        return [sys.executable] + cmd
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    return [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
            f'--master_port={port}'] + cmd + ['--launcher', launcher]


def record_key(r):
    return (str(r['arch']), r['score'], r['flops'], r['params'])


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope='module')
def supernet_ckpt(tmp_path_factory):
    """A 'trained' tiny supernet probe: random weights, random BN statistics/affine and a
    head large enough that different paths predict differently."""
    torch.manual_seed(0)
    model = build_probe_model()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _, m in bn_layers(model):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            m.num_batches_tracked.fill_(1000)
        model.head.fc.weight.copy_(torch.randn(model.head.fc.weight.shape, generator=g))
    path = tmp_path_factory.mktemp('supernet') / 'supernet.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return str(path)


@pytest.fixture(scope='module')
def ckpt_state(supernet_ckpt):
    return torch.load(supernet_ckpt, map_location='cpu', weights_only=True)['state_dict']


@pytest.fixture(scope='module')
def killed_and_restarted(tiny_data, supernet_ckpt, tmp_path_factory):
    """tools/search.py killed (-9) once >= K evaluations are stored, then rerun."""
    n, k = 10, 3
    work_dir = tmp_path_factory.mktemp('killed')
    cmd = search_cmd(tiny_data, work_dir, supernet_ckpt, num_candidates=n)
    db = osp.join(work_dir, 'search.db')
    with open(work_dir / 'first.log', 'w') as log:
        proc = subprocess.Popen(cmd, env=env(), cwd=ROOT, stdout=log, stderr=log)
        deadline = time.time() + 240
        while count_complete(db) < k and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, open(work_dir / 'first.log').read()[-3000:]
    at_kill = stored_records(work_dir)
    rerun = subprocess.run(cmd, env=env(), cwd=ROOT, capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    return dict(work_dir=str(work_dir), n=n, k=k, at_kill=at_kill,
                final=stored_records(work_dir), log=rerun.stdout + rerun.stderr)


# ------------------------------------------------------------------------ BN recalibration
def test_bn_recalibration_sets_path_stats_to_data_statistics(tiny_data, ckpt_state):
    from pinas_mm.search import recalibrate_bn
    model = build_probe_model(ckpt_state)
    supernet = model.backbone
    loader = build_loader(tiny_data)
    arch = supernet.space.arch(ARCH_A)
    on_path = path_bn_ids(supernet, arch)
    path_bns = [(n, m) for n, m in bn_layers(supernet) if id(m) in on_path]
    others = [(n, m) for n, m in bn_layers(model) if id(m) not in on_path]
    assert len(others) > len(path_bns) > 16  # the other candidates' BN (and none of the head)
    others_before = bn_state(others)
    params_before = {k: v.clone() for k, v in model.named_parameters()}

    # flags to restore: the model trains, one path BN is frozen (eval) with its own momentum
    model.train()
    frozen = next(m for n, m in path_bns if n.startswith('layer2.1.candidates.'))
    frozen.eval()
    frozen.momentum = 0.03
    flags_before = {n: (m.momentum, m.training) for n, m in bn_layers(model)}

    # the first BN's input (stem conv 1 output) over the same batches, by hand
    first_conv, first_bn = supernet.stem[0].conv, supernet.stem[0].norm
    means, variances, pooled = [], [], []
    with torch.no_grad():
        for data in itertools.islice(loader, RECAL_BATCHES):
            x = model.data_preprocessor(data, False)['inputs']
            y = first_conv(x).double()
            means.append(y.mean((0, 2, 3)))
            variances.append(y.var((0, 2, 3), unbiased=True))
            pooled.append(y.transpose(0, 1).reshape(y.shape[1], -1))
    # every path BN's input during recalibration (train-mode BN upstream), via hooks
    seen = {n: [] for n, _ in path_bns}

    def hook(name):
        def fn(module, args):
            x = args[0].detach().double()
            seen[name].append((x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=True)))
        return fn
    handles = [m.register_forward_pre_hook(hook(n)) for n, m in path_bns]
    try:
        used = recalibrate_bn(model, arch, loader, RECAL_BATCHES, seed=0)
    finally:
        for h in handles:
            h.remove()
    assert used == RECAL_BATCHES

    # precise BN: running mean/var = average of the per-batch mean / unbiased variance
    exp_mean, exp_var = torch.stack(means).mean(0), torch.stack(variances).mean(0)
    torch.testing.assert_close(first_bn.running_mean.double(), exp_mean, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(first_bn.running_var.double(), exp_var, rtol=1e-4, atol=1e-5)
    # equal batch sizes: the mean is also the pooled mean over all pixels of all images
    torch.testing.assert_close(first_bn.running_mean.double(), torch.cat(pooled, 1).mean(1),
                               rtol=1e-4, atol=1e-5)
    for name, m in path_bns:
        stats = seen[name]
        assert len(stats) == RECAL_BATCHES, name
        torch.testing.assert_close(m.running_mean.double(),
                                   torch.stack([s[0] for s in stats]).mean(0),
                                   rtol=1e-4, atol=1e-5, msg=name)
        torch.testing.assert_close(m.running_var.double(),
                                   torch.stack([s[1] for s in stats]).mean(0),
                                   rtol=1e-4, atol=1e-5, msg=name)
        assert int(m.num_batches_tracked) == RECAL_BATCHES, name
    # other candidates' BN and every parameter untouched
    for name, (mean, var, tracked) in others_before.items():
        m = dict(others)[name]
        assert torch.equal(m.running_mean, mean) and torch.equal(m.running_var, var), name
        assert torch.equal(m.num_batches_tracked, tracked), name
    for k, v in model.named_parameters():
        assert torch.equal(v, params_before[k]), k
    # momentum and train/eval flags restored, the model's too
    assert model.training
    assert {n: (m.momentum, m.training) for n, m in bn_layers(model)} == flags_before
    assert supernet.arch == arch

    # too few batches: a clear error, flags restored all the same
    model.eval()
    with pytest.raises(ValueError, match=r'asked for 3 batches but the dataloader gave 2'):
        recalibrate_bn(model, arch, loader, RECAL_BATCHES + 1)
    assert not model.training and not any(m.training for _, m in bn_layers(model))
    assert frozen.momentum == 0.03


# ---------------------------------------------------------------------- scorer determinism
def _evaluate_twice(model, evaluator, supernet):
    """score(A), then B (moves the shared stem/downsample statistics) and some global
    random draws, then score(A) again; also A's path BN state after each A."""
    s1 = evaluator(supernet.space.arch(ARCH_A))
    state1 = bn_state([(n, m) for n, m in bn_layers(supernet)
                       if id(m) in path_bn_ids(supernet, ARCH_A)])
    evaluator(supernet.space.arch(ARCH_B))
    torch.rand(100), np.random.rand(100)
    s2 = evaluator(supernet.space.arch(ARCH_A))
    state2 = bn_state([(n, m) for n, m in bn_layers(supernet)
                       if id(m) in path_bn_ids(supernet, ARCH_A)])
    for name in state1:
        assert all(torch.equal(a, b) for a, b in zip(state1[name], state2[name])), name
    return s1, s2


def test_linear_probe_scorer_is_deterministic_and_counts_top1(tiny_data, ckpt_state):
    from pinas_mm.search import CandidateEvaluator, LinearProbeScorer
    model = build_probe_model(ckpt_state)
    scorer = LinearProbeScorer(val_loader_cfg(tiny_data))
    evaluator = CandidateEvaluator(model, build_loader(tiny_data), scorer, RECAL_BATCHES)
    s1, s2 = _evaluate_twice(model, evaluator, model.backbone)
    assert s1 == s2
    # the score is the top-1 (%) of the recalibrated path A over the whole val split
    correct = total = 0
    with torch.no_grad():
        model.eval()
        for data in scorer.dataloader:
            data = model.data_preprocessor(data, False)
            logits = model(data['inputs'], mode='tensor')
            gt = torch.cat([s.gt_label for s in data['data_samples']])
            correct += int((logits.argmax(1) == gt).sum())
            total += len(gt)
    assert total == 96
    assert s2 == pytest.approx(100.0 * correct / total, abs=1e-9)


def test_knn_scorer_is_deterministic(tiny_data, ckpt_state):
    from pinas_mm.search import CandidateEvaluator, KNNScorer
    model = build_probe_model(ckpt_state)
    scorer = KNNScorer(val_loader_cfg(tiny_data),
                       memory_dataloader=build_loader(tiny_data, batch_size=32,
                                                      indices=list(range(0, 320, 5))),
                       k=5)
    evaluator = CandidateEvaluator(model, build_loader(tiny_data), scorer, RECAL_BATCHES)
    s1, s2 = _evaluate_twice(model, evaluator, model.backbone)
    assert s1 == s2 and 0.0 <= s1 <= 100.0


def test_selfsup_loss_scorer_is_deterministic_with_random_views(tiny_data):
    """Random multi-view augmentations, num_workers=0: the seeded batches must repeat."""
    from pinas_mm.search import CandidateEvaluator, SelfSupLossScorer
    model = tiny_pinas(seed=0)
    loader = build_loader(tiny_data, batch_size=8, indices=RECAL_INDICES[:16],
                          pipeline=two_view_pipeline(), with_label=False)
    evaluator = CandidateEvaluator(model, loader, SelfSupLossScorer(loader), 2)
    s1, s2 = _evaluate_twice(model, evaluator, model.backbone)
    assert s1 == s2 and s1 < 0
    # the views are really random: another seed draws other crops, another score
    assert SelfSupLossScorer(loader, seed=1)(model) != s2


# ----------------------------------------------------------------------------- the loop
class _SpyEvaluator:
    """Records every arch the loop really evaluates."""

    def __init__(self, evaluator):
        self.evaluator, self.evaluated = evaluator, []

    def complexity(self, arch):
        return self.evaluator.complexity(arch)

    def __call__(self, arch):
        self.evaluated.append(arch)
        return self.evaluator(arch)


def test_evolution_search_respects_flops_budget_and_never_repeats(tiny_data, supernet_ckpt,
                                                                  tmp_path):
    from pinas_mm.models.complexity import complexity_table
    table = complexity_table('tiny', 32, 1000)
    sample = np.array([table(a)[0] for a in
                       np.random.default_rng(0).integers(0, 4, size=(400, 16)).tolist()])
    budget = int(np.quantile(sample, 0.4))  # excludes ~60% of random archs
    assert (sample > budget).mean() > 0.5
    n = 12
    runner = build_search_runner(
        tiny_data, tmp_path, supernet_ckpt, num_candidates=n, flops_budget=budget,
        strategy=dict(type='EvolutionStrategy', population_size=6, top_k=3, num_mutation=2,
                      num_crossover=2, mutate_prob=0.2))
    loop = runner.train_loop
    spy = loop.evaluator = _SpyEvaluator(loop.evaluator)
    runner.train()

    records = stored_records(tmp_path)
    archs = [r['arch'] for r in records]
    assert len(records) == n and len(set(archs)) == n
    assert spy.evaluated == archs  # each evaluated once, stored in evaluation order
    for r in records:
        flops, params = table(r['arch'])
        assert (r['flops'], r['params']) == (flops, params)
        assert flops <= budget, (str(r['arch']), flops, budget)
        assert 0.0 <= r['score'] <= 100.0
    assert len({r['score'] for r in records}) > 1
    with open(tmp_path / 'results.csv') as f:
        rows = list(csv.DictReader(f))
    assert [(row['arch'], float(row['score'])) for row in rows] == \
        [(str(r['arch']), r['score']) for r in records]
    best = yaml.safe_load(open(tmp_path / 'best_arch.yaml'))
    assert best['score'] == max(r['score'] for r in records) and best['evaluations'] == n
    assert best['space'] == 'tiny'


def test_partition_strategy_runs_its_schedule_in_the_loop(tiny_data, supernet_ckpt, tmp_path):
    n = 9
    runner = build_search_runner(
        tiny_data, tmp_path, supernet_ckpt, num_candidates=n,
        strategy=dict(type='PartitionStrategy', init_samples=4, rebuild_every=2,
                      height_schedule=((0, 1), (6, 2)), n_estimators=5,
                      min_node_samples=4, min_leaf_samples=1,
                      lgbm_params=dict(min_data_in_leaf=1), batch_size=256))
    loop = runner.train_loop
    strategy, propose = loop.strategy, loop.strategy.propose
    calls = []

    def spy(history, count=1):
        out = propose(history, count)
        calls.append((len(history), strategy.describe()))
        return out
    strategy.propose = spy
    runner.train()

    records = stored_records(tmp_path)
    assert len(records) == n and len({r['arch'] for r in records}) == n
    assert [h for h, _ in calls] == list(range(n))
    got = [(d['phase'], d['num_samples'], d['height']) for _, d in calls]
    # random below init_samples; then a tree from 4 + 2k samples, rebuilt every 2,
    # with the height of its schedule (1 from 0 samples, 2 from 6)
    assert got == [('random', 0, 0)] * 4 + [('tree', 4, 1), ('tree', 4, 1), ('tree', 6, 2),
                                            ('tree', 6, 2), ('tree', 8, 2)]
    for _, d in calls[4:]:
        assert sum(d['leaf_sizes']) == d['num_samples']


# ------------------------------------------------------------------- kill -9 and restart
def test_killed_search_restarts_to_exactly_the_planned_number(killed_and_restarted):
    run = killed_and_restarted
    n, k, at_kill, final = run['n'], run['k'], run['at_kill'], run['final']
    assert k <= len(at_kill) < n, 'the first run was not killed mid-search'
    assert len(final) == n
    assert len({str(r['arch']) for r in final}) == n
    assert [record_key(r) for r in final[:len(at_kill)]] == [record_key(r) for r in at_kill]
    assert f'{len(at_kill)} evaluations found' in run['log']
    assert f'{n - len(at_kill)} to go' in run['log']
    with open(osp.join(run['work_dir'], 'results.csv')) as f:
        assert [r['arch'] for r in csv.DictReader(f)] == [str(r['arch']) for r in final]


# ------------------------------------------------------------------------- 2 CPU ranks
def test_two_cpu_ranks_give_the_single_process_scores(tiny_data, supernet_ckpt, tmp_path,
                                                      killed_and_restarted):
    """'Same' here: identical records (archs in the same order, scores bit-equal).

    The recalibration batches are the single-process ones dealt out to the ranks (2
    batches of 16: one per rank) and their statistics are averaged in batch order; the
    96 val images are split 48/48 and the correct counts summed over ranks. So both
    recalibrated statistics and top-1 must equal the 1-process ones exactly, and equal
    scores make the strategy propose the same archs. The 1-process reference is the
    killed and restarted run (same config)."""
    cmd = search_cmd(tiny_data, tmp_path, supernet_ckpt, indices=RECAL_INDICES,
                     num_candidates=killed_and_restarted['n'], launcher='pytorch')
    proc = subprocess.run(cmd, env=env(), cwd=ROOT, capture_output=True, text=True,
                          timeout=400)
    assert proc.returncode == 0, proc.stderr[-4000:]
    log = proc.stdout + proc.stderr
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    two, one = stored_records(tmp_path), killed_and_restarted['final']
    assert len({r['score'] for r in one}) > 1  # the comparison means something
    assert [record_key(r) for r in two] == [record_key(r) for r in one]


# --------------------------------------------------------------- scores vs number of ranks
@pytest.fixture(scope='module')
def one_process_scores(tiny_data, supernet_ckpt):
    return _rank_scores.compute(tiny_data, supernet_ckpt)


@pytest.mark.parametrize('ranks', [2, 3])
def test_every_rank_reduced_score_is_independent_of_the_number_of_ranks(
        ranks, tiny_data, supernet_ckpt, one_process_scores, tmp_path):
    """Splits of 5 and 7 images (divisible by neither 2 nor 3) under gloo: the linear
    probe, kNN (bank and queries), self-sup loss, recalibrated BN statistics, the full
    evaluation, a DARTS-PT estimate and mmengine's Evaluator give exactly the
    one-process values (a padded repeat counted once more would move the 5-image top-1
    by 20 points)."""
    ref = one_process_scores
    assert (ref['probe'] * 5 / 100).is_integer() and ref['bn_tracked'] == 2
    assert ref['mmengine_accuracy'] == pytest.approx(ref['probe'])
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    out = tmp_path / 'scores.pth'
    cmd = [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={ranks}',
           f'--master_port={port}', osp.join(ROOT, 'tests/_rank_scores.py'), tiny_data,
           supernet_ckpt, str(out)]
    proc = subprocess.run(cmd, env=env(), cwd=tmp_path, capture_output=True, text=True,
                          timeout=400)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    got = torch.load(out, weights_only=True)
    assert got.pop('world_size') == ranks
    assert sorted(got) == sorted(ref)
    differ = {key: (got[key], value) for key, value in ref.items()
              if not (torch.equal(got[key], value) if isinstance(value, torch.Tensor)
                      else got[key] == value)}
    assert not differ, f'{ranks} ranks vs 1 process: {differ}'


# ---------------------------------------------------------------------------- bad input
def _state_of_resnest50_space_probe():
    from pinas_mm.models import PiNASSuperNet
    backbone = PiNASSuperNet(space='resnest50')
    state = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    state.update({'head.fc.weight': torch.zeros(8, 2048), 'head.fc.bias': torch.zeros(8)})
    return state


@pytest.mark.parametrize('case', ['missing', 'wrong_space', 'budget', 'recal_batches'])
def test_bad_input_fails_before_any_work(case, tiny_data, supernet_ckpt, tmp_path):
    from pinas_mm.models.complexity import complexity_table
    search = load_tool('tools/search.py')
    opts = search_opts(tiny_data)
    ckpt = supernet_ckpt
    if case == 'missing':
        ckpt = str(tmp_path / 'no_such_supernet.pth')
        error, match = SystemExit, 'Supernet checkpoint not found: .*no_such_supernet.pth'
    elif case == 'wrong_space':
        ckpt = str(tmp_path / 'resnest50_space.pth')
        torch.save({'state_dict': _state_of_resnest50_space_probe(), 'meta': {}}, ckpt)
        error, match = ValueError, (r'resnest50_space.pth.* does not fit this search model '
                                    r'\(space tiny\).*mis-shaped keys')
    elif case == 'budget':
        lo = complexity_table('tiny', 32, 1000).bounds()['flops'][0]
        opts['train_cfg.flops_budget'] = lo - 1
        error, match = ValueError, rf'No architecture satisfies flops_budget=\[0, {lo - 1}'
    else:
        opts['train_cfg.recal_batches'] = 7
        error, match = ValueError, (r'recal_batches=7 .* only 2 batches \(one pass over '
                                    r'its dataset of 32 images')
    argv = [SEARCH_CFG, '--checkpoint', ckpt, '--work-dir', str(tmp_path / 'work'),
            '--cfg-options', *cli_opts(opts)]
    try:
        with pytest.raises(error, match=match):
            search.main(argv)
    finally:
        if case == 'wrong_space':
            os.remove(ckpt)  # 370 MB
    work = tmp_path / 'work'
    assert not osp.exists(work / 'search.db') and not osp.exists(work / 'results.csv')


# ------------------------------------------------------------------------------- export
def test_export_best_subnet_loads_in_mmdet_and_matches_the_supernet_path(
        killed_and_restarted, supernet_ckpt, ckpt_state, tmp_path):
    from mmdet.registry import MODELS as DET_MODELS
    from mmengine.registry import DefaultScope
    from pinas_mm.models import PiNASResNeSt
    work_dir = killed_and_restarted['work_dir']
    best = max(killed_and_restarted['final'], key=lambda r: r['score'])
    out = tmp_path / 'export'
    load_tool('tools/export_subnet.py').main(
        [supernet_ckpt, '--from-search', work_dir, '--out-dir', str(out)])
    arch = str(best['arch'])
    arch_file = out / f'{arch}.yaml'
    ckpt = out / f'pinas_tiny_{arch}_backbone.pth'
    assert arch_file.is_file() and ckpt.is_file()
    info = yaml.safe_load(open(arch_file))
    assert info['arch'] == arch and info['space'] == 'tiny'
    assert info['supernet'] == osp.abspath(supernet_ckpt)
    assert info['score'] == best['score']
    assert info['evaluations'] == killed_and_restarted['n']
    state = torch.load(ckpt, map_location='cpu', weights_only=True)['state_dict']
    assert state and all(k.startswith('backbone.') for k in state)

    with DefaultScope.overwrite_default_scope('mmdet'):
        subnet = DET_MODELS.build(dict(
            type='pinas_mm.PiNASResNeSt', arch=arch, space='tiny', out_indices=(0, 1, 2, 3),
            init_cfg=dict(type='Pretrained', checkpoint=str(ckpt), prefix='backbone.')))
    subnet.init_weights()
    assert isinstance(subnet, PiNASResNeSt) and str(subnet.arch) == arch
    supernet = build_probe_model(ckpt_state).backbone
    supernet.out_indices = (0, 1, 2, 3)
    supernet.set_arch(arch)
    subnet.eval(), supernet.eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got, want = subnet(x), supernet(x)
    assert len(got) == len(want) == 4
    for a, b in zip(got, want):
        assert torch.equal(a, b)


# ---------------------------------------------------------------------- rank correlation
def test_rank_correlation_tool(tmp_path):
    from scipy.stats import kendalltau, spearmanr
    a = {'0000000000000000': 1.0, '1111111111111111': 2.0, '2222222222222222': 3.0,
         '3333333333333333': 4.0, '0123012301230123': 5.0, '3210321032103210': 6.0}
    b = {'3210321032103210': 60.0, '2222222222222222': 45.0, '0123012301230123': 40.0,
         '1111111111111111': 10.0, '3333333333333333': 35.0, '0000000000000000': 20.0,
         '0000111122223333': 99.0}  # the last one is only in b: not matched
    for name, data, col in (('a.csv', a, 'score'), ('b.csv', b, 'acc')):
        with open(tmp_path / name, 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(['index', 'arch', col])
            writer.writerows([i, arch, v] for i, (arch, v) in enumerate(data.items()))
    plot = tmp_path / 'scatter.png'
    result = load_tool('tools/analysis/rank_correlation.py').main(
        [str(tmp_path / 'a.csv'), str(tmp_path / 'b.csv'), '--col-b', 'acc', '--topk', '3',
         '--plot', str(plot)])
    common = sorted(a)
    x, y = [a[k] for k in common], [b[k] for k in common]
    assert result['n'] == 6
    assert result['kendall_tau'] == pytest.approx(kendalltau(x, y).statistic, abs=1e-12)
    assert result['spearman_rho'] == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    # by hand: pairs (i, j) ordered alike minus ordered oppositely, over 15 pairs
    sign = [np.sign((x[i] - x[j]) * (y[i] - y[j])) for i, j in itertools.combinations(
        range(6), 2)]
    assert result['kendall_tau'] == pytest.approx(sum(sign) / 15)
    # top-3 of a: 321.., 0123.., 3333..; of b: 321.., 2222.., 0123.. -> 2 of 3
    assert result['topk'] == 3 and result['topk_overlap'] == pytest.approx(2 / 3)
    assert plot.is_file() and open(plot, 'rb').read(8) == b'\x89PNG\r\n\x1a\n'
    json.dumps(result)
