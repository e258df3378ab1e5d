"""Many search workers sharing one history: claims, heartbeats, takeover, the driver.

The workers here are forked processes running :func:`pinas_mm.search.driver.run_search` with
a cheap fake evaluator (a fixed additive objective after a short sleep) on a 6 x 5 space
(the NAS-Bench-201 shape); the PostgreSQL tests start a real server (tests/_postgres.py).
"""
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections import Counter

import pytest

from pinas_mm.search import EvolutionStrategy, SearchHistory
from pinas_mm.search.driver import run_search

from _fake_search import BLOCKS, CHOICES, Clock, arch, objective


def strategy(seed=0):
    return EvolutionStrategy(num_blocks=BLOCKS, num_choices=CHOICES, seed=seed,
                             population_size=6, top_k=3, num_mutation=2, num_crossover=2)


# ------------------------------------------------------------------------------ claims
def test_claim_expiry_and_takeover_with_a_fake_clock(tmp_path):
    clock = Clock()
    url = f'sqlite:///{tmp_path}/search.db'
    hist = SearchHistory(url, num_blocks=BLOCKS, num_choices=CHOICES, claim_timeout=10,
                         clock=clock)
    a, b = arch('012340'), arch('444444')
    assert hist.claim(a, 'w1')
    assert not hist.claim(a, 'w2')  # held
    assert hist.open_claims() == ([a], [])
    clock.t += 6
    assert hist.heartbeat('w1') == 1 and hist.heartbeat('w2') == 0
    clock.t += 10  # 10 s after the heartbeat: not expired yet (strictly older expires)
    assert hist.open_claims() == ([a], []) and not hist.claim(a, 'w2')
    clock.t += 0.5
    assert hist.open_claims() == ([], [a])
    assert [c['expired'] for c in hist.claims()] == [True]
    assert hist.claim(a, 'w2')  # takeover
    assert not hist.claim(a, 'w3')  # w2's claim is fresh
    assert not hist.holds(a, 'w1') and hist.holds(a, 'w2')
    assert hist.finish(a, 'w1', 1.0) is None and len(hist) == 0  # w1 lost it: dropped
    rec = hist.finish(a, 'w2', 2.0, flops=7)
    assert rec == dict(arch=a, score=2.0, flops=7)
    (row,) = hist.claims()
    assert (row['state'], row['worker'], row['takeovers'], row['previous_worker']) == \
        ('done', 'w2', 1, 'w1')
    assert row['claimed_at'] == 1016.5 and row['heartbeat'] == 1016.5
    assert not hist.claim(a, 'w3')  # recorded
    # released: free at once; another process sees the same claims
    assert hist.claim(b, 'w1') and hist.release(b, 'w1') and not hist.release(b, 'w1')
    other = SearchHistory(url, num_blocks=BLOCKS, num_choices=CHOICES, claim_timeout=10,
                          clock=clock)
    assert other.open_claims() == ([], [b])
    assert other.claim(b, 'w3') and hist.open_claims() == ([b], [])
    # a worker killed after recording but before closing its claim: closed on the next look
    c = arch('100000')
    assert hist.claim(c, 'w4')
    hist.add(c, 0.5)
    assert hist.open_claims() == ([b], [])
    assert {str(r['arch']): r['state'] for r in hist.claims()}['100000'] == 'done'
    with pytest.raises(ValueError, match='Invalid worker'):
        hist.claim(b, '')
    with pytest.raises(ValueError, match='Invalid claim_timeout'):
        SearchHistory(None, claim_timeout=0)


