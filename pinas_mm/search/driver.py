"""The search driver: propose -> claim -> evaluate -> store, for one worker among many.

:func:`run_search` is the one search loop; :class:`~pinas_mm.search.SearchLoop` (the
mmengine loop behind ``tools/search.py``) runs it with the candidate evaluator, tests and
benchmarks (on a :class:`~pinas_mm.search.memory_history.MemoryHistory`), the ranking
studies (a fixed list of archs is the :class:`~pinas_mm.search.FixedStrategy`) with any
``arch -> score`` function. Several workers (processes, possibly on
several machines) given one :class:`~pinas_mm.search.SearchHistory` storage share the work:

* every arch is claimed in the history before it is evaluated, so no two workers evaluate
  the same arch;
* the strategy is asked for ``1 + len(live claims)`` proposals from the recorded history and
  the worker takes the first one nobody holds. A strategy is a pure function of the
  history, so workers that see the same history divide one batch proposal between them:
  the k-th concurrent worker evaluates the k-th arch of ``propose(history, k)``. With one
  worker nothing is ever held by another, and the loop is the plain sequential
  ``propose(history, 1)`` loop;
* a background thread refreshes the worker's claims every ``heartbeat_interval`` seconds;
  a claim without heartbeat for the history's ``claim_timeout`` (the worker was killed or
  its machine lost) expires, and the next worker looking for work takes it over before
  proposing anything new (a restarted worker therefore resumes the candidate it was killed
  in);
* a claim takes one of ``num_candidates`` slots (``SearchHistory.claim(limit=...)``), so
  records + running claims never exceed ``num_candidates``: a worker that finds no free
  slot waits for the others, and the search ends with exactly ``num_candidates`` records,
  whichever workers finish them.

Multi-rank workers: only the rank holding the history (rank 0) talks to the database; it
decides each step and hands it to the other ranks through ``sync`` (a broadcast), and every
rank runs ``evaluate`` on the same arch (the evaluator's collectives inside).
"""
import logging
import math
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from pinas_mm.space.arch import Arch

from .history import SearchHistory, default_worker_id

#: default seconds between two heartbeats of a worker's claims
HEARTBEAT_INTERVAL = 5.0
#: default seconds a worker with nothing to claim waits before looking again
POLL_INTERVAL = 1.0

_log = logging.getLogger(__name__)

Evaluate = Callable[[Arch], Any]


class Heartbeat:
    """A daemon thread calling ``history.heartbeat(worker)`` every ``interval`` seconds while
    the ``with`` block runs. A failed heartbeat (database unreachable for a moment) is
    logged and tried again at the next tick."""

    def __init__(self, history: SearchHistory, worker: str, interval: float):
        self.history, self.worker, self.interval = history, worker, float(interval)
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.history.heartbeat(self.worker)
            except Exception as e:  # noqa: BLE001 - keep beating; expiry is the fallback
                _log.warning('Heartbeat of worker %s failed: %s: %s', self.worker,
                             type(e).__name__, e)

    def __enter__(self) -> 'Heartbeat':
        self._thread = threading.Thread(target=self._run, name=f'heartbeat-{self.worker}',
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def _positive(name: str, value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        value = float('nan')
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f'Invalid {name}={value!r}: expected a finite number of seconds > 0.')
    return value


def _split(result: Any, arch: Arch) -> Tuple[float, Dict[str, Any]]:
    """``evaluate``'s result as ``(score, attrs)``: a number, or ``(number, {attrs})``."""
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], Mapping):
        return result[0], dict(result[1])
    if isinstance(result, (tuple, list, Mapping, str, bytes)):
        raise ValueError(f'evaluate({arch}) returned {result!r}: expected a score (number) '
                         'or (score, {attr: value}).')
    return result, {}


def next_step(strategy, history: SearchHistory, num_candidates: int, worker: str,
              poll_interval: float = POLL_INTERVAL, attempts: int = 3) -> Tuple:
    """What ``worker`` does next: ``('stop',)`` once ``num_candidates`` are recorded,
    ``('evaluate', arch)`` with ``arch`` claimed for it (a stale claim taken over first,
    else a new proposal), or ``('wait',)`` after ``poll_interval`` seconds when the
    candidates left are all held by live claims of other workers (or every proposal was
    claimed by others in ``attempts`` rounds in a row)."""
    for _ in range(attempts):
        pairs = history.pairs()
        if len(pairs) >= num_candidates:
            return ('stop',)
        live, stale = history.open_claims()
        for arch in stale:
            if history.claim(arch, worker, limit=num_candidates):
                return ('evaluate', arch)
        if len(pairs) + len(live) >= num_candidates:
            break
        held = set(live)
        try:
            proposals = strategy.propose(pairs, 1 + len(live))
        except RuntimeError:
            if not live:
                raise  # the valid unseen space is exhausted (the strategy's message)
            break  # not enough left beside the live claims: wait until they are recorded
        for arch in proposals:
            if arch not in held and history.claim(arch, worker, limit=num_candidates):
                return ('evaluate', arch)
        # other workers claimed the proposals (or the last slots) meanwhile: look again
    time.sleep(poll_interval)
    return ('wait',)


