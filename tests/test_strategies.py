"""Search strategies and the Optuna-backed search history (pure python, no models)."""
import csv
import json
import multiprocessing as mp
import os
import signal
import time

import numpy as np
import pytest

from pinas_mm.registry import STRATEGIES
from pinas_mm.search import (BaseStrategy, EvolutionStrategy, PartitionStrategy,
                             RandomStrategy, SearchHistory, tree_height)
from pinas_mm.search.driver import run_search as drive
from pinas_mm.search.memory_history import memory_history
from pinas_mm.space import Arch

RNG = np.random.default_rng(0)
W = RNG.normal(size=(16, 4))  # additive synthetic objective


def objective(arch):
    return float(W[np.arange(16), list(arch)].sum())


def small_partition(**kw):
    cfg = dict(init_samples=10, rebuild_every=4, height_schedule=((0, 1), (20, 2), (40, 3)),
               n_estimators=10, batch_size=512)
    cfg.update(kw)
    return PartitionStrategy(**cfg)


STRATEGY_FACTORIES = {
    'random': lambda **kw: RandomStrategy(**kw),
    'evolution': lambda **kw: EvolutionStrategy(population_size=10, top_k=5, **kw),
    'partition': lambda **kw: small_partition(**kw),
}


def run_search(strategy, total, history=None):
    """Sequential loop (the driver, one worker, in memory): propose one, score it, append;
    returns [(arch, score)]."""
    store = memory_history(history or [], strategy.num_blocks, strategy.num_choices)
    drive(strategy, objective, store, total)
    return store.pairs()


def random_history(n, seed=1):
    rng = np.random.default_rng(seed)
    archs = {Arch(tuple(int(c) for c in rng.integers(0, 4, 16))) for _ in range(n)}
    return [(a, objective(a)) for a in sorted(archs)]


# ------------------------------------------------------------------------------ history
def test_history_roundtrip_sqlite(tmp_path):
    url = f'sqlite:///{tmp_path}/sub/search.db'
    hist = SearchHistory(url, study_name='s1')
    a, b, c = Arch.parse('3013231203213032'), Arch.parse('1' * 16), Arch.parse('0' * 16)
    rec = hist.add(a, 0.7, flops=4.1e9, params=np.float32(27.5), rank={'kendall': 0.5})
    assert rec['arch'] == a and rec['score'] == 0.7 and rec['flops'] == 4.1e9
    hist.add('1' * 16, 0.9)
    hist.add(c, -1.5, flops=1.0)
    hist.set_meta('config_hash', 'abc123')
    hist.set_meta('strategy', {'name': 'partition', 'seed': 3})
    assert len(hist) == 3 and a in hist and '1' * 16 in hist and Arch.parse('2' * 16) not in hist
    hist.close()

    again = SearchHistory(url, study_name='s1')
    recs = again.records()
    assert [r['arch'] for r in recs] == [a, b, c]
    assert isinstance(recs[0]['arch'], Arch)
    assert recs[0]['params'] == pytest.approx(27.5) and recs[0]['rank'] == {'kendall': 0.5}
    assert again.scores() == {a: 0.7, b: 0.9, c: -1.5}
    assert again.pairs() == [(a, 0.7), (b, 0.9), (c, -1.5)]
    assert [r['arch'] for r in again.best(2)] == [b, a] and again.best()[0]['score'] == 0.9
    assert again.get_meta('config_hash') == 'abc123'
    assert again.get_meta('strategy') == {'name': 'partition', 'seed': 3}
    assert again.get_meta('missing', 5) == 5
    # the study is a plain Optuna study: params b0..b15, value, user attr 'arch'
    trial = again.study.trials[0]
    assert trial.params == {f'b{i}': v for i, v in enumerate(a)} and trial.value == 0.7
    assert trial.user_attrs['arch'] == str(a)

    again.to_csv(str(tmp_path / 'out' / 'h.csv'))
    with open(tmp_path / 'out' / 'h.csv') as f:
        rows = list(csv.DictReader(f))
    assert [r['arch'] for r in rows] == [str(a), str(b), str(c)]
    assert rows[0]['flops'] == str(4.1e9) and rows[1]['flops'] == ''
    assert float(rows[2]['score']) == -1.5
    again.to_json(str(tmp_path / 'h.json'))
    data = json.loads((tmp_path / 'h.json').read_text())
    assert [r['arch'] for r in data['records']] == [str(a), str(b), str(c)]
    assert data['meta']['config_hash'] == 'abc123' and data['direction'] == 'maximize'


