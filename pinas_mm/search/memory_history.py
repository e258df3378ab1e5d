"""A search history in memory: :func:`~pinas_mm.search.driver.run_search` without a database.

:class:`MemoryHistory` has the part of :class:`~pinas_mm.search.SearchHistory`'s interface the
driver uses (records, claims with slots, heartbeats, expiry) and the usual reads
(``records``, ``pairs``, ``scores``, ``best``), kept in Python containers of this process.
Benchmarks, tests and studies that score archs in one process use it: every operation is
O(1) except the copies ``records()`` / ``pairs()`` return, so a 100k-proposal benchmark
spends its time in the strategies, not in the history. Nothing is persisted: a killed
process loses the records (use ``SearchHistory`` to resume a search).

Claims follow ``SearchHistory``'s rules (see :mod:`pinas_mm.search.history`): one running
claim per arch, a claim without heartbeat for ``claim_timeout`` seconds may be taken over,
a ``limit`` bounds records + claims holding a slot, ``release`` frees the slot. Several
workers of one process (threads) may share one ``MemoryHistory``; it is not shared between
processes.

One difference: a NaN score is kept (the strategies rank NaN last) where ``SearchHistory``
refuses it (Optuna cannot store it), so a loop that scored NaN before it used the driver
still runs.
"""
import math
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from pinas_mm.space.arch import NUM_BLOCKS, NUM_CHOICES, Arch, ArchLike

from .history import _RESERVED, CLAIM_TIMEOUT, _jsonable, check_history_settings


