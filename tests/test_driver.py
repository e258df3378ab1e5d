"""The one search driver without a database: MemoryHistory, FixedStrategy, early stop."""
import threading

import numpy as np
import pytest

from pinas_mm.registry import STRATEGIES
from pinas_mm.search import (EvolutionStrategy, FixedStrategy, MemoryHistory, RandomStrategy,
                             RegularizedEvolutionStrategy, SearchHistory)
from pinas_mm.search.driver import run_search
from pinas_mm.search.memory_history import memory_history

from _fake_search import BLOCKS, CHOICES, Clock, arch, objective


def scored(arch):
    """A score with attrs of several JSON kinds (numpy ones converted)."""
    return objective(arch), dict(flops=np.float32(sum(arch)), tag=str(arch)[:2],
                                 lst=np.arange(2) + arch[0])


STRATEGIES_6x5 = {
    'random': lambda: RandomStrategy(num_blocks=BLOCKS, num_choices=CHOICES, seed=5),
    'evolution': lambda: EvolutionStrategy(num_blocks=BLOCKS, num_choices=CHOICES, seed=5,
                                           population_size=6, top_k=3),
    'regularized': lambda: RegularizedEvolutionStrategy(num_blocks=BLOCKS,
                                                        num_choices=CHOICES, seed=5),
}


# ------------------------------------------------------------------------- MemoryHistory
@pytest.mark.parametrize('name,direction', [('random', 'maximize'),
                                            ('evolution', 'minimize'),
                                            ('regularized', 'maximize')])
def test_memory_history_gives_the_records_of_sqlite(name, direction, tmp_path):
    sql = SearchHistory(f'sqlite:///{tmp_path}/search.db', num_blocks=BLOCKS,
                        num_choices=CHOICES, direction=direction)
    mem = MemoryHistory(BLOCKS, CHOICES, direction=direction)
    got_sql = run_search(STRATEGIES_6x5[name](), scored, sql, 24)
    got_mem = run_search(STRATEGIES_6x5[name](), scored, mem, 24)
    assert len(got_mem) == 24 and got_mem == got_sql == sql.records() == mem.records()
    assert mem.pairs() == sql.pairs() and mem.scores() == sql.scores()
    assert mem.best(3) == sql.best(3) and len(mem) == len(sql) == 24
    assert type(got_mem[0]['flops']) is float and got_mem[0]['lst'] == [got_mem[0]['arch'][0],
                                                                        got_mem[0]['arch'][0] + 1]
    # resuming a finished search proposes and evaluates nothing; a longer one goes on
    assert run_search(STRATEGIES_6x5[name](), lambda a: pytest.fail('evaluated'), mem,
                      24) == got_mem
    run_search(STRATEGIES_6x5[name](), scored, mem, 30)
    run_search(STRATEGIES_6x5[name](), scored, sql, 30)
    assert mem.records() == sql.records()


def test_memory_history_claims_follow_search_history_rules():
    for hist_cls in (SearchHistory, MemoryHistory):
        clock = Clock()
        kw = dict(num_blocks=BLOCKS, num_choices=CHOICES, claim_timeout=10, clock=clock)
        hist = hist_cls(None, **kw) if hist_cls is SearchHistory else hist_cls(**kw)
        a, b, c, d = (arch(t) for t in ('000000', '111111', '222222', '333333'))
        hist.add(d, 1.0)  # a record without a claim takes a slot too
        assert hist.claim(a, 'w1', limit=3)
        clock.t += 1
        assert hist.claim(b, 'w2', limit=3)
        assert not hist.claim(a, 'w2') and not hist.claim(d, 'w2')  # held / recorded
        clock.t += 1
        assert not hist.claim(c, 'w3', limit=3)  # full
        assert hist.claim(c, 'w3', limit=4)
        assert hist.release(c, 'w3') and hist.release(b, 'w2') and not hist.release(b, 'w2')
        assert hist.open_claims() == ([a], [b, c])
        assert hist.claim(c, 'w3', limit=3) and not hist.claim(b, 'w2', limit=3)
        clock.t += 6
        assert hist.heartbeat('w3') == 1 and hist.heartbeat('nobody') == 0
        clock.t += 5  # a expired (11 s), c beat 5 s ago
        assert hist.open_claims() == ([c], [a, b]), hist_cls
        assert hist.claim(a, 'w4', limit=3)  # takeover keeps a's slot
        assert hist.finish(a, 'w1', 0.1) is None  # w1 lost it
        assert hist.finish(a, 'w4', 0.5)['score'] == 0.5 and not hist.claim(a, 'w5')
        assert not hist.claim(b, 'w2', limit=3)
        assert [r['arch'] for r in hist.records()] == [d, a] and a in hist and b not in hist