def test_history_rejects_bad_input(tmp_path):
    url = f'sqlite:///{tmp_path}/search.db'
    hist = SearchHistory(url)
    hist.add('3013231203213032', 1.0)
    with pytest.raises(ValueError, match='already recorded'):
        hist.add(Arch.parse('3013231203213032'), 2.0)
    with pytest.raises(ValueError, match='nan'):
        hist.add('0' * 16, float('nan'))
    with pytest.raises(ValueError, match='JSON'):
        hist.add('0' * 16, 1.0, obj=object())
    with pytest.raises(ValueError, match='Invalid arch'):
        hist.add('0' * 15, 1.0)
    assert len(hist) == 1
    hist.add('0' * 16, float('-inf'))  # a failed evaluation
    # a second process / reopened store sees the record and refuses it too
    other = SearchHistory(url)
    with pytest.raises(ValueError, match='already recorded'):
        other.add('3013231203213032', 5.0)
    with pytest.raises(ValueError, match='direction'):
        SearchHistory(url, direction='minimize')
    with pytest.raises(ValueError, match='num_choices'):
        SearchHistory(url, num_choices=3)


def test_history_minimize_and_in_memory():
    hist = SearchHistory(None, direction='minimize', num_blocks=4, num_choices=2)
    hist.add('0101', 3.0)
    hist.add('1111', 1.0)
    assert [str(r['arch']) for r in hist.best(5)] == ['1111', '0101']
    assert hist.pairs() == [(Arch.parse('0101', 4, 2), -3.0), (Arch.parse('1111', 4, 2), -1.0)]


def _writer(url, count_queue):
    """Child process: add records forever (each committed), report progress."""
    hist = SearchHistory(url, study_name='killed')
    rng = np.random.default_rng(7)
    i = 0
    while True:
        arch = Arch(tuple(int(c) for c in rng.integers(0, 4, 16)))
        if arch in hist:
            continue
        hist.add(arch, objective(arch), step=i)
        i += 1
        count_queue.put(i)


def test_history_survives_sigkill(tmp_path):
    url = f'sqlite:///{tmp_path}/search.db'
    ctx = mp.get_context('fork')
    queue = ctx.Queue()
    proc = ctx.Process(target=_writer, args=(url, queue), daemon=True)
    proc.start()
    written, deadline = 0, time.time() + 30
    while written < 6 and time.time() < deadline:
        written = queue.get(timeout=30)
    os.kill(proc.pid, signal.SIGKILL)  # no cleanup, possibly in the middle of a write
    proc.join(10)
    assert written >= 6
    hist = SearchHistory(url, study_name='killed')
    recs = hist.records()
    assert len(recs) >= written  # every committed add is there
    assert [r['step'] for r in recs] == list(range(len(recs)))
    assert all(r['score'] == pytest.approx(objective(r['arch'])) for r in recs)
    assert len({r['arch'] for r in recs}) == len(recs)
    hist.add('3' * 16, 0.0)  # the store is writable again
    assert len(SearchHistory(url, study_name='killed')) == len(recs) + 1