def run_search(strategy, evaluate: Evaluate, history: Optional[SearchHistory],
               num_candidates: int, *, worker: Optional[str] = None,
               heartbeat_interval: float = HEARTBEAT_INTERVAL,
               poll_interval: float = POLL_INTERVAL,
               sync: Optional[Callable[[Any], Any]] = None,
               on_record: Optional[Callable[[Dict, int], None]] = None,
               stop: Optional[Callable[[Dict, int], bool]] = None
               ) -> Optional[List[Dict]]:
    """Run one worker of a search until the history holds ``num_candidates`` records.

    Args:
        strategy: anything with ``propose(history_pairs, n) -> [Arch, ...]`` (n new
            distinct archs, none in the history; the ``BaseStrategy`` contract).
        evaluate: ``arch -> score`` or ``arch -> (score, {attr: value})``; the attrs are
            stored with the record (e.g. FLOPs and params). An exception releases the claim
            (another worker may retry the arch) and propagates.
        history: the shared :class:`SearchHistory` on the process that talks to the
            database (or a :class:`~pinas_mm.search.memory_history.MemoryHistory`, no
            database: one process); ``None`` on the other ranks of a multi-rank worker.
        num_candidates: records in total, by all workers (records already stored count).
        worker: this worker's id in the claims (default ``hostname-pid``).
        heartbeat_interval: seconds between heartbeats; at most half the history's
            ``claim_timeout``.
        poll_interval: seconds between looks while every candidate left is held by
            another worker.
        sync: ``obj -> obj`` broadcasting rank 0's object to every rank (required when
            ``history`` is ``None``); identity by default.
        on_record: called on the history's rank as ``on_record(record, num_recorded)``
            after each record this worker stores.
        stop: early stop, called on the history's rank as ``stop(record, num_recorded)``
            after each record this worker stores (after ``on_record``); when it returns
            True this worker stops before its next proposal (every rank with it), though
            fewer than ``num_candidates`` are recorded. Other workers sharing the history
            go on. E.g. a benchmark stopping at the known optimum.

    Returns:
        All records of the history in insertion order (``SearchHistory.records()``) on the
        history's rank, ``None`` on the others.

    Raises:
        ValueError: bad arguments, or an ``evaluate`` result that is not a score.
    """
    if isinstance(num_candidates, bool) or not isinstance(num_candidates, int) or \
            num_candidates < 0:
        raise ValueError(f'Invalid num_candidates={num_candidates!r}: expected an int >= 0.')
    if history is None and sync is None:
        raise ValueError('run_search needs the history, or (on a rank without it) a sync '
                         'function that receives rank 0 steps.')
    heartbeat_interval = _positive('heartbeat_interval', heartbeat_interval)
    poll_interval = _positive('poll_interval', poll_interval)
    if history is not None and 2 * heartbeat_interval > history.claim_timeout:
        raise ValueError(
            f'Invalid heartbeat_interval={heartbeat_interval}: at most half the claim_timeout '
            f'{history.claim_timeout} s after which a claim without heartbeat expires.')
    sync = sync or (lambda obj: obj)
    worker = worker or default_worker_id()
    beat = Heartbeat(history, worker, heartbeat_interval) if history is not None else None
    if beat is not None:
        beat.__enter__()
    stopped = False
    try:
        while True:
            step, error = None, None
            if stopped:
                step = ('stop',)
            elif history is not None:
                try:
                    step = next_step(strategy, history, num_candidates, worker, poll_interval)
                except Exception as e:  # noqa: BLE001 - re-raised below, on every rank
                    step, error = ('error', f'{type(e).__name__}: {e}'), e
            step = sync(step)
            if step[0] == 'error':
                if error is not None:
                    raise error
                raise RuntimeError(f'The search stopped on the rank with the history: '
                                   f'{step[1]}')
            if step[0] == 'stop':
                break
            if step[0] == 'wait':
                continue
            arch = step[1]
            try:
                score, attrs = _split(evaluate(arch), arch)
            except BaseException:
                if history is not None:
                    history.release(arch, worker)
                raise
            if history is None:
                continue
            record = history.finish(arch, worker, score, **attrs)
            if record is None:
                _log.warning('Worker %s lost its claim of arch %s while evaluating it (no '
                             'heartbeat for %s s?): another worker records it; result '
                             'dropped.', worker, arch, history.claim_timeout)
            elif on_record is not None or stop is not None:
                num_recorded = len(history)
                if on_record is not None:
                    on_record(record, num_recorded)
                stopped = stop is not None and bool(stop(record, num_recorded))
    finally:
        if beat is not None:
            beat.__exit__()
    return history.records() if history is not None else None



def evaluate_archs(evaluate: Callable[[Arch], Any], space, archs: Sequence,
                on_scored: Optional[Callable[[int], None]] = None) -> List[float]:
    """``[score of evaluate(arch) for arch in archs]``, in that order: a search over the
    fixed list (:class:`~pinas_mm.search.FixedStrategy` driven by :func:`run_search` on a
    :class:`~pinas_mm.search.MemoryHistory`). An arch listed twice (in any of the forms
    ``space.arch`` reads) is evaluated once; ``on_scored(n)`` runs after the n-th score.

    Raises:
        ValueError: an arch is not one of ``space``'s (one line naming it).
    """
    from pinas_mm.search.memory_history import MemoryHistory
    from pinas_mm.search.strategy_fixed import FixedStrategy
    parsed = [space.arch(a) for a in archs]
    unique = list(dict.fromkeys(parsed))
    records = run_search(FixedStrategy(unique, num_blocks=space.num_blocks,
                                       num_choices=space.num_choices),
                         evaluate, MemoryHistory(space.num_blocks, space.num_choices),
                         len(unique),
                         on_record=(lambda record, n: on_scored(n)) if on_scored else None)
    score = {r['arch']: r['score'] for r in records}
    return [score[a] for a in parsed]
