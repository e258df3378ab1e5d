"""Perturbation-based selection (DARTS-PT) and the NTAA adaptation flow."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

from pinas_mm.search import SearchHistory
from pinas_mm.search.perturbation import PerturbationSelector, restrict_paths, sample_paths
from pinas_mm.space import Arch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PT_CFG = osp.join(ROOT, 'configs/search/perturbation_pinas-tiny-supernet_linear-probe_tiny-in.py')
W = np.random.default_rng(0).uniform(0, 1, size=(16, 4))
BEST = np.random.default_rng(1).integers(0, 4, size=16)
W[np.arange(16), BEST] = 10.0  # one clearly important candidate per block


def additive(arch):
    return float(W[np.arange(16), list(arch)].sum())


class Tracking:
    """A selector whose evaluator checks every path against the estimate it serves."""

    def __init__(self, history=None, fail_at_step=None, fail_after=0, num_paths=12, **kw):
        self.calls = []  # (step, arch)
        self.current = None
        self.fail_at_step, self.fail_after = fail_at_step, fail_after
        self.sel = PerturbationSelector(self.evaluate, 16, 4, num_paths=num_paths, seed=3,
                                        history=history, log=lambda s: None, **kw)
        estimate = self.sel.estimate

        def tracked(step, block, removed, allowed):
            self.current = (step, block, removed, [list(a) for a in allowed])
            return estimate(step, block, removed, allowed)
        self.sel.estimate = tracked

    def evaluate(self, arch):
        step, block, removed, allowed = self.current
        assert arch[block] != removed, (arch, block, removed)
        assert all(arch[i] in allowed[i] for i in range(16)), (arch, allowed)
        if step == self.fail_at_step and sum(s == step for s, _ in self.calls) >= self.fail_after:
            raise KeyboardInterrupt('simulated kill')
        self.calls.append((step, arch))
        return additive(arch)


def _history(path, study='perturbation'):
    """The selection records of the space of these tests in the SQLite file ``path``."""
    return SearchHistory(path, study, 16, 4)


def test_every_block_decided_once_and_removed_candidate_never_sampled():
    t = Tracking()
    arch = t.sel.run()
    decisions = t.sel.history.decisions()
    assert [d['step'] for d in decisions] == list(range(16))
    assert sorted(d['block'] for d in decisions) == list(range(16))
    assert [d['block'] for d in decisions] == t.sel.order
    assert tuple(arch) == tuple(BEST)  # the important candidate of every block is kept
    for est in t.sel.history.decision_records('estimate'):
        blocks = [Arch.parse(p)[est['block']] for p in est['paths']]
        assert est['removed'] not in blocks
        assert set(blocks) <= {0, 1, 2, 3} - {est['removed']}
    # decided blocks stay fixed in every later path
    fixed = {}
    for d in decisions:
        for est in t.sel.history.decision_records('estimate'):
            if est['step'] > d['step']:
                assert all(Arch.parse(p)[d['block']] == d['choice'] for p in est['paths'])
        fixed[d['block']] = d['choice']
    assert len(t.calls) == len(set(a for _, a in t.calls))  # cached: no path scored twice


def test_decision_is_argmin_of_with_removal_scores():
    # a scorer that likes removing things: the argmin must still be taken as given
    rng = np.random.default_rng(5)
    table = {}

    def noisy(arch):
        return table.setdefault(arch, float(rng.normal()))

    sel = PerturbationSelector(noisy, 16, 4, num_paths=3, seed=1, log=lambda s: None)
    arch = sel.run()
    for d in sel.history.decisions():
        ests = {e['removed']: e for e in sel.history.decision_records('estimate')
                if e['step'] == d['step']}
        assert sorted(ests) == [0, 1, 2, 3]
        means = {c: np.mean([table[Arch.parse(p)] for p in e['paths']]) for c, e in ests.items()}
        for c, e in ests.items():
            assert e['score'] == pytest.approx(means[c])
            assert d['scores_without'][str(c)] == pytest.approx(means[c])
        assert d['choice'] == min(means, key=lambda c: (means[c], c))
        assert arch[d['block']] == d['choice']


def test_sample_paths_common_random_numbers_and_errors():
    allowed = [[0, 1, 2, 3]] * 16
    a = sample_paths(allowed, 4, 0, 5, seed=0, step=2, num_choices=4)
    b = sample_paths(allowed, 4, 3, 5, seed=0, step=2, num_choices=4)
    for x, y in zip(a, b):  # other blocks identical across the removed candidates
        assert [c for i, c in enumerate(x) if i != 4] == [c for i, c in enumerate(y) if i != 4]
    # uniform over the remaining candidates of the block, the others untouched
    many = sample_paths(allowed[:15] + [[0, 2]], 4, 1, 600, seed=0, step=0, num_choices=4)
    counts = np.bincount([p[4] for p in many], minlength=4)
    assert counts[1] == 0 and all(150 < n < 250 for n in counts[[0, 2, 3]])
    assert {p[15] for p in many} == {0, 2}
    with pytest.raises(ValueError, match='only one allowed'):
        sample_paths([[1]] + [[0, 1]] * 15, 0, 1, 2, 0, 0, 4)
    with pytest.raises(ValueError, match='exactly once'):
        PerturbationSelector(additive, 16, 4, order=[0] * 16)


def test_resume_after_kill_continues_without_recomputing(tmp_path):
    ref = Tracking()
    ref_arch = ref.sel.run()

    path = str(tmp_path / 'search.db')
    tuned = []

    class FakeTuner:
        def restore(self, n):
            return len(tuned) if len(tuned) <= n else n

        def __call__(self, step, allowed):
            tuned.append(step)

    killed = Tracking(_history(path), fail_at_step=6, fail_after=14, tuner=FakeTuner())
    with pytest.raises(KeyboardInterrupt):
        killed.sel.run()
    stored = _history(path)
    assert len(stored.decisions()) == 6 and tuned == list(range(6))
    partial = stored.estimates(6)
    assert 0 < len(partial) < 4  # estimates of the unfinished block were kept too

    resumed = Tracking(_history(path), tuner=FakeTuner())
    arch = resumed.sel.run()
    assert arch == ref_arch
    steps = [s for s, _ in resumed.calls]
    assert min(steps) == 6  # nothing of the decided blocks is recomputed
    # the kept estimates of step 6 are reused (a recomputed one would be stored twice)
    assert set(resumed.sel.history.estimates(6)) == {0, 1, 2, 3}
    final = _history(path)
    assert [d['block'] for d in final.decisions()] == ref.sel.order
    assert [d['choice'] for d in final.decisions()] == \
        [d['choice'] for d in ref.sel.history.decisions()]
    for step in range(16):  # one estimate per candidate, never duplicated
        assert sorted(e['removed'] for e in final.decision_records('estimate')
                      if e['step'] == step) == [0, 1, 2, 3]
    assert tuned == list(range(15))  # tuned once after every decision but the last

    # other settings: refuse to continue
    with pytest.raises(ValueError, match='num_paths'):
        PerturbationSelector(additive, 16, 4, num_paths=2, seed=3,
                             history=_history(path)).run()


def test_resume_reruns_a_lost_tuning(tmp_path):
    path = str(tmp_path / 'p.db')
    saved, calls = [], []

    class LossyTuner:  # the checkpoint of decision 3 was never written
        def restore(self, n):
            return max((k for k in saved if k <= n), default=0)

        def __call__(self, step, allowed):
            calls.append(step)
            if step != 3 or len(calls) > 4:
                saved.append(step + 1)

    t = Tracking(_history(path), fail_at_step=4, fail_after=0, tuner=LossyTuner())
    with pytest.raises(KeyboardInterrupt):
        t.sel.run()
    assert calls == [0, 1, 2, 3]
    Tracking(_history(path), tuner=LossyTuner()).sel.run()
    assert calls == [0, 1, 2, 3] + [3] + list(range(4, 15))


def test_restrict_paths_limits_sampling_and_restores():
    import random

    from pinas_mm.models.backbones import PiNASSuperNet
    net = PiNASSuperNet(space='tiny', out_indices=(3, ))
    allowed = [[2]] * 3 + [[0, 3]] * 13
    with restrict_paths(net, allowed):
        for s in range(30):
            rng = random.Random(s)
            a = net.sample_arch(rng)
            assert all(c in allowed[i] for i, c in enumerate(a))
            p, q = net.sample_disjoint_archs(rng)
            assert all(p[i] != q[i] for i in range(3, 16)) and p[:3] == q[:3] == (2, 2, 2)
        # a caller's own restriction is intersected
        a = net.sample_arch(random.Random(0), allowed=[[2]] * 3 + [[3]] * 13)
        assert tuple(a) == (2, 2, 2) + (3, ) * 13
        with pytest.raises(ValueError, match='do not intersect'):
            net.sample_arch(random.Random(0), allowed=[[1]] * 16)
    assert 'sample_arch' not in net.__dict__
    seen = {c for s in range(40) for c in net.sample_arch(random.Random(s))}
    assert seen == {0, 1, 2, 3}


def test_restrict_paths_reaches_the_training_step(one_thread):
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    init_default_scope('mmpretrain')
    model = MODELS.build(dict(
        type='pinas_mm.SupernetClassifier', sample_path=True,
        backbone=dict(type='pinas_mm.PiNASSuperNet', space='tiny', out_indices=(3, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=2, in_channels=512)))
    allowed = [[1]] * 8 + [[2, 3]] * 8
    samples = [DataSample().set_gt_label(i % 2) for i in range(2)]
    with restrict_paths(model.backbone, allowed):
        for _ in range(6):
            model.loss(torch.randn(2, 3, 32, 32), samples)
            assert all(c in allowed[i] for i, c in enumerate(model.backbone.arch))


# ----------------------------------------------------------------------- real runner
def _env():
    e = dict(os.environ)
    e['PYTHONPATH'] = ROOT + os.pathsep + e.get('PYTHONPATH', '')
    e['OMP_NUM_THREADS'] = '1'  # more threads than free cores is many times slower
    return e


def _probe_checkpoint(path):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(PT_CFG).model)
    torch.save(dict(state_dict=model.state_dict()), path)
    return model


def test_perturbation_loop_kill_and_resume_with_tuning(tiny_data, tmp_path, one_thread):
    """tools/search.py with the perturbation config; killed after 3 decisions (raised from
    the tuner, after its checkpoint), then rerun: continues at decision 3 from the tuned
    weights, and ends where an uninterrupted run ends."""
    ckpt = str(tmp_path / 'probe.pth')
    _probe_checkpoint(ckpt)
    root = f'{tiny_data}/imagenet/'
    opts = [f'train_dataloader.dataset.data_root={root}', 'train_dataloader.batch_size=8',
            f'train_cfg.scorer.dataloader.dataset.data_root={root}',
            'train_cfg.scorer.dataloader.batch_size=16', 'train_cfg.scorer.num_batches=1',
            f'train_cfg.tune_dataloader.dataset.data_root={root}',
            'train_cfg.tune_dataloader.batch_size=8', 'train_cfg.num_paths=1',
            'train_cfg.recal_batches=1', 'train_cfg.tune_iters=1',
            'train_cfg.order=[' + ','.join(str(i) for i in range(16)) + ']']
    script = tmp_path / 'run.py'
    script.write_text(f'''
import sys, torch
torch.set_num_threads(1)
sys.argv = ['search.py'] + sys.argv[1:]
kill_after = int(sys.argv.pop(1))
calls_file = sys.argv.pop() + '.calls'
from pinas_mm.search import perturbation
if kill_after:
    tune = perturbation.ProgressiveTuner.__call__
    def killing(self, step, allowed):
        tune(self, step, allowed)
        if step + 1 == kill_after:
            raise SystemExit(3)
    perturbation.ProgressiveTuner.__call__ = killing
evaluate = perturbation.CandidateEvaluator.__call__
def counting(self, arch):
    with open(calls_file, 'a') as f:
        f.write(str(arch) + '\\n')
    return evaluate(self, arch)
perturbation.CandidateEvaluator.__call__ = counting
from pinas_mm.cli.search import main
main()
''')

    def run(work_dir, kill_after):
        cmd = [sys.executable, str(script), str(kill_after), PT_CFG, '--checkpoint', ckpt,
               '--work-dir', str(work_dir), '--cfg-options', *opts, str(work_dir)]
        return subprocess.run(cmd, env=_env(), cwd=ROOT, capture_output=True, text=True,
                              timeout=600)

    ref = run(tmp_path / 'ref', 0)
    assert ref.returncode == 0, ref.stderr[-3000:]
    killed = run(tmp_path / 'run', 3)
    assert killed.returncode == 3, killed.stderr[-3000:]
    store = _history(str(tmp_path / 'run' / 'search.db'))
    assert len(store.decisions()) == 3
    first_calls = (tmp_path / 'run.calls').read_text().split()
    resumed = run(tmp_path / 'run', 0)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    log = resumed.stdout + resumed.stderr
    assert '3 of 16 blocks decided' in log and 'decision 3 loaded' in log
    all_calls = (tmp_path / 'run.calls').read_text().split()
    assert len(all_calls) > len(first_calls)
    ref_store = _history(str(tmp_path / 'ref' / 'search.db'))
    got = _history(str(tmp_path / 'run' / 'search.db'))
    assert [d['choice'] for d in got.decisions()] == [d['choice'] for d in ref_store.decisions()]
    assert [d['scores_without'] for d in got.decisions()] == \
        [d['scores_without'] for d in ref_store.decisions()]
    assert [d['block'] for d in got.decisions()] == list(range(16))
    # the resumed run continued from the tuned weights: same final supernet as the reference
    a = torch.load(tmp_path / 'ref/perturbation_ckpt/decision_15.pth', weights_only=True)
    b = torch.load(tmp_path / 'run/perturbation_ckpt/decision_15.pth', weights_only=True)
    for k in a['state_dict']:
        assert torch.equal(a['state_dict'][k], b['state_dict'][k]), k
    src = torch.load(ckpt, weights_only=True)['state_dict']
    assert not torch.equal(src['backbone.stem.0.conv.weight'],
                           b['state_dict']['backbone.stem.0.conv.weight'])
    best = (tmp_path / 'run' / 'best_arch.yaml').read_text()
    final = ''.join(str(d['choice']) for d in got.decisions())
    assert f"arch: '{final}'" in best and 'decision_15.pth' in best
    assert sum(1 for _ in open(tmp_path / 'run' / 'perturbation.csv')) == 17


# ------------------------------------------------------------------------ NTAA flow
def _load_tool(name):
    """The package module behind tools/<name>.py."""
    import importlib
    return importlib.import_module(dict(adapt_domain='pinas_mm.orchestration.ntaa')[name])


def test_coco_crops_is_a_custom_dataset(tiny_data, tmp_path):
    adapt = _load_tool('adapt_domain')
    out = str(tmp_path / 'crops')
    counts = adapt.coco_crops(f'{tiny_data}/coco', out)
    assert counts['train'] > 100 and counts['val'] > 30
    from mmpretrain.datasets import CustomDataset
    ds = CustomDataset(data_root=out, data_prefix='val', ann_file='meta/val.txt',
                       metainfo=dict(classes=('circle', 'square', 'triangle')))
    assert len(ds) == counts['val']
    assert set(int(x) for x in ds.get_gt_labels()) == {0, 1, 2}


@pytest.mark.timeout(180)
def test_adaptation_flow_adapts_searches_exports_and_resumes(tiny_data, tmp_path,
                                                             monkeypatch, one_thread):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    source_cfg = Config.fromfile(
        osp.join(ROOT, 'configs/pinas/pinas_tiny-space_1xb16-coslr-16e_tiny-in.py'))
    source = str(tmp_path / 'source.pth')
    torch.save(dict(state_dict=MODELS.build(source_cfg.model).state_dict()), source)
    base = osp.join(ROOT, 'configs/ntaa/ntaa_pinas-tiny_adapt-probe-search_tiny-in.py')
    one_epoch = [dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=0, end=1)]
    (tmp_path / 'ntaa.py').write_text(f'''
_base_ = [{base!r}]
target = dict(data_root={tiny_data + '/imagenet/'!r})
adapt = dict(cfg_options={{'train_cfg.max_epochs': 1, 'train_dataloader.dataset.indices': 32,
                          'param_scheduler': {one_epoch!r}}})
probe = dict(cfg_options={{'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 1,
                          'train_dataloader.dataset.indices': 64,
                          'param_scheduler': {one_epoch!r}}})
search = dict(cfg_options={{'train_cfg.num_candidates': 2, 'train_cfg.recal_batches': 1,
                           'train_cfg.scorer.num_batches': 1}})
''')
    adapt = _load_tool('adapt_domain')
    work = str(tmp_path / 'work')
    summary = adapt.main([str(tmp_path / 'ntaa.py'), '--source', source, '--work-dir', work])
    stages = summary['stages']
    assert list(stages) == ['adapt', 'probe', 'search', 'export']
    src = torch.load(source, weights_only=True)['state_dict']
    adapted = torch.load(stages['adapt']['checkpoint'], weights_only=True)['state_dict']
    key = 'backbone.stem.0.conv.weight'
    assert not torch.equal(src[key], adapted[key])  # the supernet moved on the target
    probe = torch.load(stages['probe']['checkpoint'], weights_only=True)['state_dict']
    assert torch.equal(probe[key], adapted[key])  # the probe froze the adapted supernet
    arch = Arch.from_file(stages['export']['arch_file'])
    best = Arch.from_file(stages['search']['best_arch'])
    assert arch == best
    exported = torch.load(stages['export']['checkpoint'], weights_only=True)['state_dict']
    assert torch.equal(exported[key], adapted[key])
    # rerun: every stage is found finished, nothing runs again
    marker = osp.join(work, 'adapt', 'ntaa_stage.json')
    mtime = os.path.getmtime(stages['adapt']['checkpoint'])
    again = adapt.main([str(tmp_path / 'ntaa.py'), '--source', source, '--work-dir', work])
    assert again['stages'] == stages and os.path.getmtime(stages['adapt']['checkpoint']) == mtime
    assert json.load(open(marker))['outputs'] == stages['adapt']