def test_claims_never_exceed_the_limit():
    """Records + running claims <= limit: the last slots go to one worker each."""
    clock = Clock()
    hist = SearchHistory(None, num_blocks=BLOCKS, num_choices=CHOICES, claim_timeout=10,
                         clock=clock)
    a, b, c, d = (arch(t) for t in ('000000', '111111', '222222', '333333'))
    hist.add(d, 1.0)  # a record without a claim takes a slot too
    assert hist.claim(a, 'w1', limit=3) and hist.claim(b, 'w2', limit=3)
    assert not hist.claim(c, 'w3', limit=3)  # full
    assert hist.claim(c, 'w3', limit=4)  # a larger search has room
    assert hist.release(c, 'w3') and hist.release(b, 'w2')
    assert hist.claim(c, 'w3', limit=3) and not hist.claim(b, 'w2', limit=3)
    clock.t += 11  # every claim expired: taken over with its own slot though all are used
    assert hist.claim(a, 'w4', limit=3) and not hist.claim(b, 'w2', limit=3)
    assert sorted(r['slot'] for r in hist.claims() if r['slot'] is not None) == [0, 1]
    assert hist.finish(a, 'w4', 0.5) is not None and not hist.claim(b, 'w2', limit=3)


def test_claims_of_a_dead_process_on_this_machine_expire_at_once(tmp_path):
    url = f'sqlite:///{tmp_path}/search.db'
    ctx = mp.get_context('fork')

    def claim_and_die():
        h = SearchHistory(url, num_blocks=BLOCKS, num_choices=CHOICES, claim_timeout=600)
        h.claim(arch('123401'), 'dead')
        os._exit(0)
    proc = ctx.Process(target=claim_and_die)
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0
    here = SearchHistory(url, num_blocks=BLOCKS, num_choices=CHOICES, claim_timeout=600)
    assert here.open_claims() == ([], [arch('123401')])  # same machine, pid gone
    elsewhere = SearchHistory(url, num_blocks=BLOCKS, num_choices=CHOICES,
                              claim_timeout=600, machine='another-machine')
    assert elsewhere.open_claims() == ([arch('123401')], [])  # only the timeout frees it
    assert here.claim(arch('123401'), 'alive')


# ------------------------------------------------------------------------------ driver
def test_one_worker_is_the_plain_sequential_loop():
    n = 15
    expected = []
    s = strategy(seed=3)
    while len(expected) < n:
        a, = s.propose(expected, 1)
        expected.append((a, objective(a)))
    hist = SearchHistory(None, num_blocks=BLOCKS, num_choices=CHOICES)
    got = []
    records = run_search(strategy(seed=3), lambda a: (objective(a), dict(s=sum(a))), hist, n,
                         on_record=lambda r, k: got.append((r['arch'], k)))
    assert [(r['arch'], r['score']) for r in records] == expected
    assert [r['s'] for r in records] == [sum(a) for a, _ in expected]
    assert got == [(a, i + 1) for i, (a, _) in enumerate(expected)]
    assert {c['state'] for c in hist.claims()} == {'done'} and len(hist.claims()) == n
    # already complete: nothing proposed, nothing evaluated
    assert run_search(strategy(), lambda a: pytest.fail('evaluated'), hist, n) == records


def test_a_failed_evaluation_releases_its_claim_and_the_search_resumes(tmp_path):
    url = f'sqlite:///{tmp_path}/search.db'
    hist = SearchHistory(url, num_blocks=BLOCKS, num_choices=CHOICES)
    calls = []

    def flaky(a):
        calls.append(a)
        if len(calls) == 3:
            raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of a candidate
        return objective(a)
    with pytest.raises(KeyboardInterrupt):
        run_search(strategy(), flaky, hist, 6, worker='w1')
    assert len(hist) == 2 and hist.open_claims() == ([], [calls[2]])
    records = run_search(strategy(), flaky, hist, 6, worker='w2')
    assert [r['arch'] for r in records] == calls[:2] + calls[3:]
    assert calls[3] == calls[2]  # the released arch is taken first
    with pytest.raises(ValueError, match=r'returned \(1.0, 2.0\)'):
        run_search(strategy(), lambda a: (1.0, 2.0), hist, 7)