def test_memory_history_rejects_bad_input():
    hist = MemoryHistory(BLOCKS, CHOICES)
    hist.add('012340', 1.0)
    for call, match in [(lambda: hist.add('012340', 2.0), 'already recorded'),
                        (lambda: hist.add('012345', 2.0), 'Invalid arch'),
                        (lambda: hist.add('111111', 'high'), 'not a number'),
                        (lambda: hist.claim('111111', 'w', limit=True), 'limit'),
                        (lambda: hist.add('111111', 1.0, f=object()), 'JSON'),
                        (lambda: hist.claim('111111', ''), 'worker'),
                        (lambda: MemoryHistory(direction='up'), 'direction'),
                        (lambda: MemoryHistory(claim_timeout=0), 'claim_timeout')]:
        with pytest.raises(ValueError, match=match):
            call()
    assert len(hist) == 1 and memory_history(hist.pairs(), BLOCKS, CHOICES).records() == \
        hist.records()


def test_failed_evaluation_releases_the_claim_in_memory():
    hist = MemoryHistory(BLOCKS, CHOICES)
    calls = []

    def flaky(a):
        calls.append(a)
        if len(calls) == 4:
            raise OSError('disk full')
        return objective(a)
    with pytest.raises(OSError, match='disk full'):
        run_search(STRATEGIES_6x5['evolution'](), flaky, hist, 10)
    assert len(hist) == 3 and hist.open_claims() == ([], [calls[3]])
    records = run_search(STRATEGIES_6x5['evolution'](), flaky, hist, 10)
    assert [r['arch'] for r in records][3] == calls[3] == calls[4] and len(records) == 10


def test_threads_share_one_memory_history():
    hist = MemoryHistory(BLOCKS, CHOICES)
    done = []

    def worker(k):
        run_search(STRATEGIES_6x5['random'](), objective, hist, 40, worker=f'w{k}',
                   poll_interval=0.01, on_record=lambda r, n: done.append(k))
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    archs = [r['arch'] for r in hist.records()]
    assert len(archs) == len(set(archs)) == len(done) == 40


# ---------------------------------------------------------------------------- early stop
def test_stop_ends_the_search_early_on_every_rank():
    hist = MemoryHistory(BLOCKS, CHOICES)
    seen = []
    records = run_search(STRATEGIES_6x5['random'](), objective, hist, 50,
                         on_record=lambda r, n: seen.append(n),
                         stop=lambda r, n: r['score'] > 0.5 or n == 7)
    n = len(records)
    assert 1 <= n <= 7 and seen == list(range(1, n + 1))
    assert all(r['score'] <= 0.5 for r in records[:-1])
    assert records[-1]['score'] > 0.5 or n == 7
    # a rank without the history receives rank 0's stop through sync
    steps = []
    hist2 = MemoryHistory(BLOCKS, CHOICES)
    run_search(STRATEGIES_6x5['random'](), objective, hist2, 50, sync=lambda s: steps.append(s)
               or s, stop=lambda r, n: n == 3)
    assert [s[0] for s in steps] == ['evaluate'] * 3 + ['stop'] and len(hist2) == 3


# ------------------------------------------------------------------------- FixedStrategy
LIST = ['012340', '444444', [1, 2, 3, 4, 0, 1], arch('333333')]


def test_fixed_strategy_proposes_in_order_and_is_exhausted():
    s = FixedStrategy(LIST, num_blocks=BLOCKS, num_choices=CHOICES)
    expected = [arch('012340'), arch('444444'), arch('123401'), arch('333333')]
    assert s.archs == expected and s.propose([], 3) == expected[:3]
    # a pure function of the history: recorded archs are skipped wherever they are
    assert s.propose([(expected[1], 0.0), ('222222', 1.0)], 2) == [expected[0], expected[2]]
    records = run_search(s, objective, MemoryHistory(BLOCKS, CHOICES), 4)
    assert [r['arch'] for r in records] == expected
    with pytest.raises(RuntimeError, match=r'only 0 of its 4 archs are not in the history '
                                           r'\(4 in history\); the list is exhausted'):
        run_search(s, objective, MemoryHistory(BLOCKS, CHOICES), 5)
    with pytest.raises(RuntimeError, match='cannot propose 5 new architectures: only 4 of'):
        s.propose([], 5)
    # the budget predicate skips archs of the list
    big = FixedStrategy(LIST, num_blocks=BLOCKS, num_choices=CHOICES,
                        is_valid=lambda a: sum(a) > 10)
    assert big.propose([], 3) == expected[1:]
    with pytest.raises(RuntimeError, match='only 3 of its 4 .* is_valid'):
        big.propose([], 4)


def test_fixed_strategy_from_a_config_and_bad_input():
    s = STRATEGIES.build(dict(type='pinas_mm.FixedStrategy', archs=LIST[:2], seed=3,
                              num_blocks=BLOCKS, num_choices=CHOICES))
    assert isinstance(s, FixedStrategy) and s.propose([], 2) == [arch('012340'),
                                                                 arch('444444')]
    for bad, match in [('012340', r"Invalid archs='012340': expected a list"),
                       ([], r'Invalid archs=\[\]: expected at least one'),
                       (['012340', '01234'], r'archs\[1\]: Invalid arch .*not 6'),
                       (['012340', [0, 1, 2, 3, 4, 0]], r'archs\[1\]=.* is archs\[0\] already'),
                       (None, 'Invalid archs=None')]:
        with pytest.raises(ValueError, match=match):
            FixedStrategy(bad, num_blocks=BLOCKS, num_choices=CHOICES)
