"""The pieces the search loops share: the Budget, DARTS-PT's records in the SearchHistory
(and the import of an older run's perturbation.jsonl), and progressive tuning through the
model's public path-sampling switch."""
import json
import logging
import types

import numpy as np
import pytest
import torch

from pinas_mm.search import SearchHistory
from pinas_mm.search.budget import Budget, parse_limit
from pinas_mm.search.perturbation import (PerturbationLoop, PerturbationSelector,
                                          ProgressiveTuner, restrict_paths)
from pinas_mm.space import Arch, get_space


# ------------------------------------------------------------------------------ Budget
def test_budget_forms_and_one_line_errors():
    assert parse_limit(None, 'flops_budget') is None
    assert parse_limit(5e6, 'flops_budget') == (0, 5e6)
    assert parse_limit([1e6, None], 'params_budget') == (1e6, float('inf'))
    assert parse_limit((None, 7), 'params_budget') == (0.0, 7.0)
    for bad, what in (('5e6', "flops_budget='5e6'"), (True, 'flops_budget=True'),
                      ([1, 2, 3], r'flops_budget=\[1, 2, 3\]'),
                      (float('nan'), 'flops_budget=nan'), ([5, 'x'], r"flops_budget=\[5, 'x'\]"),
                      ([9, 1], r'flops_budget=\[9, 1\]: min 9 > max 1')):
        with pytest.raises(ValueError, match=f'^Invalid {what}.*give None') as err:
            Budget(flops=bad, space='tiny', input_size=32)
        assert '\n' not in str(err.value)
    with pytest.raises(ValueError, match="^Invalid params_budget='-'"):
        Budget(params='-', space='tiny')


def test_budget_is_the_predicate_of_arch_complexity():
    from pinas_mm.models.complexity import arch_complexity, complexity_table
    archs = [Arch(a) for a in np.random.default_rng(0).integers(0, 4, (60, 16)).tolist()]
    counts = {a: arch_complexity(a, 'tiny', 32, 1000) for a in archs}
    flops = sorted(f for f, _ in counts.values())
    params = sorted(p for _, p in counts.values())
    lo, hi, pmax = flops[15], flops[45], params[40]
    budget = Budget([lo, hi], pmax, 'tiny', 32, 1000)
    assert budget.active and not Budget(space='tiny').active
    for a, (f, p) in counts.items():
        assert budget.complexity(a) == dict(flops=f, params=p)
        assert budget(a) == (lo <= f <= hi and p <= pmax)  # bounds inclusive
        assert Budget(space='tiny', input_size=32)(a)  # no limit: every arch
    assert 0 < sum(map(budget, archs)) < len(archs)
    assert budget.describe() == f'flops in [{lo:g}, {hi:g}], params <= {pmax:g}'
    assert Budget(params=[3, None], space='tiny').describe() == 'params >= 3'
    assert Budget(space='tiny').describe() == 'no budget'
    budget.check_reachable()
    smallest = complexity_table('tiny', 32, 1000).bounds()['flops'][0]
    with pytest.raises(ValueError, match=rf'No architecture satisfies flops_budget=\[0, '
                                         rf'{smallest - 1}.*spans flops'):
        Budget(smallest - 1, space=get_space('tiny'), input_size=32,
               num_classes=1000).check_reachable()


# ----------------------------------------------------------- decisions in SearchHistory
def _additive(arch):
    w = np.random.default_rng(0).uniform(0, 1, size=(16, 4))
    return float(w[np.arange(16), list(arch)].sum())


def test_decisions_are_stored_in_the_search_history_and_resumed(tmp_path):
    db = str(tmp_path / 'search.db')
    with SearchHistory(db, 'search', 16, 4) as h:  # a search study in the same database
        h.add('0123012301230123', 1.0)
    calls = []

    def evaluate(arch):
        calls.append(arch)
        if len(calls) == 40:
            raise KeyboardInterrupt('simulated kill')
        return _additive(arch)

    with pytest.raises(KeyboardInterrupt):
        PerturbationSelector(evaluate, 16, 4, num_paths=3, seed=2,
                             history=SearchHistory(db, 'perturbation', 16, 4),
                             log=lambda s: None).run()
    with SearchHistory(db, 'perturbation', 16, 4) as h:
        kinds = [r['kind'] for r in h.decision_records()]
        assert kinds[0] == 'meta' and kinds.count('meta') == 1
        decided = len(h.decisions())
        assert 0 < decided < 16 and kinds.count('decision') == decided
        stored_estimates = h.decision_records('estimate')
        assert len(h) == 0  # decision records are no trials of the study
    with SearchHistory(db, 'search', 16, 4) as h:  # other studies are untouched
        assert h.decision_records() == [] and len(h) == 1
    first = len(calls) - 1
    resumed = PerturbationSelector(evaluate, 16, 4, num_paths=3, seed=2,
                                   history=SearchHistory(db, 'perturbation', 16, 4),
                                   log=lambda s: None)
    arch = resumed.run()
    ref = PerturbationSelector(_additive, 16, 4, num_paths=3, seed=2, log=lambda s: None)
    assert arch == ref.run()
    assert resumed.history.decisions() == ref.history.decisions()
    # the stored estimates were reused, none recomputed or stored twice
    assert resumed.history.decision_records('estimate')[:len(stored_estimates)] == \
        stored_estimates
    assert len(resumed.history.decision_records('estimate')) == \
        len(ref.history.decision_records('estimate'))
    assert len(calls) - 1 - first < sum(len(e['paths'])
                                        for e in ref.history.decision_records('estimate'))
    with pytest.raises(ValueError, match=r"^Invalid decision record .*kind is one of"):
        resumed.history.add_decision(dict(kind='trial'))
    with pytest.raises(ValueError, match='expected an int step'):
        resumed.history.add_decision(dict(kind='estimate', step='3'))