class MemoryHistory:
    """Every evaluated architecture of a search with its score, in memory.

    Args:
        num_blocks, num_choices: the space of the archs.
        direction: ``'maximize'`` or ``'minimize'`` the score (:meth:`pairs` negates the
            score of a 'minimize' history, as ``SearchHistory.pairs`` does).
        claim_timeout: seconds without a heartbeat after which a claim expires.
        clock: ``() -> seconds`` for claim times (default ``time.monotonic``; tests give a
            fake clock).

    Raises:
        ValueError: a bad ``direction`` or ``claim_timeout`` (one line naming the value).
    """

    def __init__(self, num_blocks: int = NUM_BLOCKS, num_choices: int = NUM_CHOICES,
                 direction: str = 'maximize', claim_timeout: float = CLAIM_TIMEOUT,
                 clock: Optional[Callable[[], float]] = None):
        timeout = check_history_settings(direction, claim_timeout)
        self.num_blocks, self.num_choices = int(num_blocks), int(num_choices)
        self.direction = direction
        self.claim_timeout = timeout
        self._clock = clock or time.monotonic
        self._sign = 1.0 if direction == 'maximize' else -1.0
        self._lock = threading.RLock()
        self._records: List[Dict] = []
        self._pairs: List[Tuple[Arch, float]] = []
        self._index: Dict[Arch, int] = {}
        # running / released claims, oldest claimed_at first: arch -> [state, worker, heartbeat]
        self._open: Dict[Arch, list] = {}
        self._done: set = set()  # archs whose claim is done
        self._slotted: set = set()  # archs whose claim holds one of the limit's slots
        self._slotted_recorded = 0  # how many of those are recorded

    # ----------------------------------------------------------------------------- helpers
    def _parse(self, arch: ArchLike) -> Arch:
        if (type(arch) is Arch and len(arch) == self.num_blocks
                and (not arch or (min(arch) >= 0 and max(arch) < self.num_choices))):
            return arch
        return Arch.parse(arch, self.num_blocks, self.num_choices)

    def _expired(self, claim: list, now: float) -> bool:
        return claim[0] == 'running' and now - claim[2] > self.claim_timeout

    def _occupied(self) -> int:
        """Slots in use: records plus unrecorded archs whose claim holds a slot."""
        return len(self._slotted) + len(self._records) - self._slotted_recorded

    def _unslot(self, arch: Arch) -> None:
        if arch in self._slotted:
            self._slotted.discard(arch)
            if arch in self._index:
                self._slotted_recorded -= 1

    # ------------------------------------------------------------------------------ writes
    def add(self, arch: ArchLike, score: float, **attrs) -> Dict:
        """Record one finished evaluation; returns (a copy of) its record
        ``dict(arch=Arch, score=float, **attrs)``.

        Raises:
            ValueError: ``arch`` is malformed or already recorded, the score is not a number,
                or an attr is reserved (``arch``, ``score``) or not JSON-serializable.
        """
        arch = self._parse(arch)
        try:
            value = float(score)
        except (TypeError, ValueError):
            raise ValueError(f'Invalid score {score!r} for arch {arch}: not a number.') from None
        extra = {}
        for key, val in attrs.items():
            if key in _RESERVED:
                raise ValueError(f'Invalid attr name {key!r}: {_RESERVED} are reserved.')
            extra[key] = _jsonable(val, f'attr {key!r}')
        with self._lock:
            if arch in self._index:
                old = self._records[self._index[arch]]
                raise ValueError(f'Arch {arch} is already recorded (score {old["score"]}, '
                                 f'record {self._index[arch]}).')
            self._index[arch] = len(self._records)
            record = dict(arch=arch, score=value, **extra)
            self._records.append(record)
            self._pairs.append((arch, self._sign * value))
            if arch in self._slotted:
                self._slotted_recorded += 1
            return dict(record)

    def claim(self, arch: ArchLike, worker: str, limit: Optional[int] = None) -> bool:
        """Claim ``arch`` for ``worker`` before evaluating it; True when it was free, released
        or held by an expired claim (a takeover), False when it is recorded, held by a live
        claim, done, or ``limit`` (records + claims holding a slot) is reached.
        ``SearchHistory.claim``'s rules."""
        arch = self._parse(arch)
        if not isinstance(worker, str) or not worker or len(worker) > 255:
            raise ValueError(f'Invalid worker={worker!r}: expected a non-empty string of at '
                             'most 255 characters.')
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise ValueError(f'Invalid limit={limit!r}: expected an int or None.')
        with self._lock:
            if arch in self._index or arch in self._done:
                return False
            now = self._clock()
            old = self._open.get(arch)
            if old is not None and old[0] == 'running' and not self._expired(old, now):
                return False
            if arch not in self._slotted and limit is not None:
                if self._occupied() >= limit:
                    return False
                self._slotted.add(arch)
            if old is not None:
                del self._open[arch]  # re-inserted last: claimed_at order
            self._open[arch] = ['running', worker, now]
            return True

    def heartbeat(self, worker: str) -> int:
        """Refresh the heartbeat of every running claim ``worker`` holds; returns how many."""
        with self._lock:
            now, count = self._clock(), 0
            for claim in self._open.values():
                if claim[0] == 'running' and claim[1] == worker:
                    claim[2] = now
                    count += 1
            return count

    def holds(self, arch: ArchLike, worker: str) -> bool:
        """Whether ``worker`` holds the running claim of ``arch`` (expired or not)."""
        claim = self._open.get(self._parse(arch))
        return claim is not None and claim[0] == 'running' and claim[1] == worker

    def release(self, arch: ArchLike, worker: str) -> bool:
        """Give up ``worker``'s running claim of ``arch`` (a failed evaluation): the arch
        and its slot are free again. True if the claim was held."""
        arch = self._parse(arch)
        with self._lock:
            if not self.holds(arch, worker):
                return False
            claim = self._open[arch]
            claim[0], claim[2] = 'released', self._clock()
            self._unslot(arch)
            return True

    def _close_done(self, arch: Arch) -> None:
        self._open.pop(arch, None)
        self._done.add(arch)

    def finish(self, arch: ArchLike, worker: str, score: float, **attrs) -> Optional[Dict]:
        """Record ``worker``'s evaluation of its claimed ``arch`` (as :meth:`add`) and close
        the claim; ``None`` (nothing recorded) when the worker no longer holds the claim or
        the arch is recorded already."""
        arch = self._parse(arch)
        with self._lock:
            if not self.holds(arch, worker):
                return None
            if arch in self._index:
                self._close_done(arch)
                return None
            record = self.add(arch, score, **attrs)
            self._close_done(arch)
            return record

    # ------------------------------------------------------------------------------- reads
    def open_claims(self) -> Tuple[List[Arch], List[Arch]]:
        """``(live, stale)``: unrecorded archs with a running, live claim, and those whose
        claim expired or was released, oldest claim first. Running claims of recorded archs
        are closed here."""
        with self._lock:
            now = self._clock()
            live, stale, leftover = [], [], []
            for arch, claim in self._open.items():
                if arch in self._index:
                    if claim[0] == 'running':
                        leftover.append(arch)
                elif claim[0] == 'released' or self._expired(claim, now):
                    stale.append(arch)
                else:
                    live.append(arch)
            for arch in leftover:
                self._close_done(arch)
            return live, stale

    def __contains__(self, arch: ArchLike) -> bool:
        try:
            return self._parse(arch) in self._index
        except ValueError:
            return False

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self):
        return iter(self.records())

    def records(self) -> List[Dict]:
        """``[dict(arch=Arch, score=float, **attrs), ...]`` in insertion order (copies)."""
        with self._lock:
            return [dict(r) for r in self._records]

    def pairs(self) -> List[Tuple[Arch, float]]:
        """``[(arch, score), ...]`` in insertion order, higher = better (the score negated
        for 'minimize'): the history a strategy's ``propose`` takes."""
        with self._lock:
            return list(self._pairs)

    def scores(self) -> Dict[Arch, float]:
        """``{arch: score}`` in insertion order."""
        with self._lock:
            return {r['arch']: r['score'] for r in self._records}

    def best(self, k: int = 1) -> List[Dict]:
        """The ``k`` best records (by ``direction``; NaN last), best first; ties keep
        insertion order."""
        sign = -self._sign
        return sorted(self.records(), key=lambda r: (math.isnan(r['score']),
                                                     sign * r['score']))[:max(0, int(k))]

    def __repr__(self) -> str:
        return (f'MemoryHistory({len(self._records)} records, num_blocks={self.num_blocks}, '
                f'num_choices={self.num_choices}, direction={self.direction!r})')


def memory_history(pairs=(), num_blocks: int = NUM_BLOCKS, num_choices: int = NUM_CHOICES,
                   **kwargs: Any) -> MemoryHistory:
    """A :class:`MemoryHistory` holding ``pairs`` (``[(arch, score), ...]``, in order)."""
    hist = MemoryHistory(num_blocks, num_choices, **kwargs)
    for arch, score in pairs:
        hist.add(arch, score)
    return hist