def test_run_search_rejects_bad_arguments():
    hist = SearchHistory(None, num_blocks=BLOCKS, num_choices=CHOICES, claim_timeout=4)
    with pytest.raises(ValueError, match='heartbeat_interval=3.0: at most half'):
        run_search(strategy(), objective, hist, 3, heartbeat_interval=3)
    with pytest.raises(ValueError, match='Invalid num_candidates=-1'):
        run_search(strategy(), objective, hist, -1)
    with pytest.raises(ValueError, match='Invalid poll_interval=0'):
        run_search(strategy(), objective, hist, 3, poll_interval=0)
    with pytest.raises(ValueError, match='needs the history, or'):
        run_search(strategy(), objective, None, 3)


def test_ranks_without_the_history_evaluate_rank0s_archs():
    """A 2-rank worker: rank 0 decides and broadcasts (here a queue), rank 1 follows."""
    box = queue.Queue()
    seen = {0: [], 1: []}
    hist = SearchHistory(None, num_blocks=BLOCKS, num_choices=CHOICES)

    def rank0():
        def send(step):
            box.put(step)
            return step
        run_search(strategy(), lambda a: seen[0].append(a) or objective(a), hist, 8,
                   sync=send)

    def rank1():
        assert run_search(strategy(), lambda a: seen[1].append(a) or 0.0, None, 8,
                          sync=lambda _: box.get(timeout=60)) is None
    threads = [threading.Thread(target=f) for f in (rank0, rank1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(seen[0]) == 8 and seen[1] == seen[0] == [r['arch'] for r in hist.records()]


def test_an_error_on_rank0_stops_every_rank():
    class Exhausted:
        def propose(self, history, n=1):
            raise RuntimeError('no new arch left')
    box = queue.Queue()
    hist = SearchHistory(None, num_blocks=BLOCKS, num_choices=CHOICES)
    with pytest.raises(RuntimeError, match='^no new arch left$'):
        run_search(Exhausted(), objective, hist, 3, sync=lambda step: box.put(step) or step)
    with pytest.raises(RuntimeError, match='rank with the history: RuntimeError: no new arch'):
        run_search(Exhausted(), objective, None, 3, sync=lambda _: box.get(timeout=10))


# ------------------------------------------------------------- several worker processes
def _log(path, *words):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, (' '.join(map(str, words)) + '\n').encode())
    finally:
        os.close(fd)


def _worker(url, study, n, worker, machine, claim_timeout, heartbeat, sleep, events):
    """A worker process: the evolution search with the fake evaluator."""
    hist = SearchHistory(url, study, BLOCKS, CHOICES, claim_timeout=claim_timeout,
                         machine=machine)

    def evaluate(a):
        _log(events, worker, a, 'start')
        time.sleep(sleep)
        _log(events, worker, a, 'end')
        return objective(a)
    run_search(strategy(), evaluate, hist, n, worker=worker, heartbeat_interval=heartbeat,
               poll_interval=0.1)
    hist.close()


def _events(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [tuple(line.split()) for line in f if line.strip()]


def run_workers(url, study, tmp_path, *, n, workers, kills, claim_timeout, heartbeat=0.25,
                sleep=0.5, own_machines):
    """``workers`` forked worker processes; worker 0 is SIGKILLed ``kills`` times in the
    middle of a candidate and restarted (under a new id) after each kill. With
    ``own_machines`` every worker poses as a machine of its own, so that only the heartbeat
    timeout frees a killed worker's claim; else they share this machine's id (a dead local
    pid frees it at once)."""
    ctx = mp.get_context('fork')
    events = str(tmp_path / f'{study}.events')
    watch = SearchHistory(url, study, BLOCKS, CHOICES, claim_timeout=claim_timeout,
                          machine='observer')

    def start(worker):
        machine = f'machine-{worker}' if own_machines else None
        proc = ctx.Process(target=_worker, args=(url, study, n, worker, machine,
                                                 claim_timeout, heartbeat, sleep, events))
        proc.start()
        return proc
    procs = {f'w{i}': start(f'w{i}') for i in range(workers)}
    victim, killed = 'w0', []
    deadline = time.time() + 240
    for k in range(kills):
        while True:  # wait until the victim is in the middle of a candidate
            assert time.time() < deadline and procs[victim].is_alive(), victim
            ev = _events(events)
            started = [e[1] for e in ev if e[0] == victim and e[2] == 'start']
            ended = {e[1] for e in ev if e[0] == victim and e[2] == 'end'}
            if ended and started[-1] not in ended:  # one candidate done, one under way
                break
            time.sleep(0.02)
        before = next(c for c in watch.claims() if str(c['arch']) == started[-1])
        os.kill(procs[victim].pid, signal.SIGKILL)
        procs[victim].join(30)
        assert procs[victim].exitcode == -signal.SIGKILL
        assert before['worker'] == victim and before['state'] == 'running'
        after = next(c for c in watch.claims() if str(c['arch']) == started[-1])
        if own_machines:  # nobody may take it over before the timeout
            assert after['worker'] == victim and after['state'] == 'running'
        last = after if after['worker'] == victim else before  # else taken over already
        killed.append(dict(worker=victim, arch=before['arch'],
                           last_heartbeat=last['heartbeat']))
        victim = f'w0.r{k + 1}'
        procs[victim] = start(victim)
    for worker, proc in procs.items():
        proc.join(max(1.0, deadline - time.time()))
        assert proc.exitcode in (0, -signal.SIGKILL), (worker, proc.exitcode)
    alive = {w for w, p in procs.items() if p.exitcode == 0}
    assert alive == set(procs) - {k['worker'] for k in killed}
    result = dict(records=watch.records(), claims=watch.claims(), killed=killed,
                  events=_events(events))
    watch.close()
    return result


def check_shared_search(result, n, claim_timeout, expiry):
    records, claims, killed, events = (result[k] for k in ('records', 'claims', 'killed',
                                                           'events'))
    archs = [str(r['arch']) for r in records]
    # exactly n records, no duplicates, each with the objective's score
    assert len(records) == n and len(set(archs)) == n
    assert all(r['score'] == pytest.approx(objective(r['arch'])) for r in records)
    # every arch evaluated to the end exactly once; started once more per kill in it
    ends = Counter(e[1] for e in events if e[2] == 'end')
    starts = Counter(e[1] for e in events if e[2] == 'start')
    assert sorted(ends) == sorted(archs) and set(ends.values()) == {1}
    kills = Counter(str(k['arch']) for k in killed)
    assert starts == Counter({a: 1 + kills[a] for a in archs})
    # several workers did the work
    finished_by = Counter(c['worker'] for c in claims)
    assert len(finished_by) >= 3, finished_by
    # all claims closed; the killed workers' claims were taken over by others
    assert len(claims) == n and {c['state'] for c in claims} == {'done'}
    by_arch = {str(c['arch']): c for c in claims}
    for k in killed:
        row = by_arch[str(k['arch'])]
        assert row['takeovers'] >= 1 and row['worker'] != k['worker'], (k, row)
        waited = row['claimed_at'] - k['last_heartbeat']
        if expiry:  # taken over only once the heartbeat was older than the timeout
            assert waited > claim_timeout, (k, row)
        else:  # the dead local pid freed it long before the timeout
            assert waited < claim_timeout / 2, (k, row)


@pytest.fixture(scope='module')
def postgres_url():
    """A throwaway PostgreSQL server; missing server binaries fail (not skip) in one line."""
    from _postgres import PostgresServer
    try:
        server = PostgresServer()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    with server as url:
        yield url


def test_three_workers_on_postgresql_one_killed_twice(postgres_url, tmp_path):
    n, timeout = 18, 2.0
    result = run_workers(postgres_url, 'three', tmp_path, n=n, workers=3, kills=2,
                         claim_timeout=timeout, own_machines=True)
    check_shared_search(result, n, timeout, expiry=True)


def test_two_workers_on_sqlite_one_killed_twice(tmp_path):
    n, timeout = 14, 60.0
    result = run_workers(f'sqlite:///{tmp_path}/search.db', 'two', tmp_path, n=n, workers=2,
                         kills=2, claim_timeout=timeout, own_machines=False)
    check_shared_search(result, n, timeout, expiry=False)