def test_old_perturbation_jsonl_is_imported_on_resume(tmp_path):
    """A work_dir of an older version (records in perturbation.jsonl): its records move
    into the history once, and the selection continues from them."""
    calls = []
    killed = PerturbationSelector(_additive, 16, 4, num_paths=2, seed=0, log=lambda s: None)
    ref_arch = killed.run()
    old = [r for r in killed.history.decision_records()
           if r['kind'] != 'decision' or r['step'] < 5]
    old = [r for r in old if r['kind'] != 'estimate' or r['step'] <= 5]
    (tmp_path / 'perturbation.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in old))
    logs = []
    fake_loop = types.SimpleNamespace(runner=types.SimpleNamespace(
        work_dir=str(tmp_path), logger=types.SimpleNamespace(info=logs.append)))
    history = SearchHistory(str(tmp_path / 'search.db'), 'perturbation', 16, 4)
    PerturbationLoop._import_legacy(fake_loop, history)
    assert history.decision_records() == old
    assert len(logs) == 1 and f'imported {len(old)} records' in logs[0]
    PerturbationLoop._import_legacy(fake_loop, history)  # once only
    assert len(history.decision_records()) == len(old) and len(logs) == 1

    def evaluate(arch):
        calls.append(arch)
        return _additive(arch)
    arch = PerturbationSelector(evaluate, 16, 4, num_paths=2, seed=0, history=history,
                                log=lambda s: None).run()
    assert arch == ref_arch
    assert len(history.decisions()) == 16
    assert all(e['step'] >= 5 for e in history.decision_records('estimate')[len(old):])

    (tmp_path / 'broken').mkdir()
    (tmp_path / 'broken' / 'perturbation.jsonl').write_text('{"kind": "meta"\n')
    fake_loop.runner.work_dir = str(tmp_path / 'broken')
    with pytest.raises(ValueError, match=r'perturbation.jsonl.*is not JSON lines'):
        PerturbationLoop._import_legacy(
            fake_loop, SearchHistory(None, 'perturbation', 16, 4))


# ------------------------------------------------------------------ progressive tuning
class _Batches:
    """A fixed list of batches with a ``sampler`` (the tuner sets its epoch if it can)."""
    sampler = None

    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)


def _frozen_classifier():
    """A tiny SupernetClassifier (sample_path=False) whose configuration attributes
    cannot be set once built: tuning must go through its public switch."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    from pinas_mm.models.algorithms.supernet_classifier import SupernetClassifier
    init_default_scope('mmpretrain')

    class Frozen(SupernetClassifier):
        def __setattr__(self, name, value):
            if name in ('sample_path', 'freeze_backbone', 'path_seed') and \
                    getattr(self, '_built', False):
                raise AttributeError(f'{name} was set to {value!r} from outside')
            super().__setattr__(name, value)

    MODELS.register_module('FrozenSupernetClassifier', module=Frozen, force=True)
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='FrozenSupernetClassifier', sample_path=False,
        data_preprocessor=dict(type='ClsDataPreprocessor', mean=[0., 0., 0.],
                               std=[255., 255., 255.]),
        backbone=dict(type='pinas_mm.PiNASSuperNet', space='tiny', out_indices=(3, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=2, in_channels=512)))
    model._built = True
    return model


def test_tuner_samples_paths_without_changing_the_model_settings(tmp_path, one_thread):
    from mmengine.optim import OptimWrapper
    from mmpretrain.structures import DataSample
    model = _frozen_classifier()
    model.backbone.set_arch('0' * 16)
    g = torch.Generator().manual_seed(0)
    batches = [dict(inputs=[torch.randint(0, 256, (3, 32, 32), generator=g, dtype=torch.uint8)
                            for _ in range(2)],
                    data_samples=[DataSample().set_gt_label(i % 2) for i in range(2)])
               for _ in range(3)]
    trained = []
    model.backbone.register_forward_pre_hook(
        lambda m, args: trained.append(tuple(m.arch)) if m.training else None)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    tuner = ProgressiveTuner(model, optim, model.backbone, _Batches(batches), iters=5,
                             seed=0, ckpt_dir=str(tmp_path / 'ckpt'), max_keep_ckpts=1,
                             logger=logging.getLogger('test_loops'))
    allowed = [[1]] * 8 + [[2, 3]] * 8
    model.eval()
    tuner(0, allowed)
    assert model.sample_path is False and not model.training  # settings and mode kept
    assert len(trained) == 5 and len(set(trained)) > 1  # a new path every step
    assert all(c in allowed[i] for a in trained for i, c in enumerate(a))
    # the paths are the model's own (Random(path_seed, step)), as with sample_path=True
    from pinas_mm.models.backbones.resnest_space import step_rng
    with restrict_paths(model.backbone, allowed):
        assert trained == [tuple(model.backbone.sample_arch(step_rng(0, torch.tensor([s]))))
                           for s in range(5)]
    assert int(model.step) == 5 and model.backbone.allowed_candidates is None
    assert (tmp_path / 'ckpt' / 'decision_1.pth').is_file()
    # outside the tuning the configured behaviour is back: the current path is trained
    model.backbone.set_arch('0' * 16)
    trained.clear()
    model.train()
    model.train_step(batches[0], optim_wrapper=optim)
    assert trained == [(0, ) * 16]
    with pytest.raises(AttributeError, match='from outside'):
        model.sample_path = True  # the guard the tuner passed is real