def _racer(url, worker, per_worker, start, results):
    """Child process: wait for the others, open the (new) storage, add its records."""
    try:
        start.wait(60)
        hist = SearchHistory(url, study_name='race')
        for i in range(per_worker):
            arch = Arch([worker, i // 4, i % 4] + [0] * 13)
            hist.add(arch, objective(arch), worker=worker, step=i)
        hist.close()
        results.put((worker, None))
    except BaseException as e:  # noqa: BLE001 - reported to the test
        results.put((worker, f'{type(e).__name__}: {e}'))


def test_history_processes_starting_together_on_a_new_db_lose_nothing(tmp_path):
    """4 processes released by one barrier on a new sqlite DB (table creation, study
    creation and writes all race), 15 records each: exactly 60 records, no error. Three
    new DBs: the race of the old code failed in most but not every round."""
    workers, per_worker = 4, 15
    ctx = mp.get_context('fork')
    for round_ in range(3):
        url = f'sqlite:///{tmp_path}/new{round_}/search.db'
        start, results = ctx.Barrier(workers), ctx.Queue()
        procs = [ctx.Process(target=_racer, args=(url, w, per_worker, start, results))
                 for w in range(workers)]
        for p in procs:
            p.start()
        outcome = dict(results.get(timeout=240) for _ in procs)
        for p in procs:
            p.join(30)
        assert outcome == {w: None for w in range(workers)}, round_
        recs = SearchHistory(url, study_name='race').records()
        assert len(recs) == workers * per_worker, round_
        assert sorted((r['worker'], r['step']) for r in recs) == \
            [(w, i) for w in range(workers) for i in range(per_worker)]


# ---------------------------------------------------------------------------- strategies
@pytest.mark.parametrize('name', sorted(STRATEGY_FACTORIES))
def test_proposals_new_distinct_valid(name):
    def is_valid(arch):  # about half the space
        return sum(arch) <= 24

    strategy = STRATEGY_FACTORIES[name](seed=3, is_valid=is_valid)
    history = [(a, s) for a, s in random_history(30) if is_valid(a)]
    seen = {a for a, _ in history}
    for _ in range(2):
        batch = strategy.propose(history, n=16)
        assert len(batch) == 16 and len(set(batch)) == 16
        assert all(isinstance(a, Arch) for a in batch)
        assert not seen & set(batch)
        assert all(is_valid(a) for a in batch)
        history += [(a, objective(a)) for a in batch]
        seen |= set(batch)
    # the sequential loop too (crosses the partition's rebuilds and random phase)
    history = run_search(STRATEGY_FACTORIES[name](seed=4, is_valid=is_valid), 45)
    archs = [a for a, _ in history]
    assert len(set(archs)) == 45 and all(is_valid(a) for a in archs)


@pytest.mark.parametrize('name', sorted(STRATEGY_FACTORIES))
def test_deterministic_given_seed_and_history(name):
    history = random_history(24)
    first = STRATEGY_FACTORIES[name](seed=11).propose(history, n=5)
    again = STRATEGY_FACTORIES[name](seed=11).propose(history, n=5)
    assert first == again
    assert STRATEGY_FACTORIES[name](seed=12).propose(history, n=5) != first
    # history given as strings / a mapping works the same
    as_text = [(str(a), s) for a, s in history]
    assert STRATEGY_FACTORIES[name](seed=11).propose(as_text, n=5) == first
    assert STRATEGY_FACTORIES[name](seed=11).propose(dict(history), n=5) == first
    # a whole run is reproducible
    assert run_search(STRATEGY_FACTORIES[name](seed=5), 30) == \
        run_search(STRATEGY_FACTORIES[name](seed=5), 30)


@pytest.mark.parametrize('name', sorted(STRATEGY_FACTORIES))
@pytest.mark.parametrize('history_len', [0, 24])
def test_impossible_budget_raises(name, history_len):
    strategy = STRATEGY_FACTORIES[name](is_valid=lambda arch: False, max_tries=300)
    with pytest.raises(RuntimeError, match='is_valid.*budget'):
        strategy.propose(random_history(history_len), n=1)


@pytest.mark.parametrize('name', sorted(STRATEGY_FACTORIES))
def test_exhausted_small_space_raises(name):
    kw = dict(num_blocks=3, num_choices=2)
    everything = [Arch(idx, 3, 2) for idx in np.ndindex(2, 2, 2)]
    history = [(a, float(sum(a))) for a in everything[:6]]
    strategy = STRATEGY_FACTORIES[name](**kw)
    assert sorted(strategy.propose(history, n=2)) == everything[6:]
    with pytest.raises(RuntimeError, match='only 8'):
        strategy.propose(history, n=3)
    strategy = STRATEGY_FACTORIES[name](is_valid=lambda a: a != everything[7], **kw)
    assert strategy.propose(history, n=1) == [everything[6]]
    with pytest.raises(RuntimeError, match='exhausted'):
        strategy.propose(history, n=2)


def test_registry_builds_strategies():
    for name in ('RandomStrategy', 'EvolutionStrategy', 'PartitionStrategy'):
        strategy = STRATEGIES.build(dict(type=name, seed=2))
        assert isinstance(strategy, BaseStrategy) and strategy.seed == 2
    with pytest.raises(ValueError, match='seed'):
        RandomStrategy(seed=-1)
    with pytest.raises(ValueError, match='mutate_prob'):
        EvolutionStrategy(mutate_prob=1.5)
    with pytest.raises(ValueError, match='height_schedule'):
        PartitionStrategy(height_schedule=((10, 2),))


def test_evolution_initial_population_is_random_and_full():
    strategy = EvolutionStrategy(population_size=12, seed=0)
    population = strategy.propose([], n=12)
    assert len(set(population)) == 12


def _hamming(a, b):
    return sum(x != y for x, y in zip(a, b))


def test_evolution_children_come_from_top_k():
    history = random_history(60)
    top = [a for a, _ in sorted(history, key=lambda p: -p[1])[:5]]
    mutation = EvolutionStrategy(population_size=20, top_k=5, num_mutation=1, num_crossover=0,
                                 mutate_prob=0.05, seed=0)
    for child in mutation.propose(history, n=30):
        assert 1 <= min(_hamming(child, p) for p in top) <= 5
    crossover = EvolutionStrategy(population_size=20, top_k=5, num_mutation=0, num_crossover=1,
                                  seed=0)
    for child in crossover.propose(history, n=30):
        assert any(all(c in (p[i], q[i]) for i, c in enumerate(child))
                   for p in top for q in top if p != q)
    # a default mix improves on random quickly (children of the best, not random archs)
    evo = run_search(EvolutionStrategy(population_size=20, top_k=5, seed=1), 80)
    rnd = run_search(RandomStrategy(seed=1), 80)
    assert np.mean([s for _, s in evo[40:]]) > np.mean([s for _, s in rnd[40:]]) + 1.0


# ----------------------------------------------------------------------------- partition
def test_tree_height_schedule():
    schedule = ((0, 1), (20, 2), (40, 3))
    assert [tree_height(n, schedule) for n in (0, 10, 19, 20, 39, 40, 10_000)] == \
        [1, 1, 1, 2, 2, 3, 3]
    default = PartitionStrategy()
    assert [default.height_at(n) for n in (80, 399, 400, 800, 1600, 3199, 3200)] == \
        [3, 3, 4, 5, 6, 6, 7]
    for bad in ((), ((5, 1),), ((0, 1), (0, 2)), ((0, -1),), 'abc'):
        with pytest.raises(ValueError, match='height_schedule'):
            tree_height(10, bad)


def test_partition_schedule_random_then_tree_and_height_grows():
    strategy = small_partition(seed=0)
    history = run_search(strategy, 9)
    assert strategy.describe(history)['phase'] == 'random'
    assert strategy.tree_samples(9) == 0 and strategy.tree_samples(10) == 10
    assert strategy.tree_samples(13) == 10 and strategy.tree_samples(14) == 14  # every 4

    history = run_search(strategy, 50, history)
    info = {n: strategy.describe(history[:n]) for n in (12, 25, 47)}
    assert [info[n]['phase'] for n in info] == ['tree'] * 3
    assert [info[n]['num_samples'] for n in info] == [10, 22, 46]
    assert [info[n]['height'] for n in info] == [1, 2, 3]
    for n, d in info.items():
        assert 1 <= d['depth'] <= d['height']
        assert len(d['leaf_sizes']) <= 2 ** d['height'] and sum(d['leaf_sizes']) == \
            d['num_samples']
    assert info[47]['depth'] > info[12]['depth']

    # tree-guided: proposals fall in the selected (best) leaf
    d = strategy.describe(history)
    batch = strategy.propose(history, n=8)
    last = strategy.describe()
    assert 1 <= last.pop('sampled_depth') <= d['depth'] and last == d
    assert strategy.route(batch, history) == [d['selected_leaf']] * 8
    # ... and beat random search after the warm-up on the additive objective
    part = run_search(small_partition(seed=1), 80)
    rnd = run_search(RandomStrategy(seed=1), 80)
    assert np.mean([s for _, s in part[40:]]) > np.mean([s for _, s in rnd[40:]]) + 1.0


def test_partition_budget_outside_best_leaf_falls_back():
    history = run_search(small_partition(seed=0), 40)
    tree = small_partition(seed=0)
    best_leaf = tree.describe(history)['selected_leaf']

    def is_valid(arch):  # a budget that excludes the whole best leaf
        return tree.route([arch], history)[0] != best_leaf

    strategy = small_partition(seed=0, is_valid=is_valid, leaf_tries=50, leaf_rounds=2)
    assert strategy.describe(history)['selected_leaf'] == best_leaf
    batch = strategy.propose(history, n=10)
    assert len(set(batch)) == 10 and all(is_valid(a) for a in batch)
    assert best_leaf not in strategy.route(batch, history)
    last = strategy.describe()  # sampled in the best leaf's parent
    assert len(last['leaf_sizes']) == 4 and last['sampled_depth'] == 1


def test_partition_tuned_by_tpe():
    strategy = small_partition(seed=0, tune_trials=3)
    history = random_history(24)
    d = strategy.describe(history)
    assert d['phase'] == 'tree' and set(d['root_params']) >= {'num_leaves', 'learning_rate'}
    assert strategy.propose(history, n=3) == small_partition(seed=0, tune_trials=3).propose(
        history, n=3)


# ------------------------------------------------------------------------ kill + restart
@pytest.mark.parametrize('name', ['evolution', 'partition'])
def test_killed_search_resumes_from_history(tmp_path, name):
    total, killed_at = 30, 13
    url = f'sqlite:///{tmp_path}/search.db'

    def loop(store, strategy, stop):
        drive(strategy, lambda arch: (objective(arch), dict(flops=float(sum(arch)))), store,
              stop)

    loop(SearchHistory(url), STRATEGY_FACTORIES[name](seed=9), killed_at)
    # "kill": the objects are dropped without close(); a new process reopens the store
    store = SearchHistory(url)
    assert len(store) == killed_at
    loop(store, STRATEGY_FACTORIES[name](seed=9), total)
    archs = [r['arch'] for r in SearchHistory(url).records()]
    assert len(archs) == total and len(set(archs)) == total
    # the resumed run is the run that was never interrupted
    assert archs == [a for a, _ in run_search(STRATEGY_FACTORIES[name](seed=9), total)]
