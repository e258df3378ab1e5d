"""The persistent search history: one Optuna study, one COMPLETE trial per evaluated arch.

Any SQLAlchemy URL Optuna accepts works as ``storage`` (``sqlite:///work_dir/search.db`` for
one machine, a MySQL/PostgreSQL URL for several sharing one study); every :meth:`add`
is committed at once, so a killed search loses nothing and reopening the same
storage/study (``load_if_exists``) gives every record back in insertion (trial number)
order. Trials carry ``params`` ``b0..b{n-1}`` (categorical over the choice indices), the
score as their value, and user attrs ``arch`` (the digit string) plus whatever extra
attrs the caller records (flops, params, rank info, ...). Study user attrs hold the
caller's metadata (:meth:`set_meta`), e.g. the search config hash.

Several processes may open and write one storage at the same time (e.g. searches started
together on a new ``search.db``): creating the tables, the study and its space attr is
serialised by a file lock next to an SQLite file (``<db>.lock``, the ``filelock``
package) and retried on the "already exists" / duplicate-key errors a server database
can raise when another process creates the same objects at that instant; SQLite waits up
to ``SQLITE_TIMEOUT`` seconds for another writer's lock (its busy timeout) and a write
that still finds the database locked is retried.

**Claims (several workers sharing one history).** A worker claims an arch before it
evaluates it (:meth:`SearchHistory.claim`): one row of the table ``pinas_mm_claims`` in the
same database, keyed by (study, arch), so two workers can never hold the same arch. A claim
carries the holder's worker id and a heartbeat time that the holder refreshes every few
seconds (:meth:`SearchHistory.heartbeat`, from a background thread, see
:mod:`pinas_mm.search.driver`). A claim whose heartbeat is older than ``claim_timeout``
seconds has expired and any worker may take it over (compare-and-swap on a version
column); so does a claim whose holder ran on this machine (same hostname, boot id and pid
namespace) and whose process no longer exists. Times come from the database server's clock
(SQLite: this machine's), so workers on several machines need no synchronised clocks.
:meth:`SearchHistory.finish` records the result only while the worker still holds the
claim, then marks the claim done; a worker killed between the two leaves a record and a
running claim, which the next worker that takes the claim over just closes.

**Decisions (progressive selection).** DARTS-PT (:class:`~pinas_mm.search.PerturbationLoop`)
stores its settings, every with-removal estimate and every decision in the table
``pinas_mm_decisions`` of the same database, keyed by (study, insertion number), each
committed at once (:meth:`SearchHistory.add_decision`); a stopped selection reopens the
study and continues at the next undecided block without recomputing a stored estimate.
"""
import csv
import json
import math
import os
import os.path as osp
import socket
import threading
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import optuna
import sqlalchemy as sa
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from pinas_mm.space.arch import NUM_BLOCKS, NUM_CHOICES, Arch, ArchLike

#: study user attr holding the space of the stored archs (checked on reopen)
_SPACE_KEY = '_pinas_mm_space'
_RESERVED = ('arch', 'score')
#: seconds an SQLite connection waits for another process's write lock (busy timeout)
SQLITE_TIMEOUT = 60.0
#: attempts of a storage creation / write that met a concurrent process's transaction
_ATTEMPTS = 8
#: default seconds without a heartbeat after which a claim expires
CLAIM_TIMEOUT = 60.0

#: One row per (study, arch) ever claimed. ``state``: ``running`` (being evaluated),
#: ``done`` (recorded), ``released`` (its worker gave it up after an error); ``slot`` (one of
#: the search's ``num_candidates``, see :meth:`SearchHistory.claim`); ``version``
#: grows on every change (the compare-and-swap of a takeover); times are seconds since the
#: epoch on the database's clock.
_CLAIMS_META = sa.MetaData()
CLAIMS = sa.Table(
    'pinas_mm_claims', _CLAIMS_META,
    sa.Column('study', sa.String(255), primary_key=True),
    sa.Column('arch', sa.String(255), primary_key=True),
    sa.Column('state', sa.String(16), nullable=False),
    sa.Column('worker', sa.String(255), nullable=False),
    sa.Column('machine', sa.String(255), nullable=False),
    sa.Column('pid', sa.Integer, nullable=False),
    sa.Column('claimed_at', sa.Float, nullable=False),
    sa.Column('heartbeat', sa.Float, nullable=False),
    sa.Column('slot', sa.Integer, nullable=True),
    sa.Column('version', sa.Integer, nullable=False),
    sa.Column('takeovers', sa.Integer, nullable=False),
    sa.Column('previous_worker', sa.String(255), nullable=True),
    sa.UniqueConstraint('study', 'slot', name='pinas_mm_claims_slot'),
)
_FULL = object()

#: The records of a progressive selection (DARTS-PT, :mod:`pinas_mm.search.perturbation`),
#: one row each, in insertion order ``seq``: ``kind`` ``meta`` (the settings the run was
#: started with), ``estimate`` (one with-removal estimate: step, block, removed candidate,
#: its paths and scores) or ``decision`` (one fixed block); ``record`` is the whole record
#: as JSON.
DECISIONS = sa.Table(
    'pinas_mm_decisions', _CLAIMS_META,
    sa.Column('study', sa.String(255), primary_key=True),
    sa.Column('seq', sa.Integer, primary_key=True, autoincrement=False),
    sa.Column('kind', sa.String(16), nullable=False),
    sa.Column('step', sa.Integer, nullable=True),
    sa.Column('record', sa.Text, nullable=False),
)
#: the kinds of :data:`DECISIONS` rows
DECISION_KINDS = ('meta', 'estimate', 'decision')


def machine_id() -> str:
    """This machine as seen by process ids: ``hostname/boot-id/pid-namespace`` (Linux; the
    hostname alone elsewhere). Two processes with the same machine id can tell whether the
    other's pid still exists."""
    parts = [socket.gethostname()]
    try:
        with open('/proc/sys/kernel/random/boot_id') as f:
            parts.append(f.read().strip())
        parts.append(os.readlink('/proc/self/ns/pid'))
    except OSError:
        pass
    return '/'.join(parts)[:255]


def check_history_settings(direction: str, claim_timeout) -> float:
    """``claim_timeout`` in seconds, after checking it and ``direction`` (the settings every
    history shares); ``ValueError`` naming the bad value and the valid forms."""
    if direction not in ('maximize', 'minimize'):
        raise ValueError(f"Invalid direction={direction!r}: expected 'maximize' or "
                         "'minimize'.")
    try:
        timeout = float(claim_timeout)
    except (TypeError, ValueError):
        timeout = float('nan')
    if not timeout > 0:
        raise ValueError(f'Invalid claim_timeout={claim_timeout!r}: expected seconds > 0.')
    return timeout


def default_worker_id() -> str:
    """``hostname-pid``: unique among the live workers of a search."""
    return f'{socket.gethostname()}-{os.getpid()}'


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine exists and is not a zombie."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):
        return False
    try:
        with open(f'/proc/{int(pid)}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except (OSError, IndexError):
        return True


def _arch_key(arch: Arch) -> str:
    """The claims table's text of an arch: its digits, comma-separated when a choice has
    two digits (so the text is unambiguous)."""
    return str(arch) if all(c < 10 for c in arch) else ','.join(str(c) for c in arch)


def _db_clock(conn) -> float:
    """Seconds since the epoch on the database server's clock."""
    name = conn.dialect.name
    if name == 'sqlite':
        query = "SELECT (julianday('now') - 2440587.5) * 86400.0"
    elif name == 'postgresql':
        query = 'SELECT extract(epoch from clock_timestamp())'
    elif name in ('mysql', 'mariadb'):
        query = 'SELECT UNIX_TIMESTAMP(NOW(6))'
    else:
        return time.time()
    return float(conn.execute(sa.text(query)).scalar())


def _sqlite_file(url: Optional[str]) -> Optional[str]:
    """The database file of an ``sqlite:///PATH`` URL (None: other URLs, in-memory)."""
    if not url or not url.startswith('sqlite:///'):
        return None
    path = url[len('sqlite:///'):].split('?', 1)[0]
    return None if not path or path == ':memory:' else path


def _transient(exc: BaseException) -> bool:
    """An error another process's concurrent transaction can cause: SQLite busy/locked,
    a table/row created by another process in between (server databases)."""
    import sqlalchemy.exc
    chain, seen = exc, set()
    while chain is not None and id(chain) not in seen:
        seen.add(id(chain))
        if isinstance(chain, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError,
                              sqlalchemy.exc.ProgrammingError)):
            text = str(chain).lower()
            return any(k in text for k in ('locked', 'busy', 'already exists', 'duplicate',
                                           'unique constraint', 'deadlock'))
        chain = chain.__cause__ or chain.__context__
    return False


def _retry(fn, what: str, attempts: int = _ATTEMPTS):
    """``fn()``, retried with a growing pause while it fails with a :func:`_transient`
    error; the last failure is raised as a ``RuntimeError`` naming ``what``."""
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - filtered by _transient
            if not _transient(e):
                raise
            if attempt == attempts - 1:
                raise RuntimeError(f'{what} failed {attempts} times because other processes '
                                   f'held the database ({type(e).__name__}: {e}).') from e
            time.sleep(min(0.05 * 2 ** attempt, 2.0))


def _jsonable(value: Any, what: str) -> Any:
    """``value`` as plain JSON types (numpy scalars/arrays converted); ValueError if not."""
    if isinstance(value, np.generic):
        value = value.item()
    elif isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, Arch):
        value = str(value)
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError) as e:
        raise ValueError(f'Invalid {what}={value!r}: not JSON-serializable ({e}); use numbers, '
                         'strings, bools, None, lists and dicts of those.') from None
    return value


class SearchHistory:
    """Every evaluated architecture of a search with its score, stored in an Optuna study.

    Args:
        storage: an SQLAlchemy URL (``'sqlite:///path/search.db'``, ``'mysql://...'``), a
            plain file path (taken as SQLite), an Optuna storage object, or ``None`` for an
            in-memory study (tests, benchmarks). The parent folder of an SQLite file is
            created.
        study_name: the study; reopened when it exists.
        num_blocks, num_choices: the space; a reopened study must have been created with
            the same.
        direction: ``'maximize'`` or ``'minimize'`` the score; a reopened study must match.
        claim_timeout: seconds without a heartbeat after which a claim expires (see the
            module docstring); the holders' heartbeat interval must be well below it.
        clock: ``() -> seconds`` used for claim times instead of the database's clock
            (tests use a fake clock).
        machine: this process's machine id for recognising dead local holders (default
            :func:`machine_id`).

    Reads refresh from the storage first, so records added by other processes sharing the
    study appear; duplicates are refused on :meth:`add` against the refreshed records
    (two processes adding the same arch at the same instant can still both succeed: the
    later trial is then ignored with a warning).
    """

    def __init__(self, storage: Any = 'sqlite:///search.db', study_name: str = 'search',
                 num_blocks: int = NUM_BLOCKS, num_choices: int = NUM_CHOICES,
                 direction: str = 'maximize', claim_timeout: float = CLAIM_TIMEOUT,
                 clock: Optional[Callable[[], float]] = None, machine: Optional[str] = None):
        self.claim_timeout = check_history_settings(direction, claim_timeout)
        self._clock = clock
        self.machine = machine or machine_id()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.num_blocks = int(num_blocks)
        self.num_choices = int(num_choices)
        self.direction = direction
        self.study_name = study_name
        self.storage_url = self._storage_url(storage)
        space = dict(num_blocks=self.num_blocks, num_choices=self.num_choices)
        db_file = _sqlite_file(self.storage_url) if isinstance(storage, str) else None
        if db_file is not None:
            from filelock import FileLock
            with FileLock(db_file + '.lock', timeout=10 * SQLITE_TIMEOUT):
                self._open(storage, space)
                self._open_claims()
        else:
            _retry(lambda: self._open(storage, space),
                   f'Opening study {study_name!r} in {self.storage_url!r}')
            _retry(self._open_claims, f'Creating the claims table in {self.storage_url!r}')
        stored = self.study.direction.name.lower()
        if stored != direction:
            raise ValueError(f'Study {study_name!r} in {self.storage_url!r} was created with '
                             f'direction={stored!r}, not {direction!r}.')
        attrs = self.study.user_attrs
        if attrs[_SPACE_KEY] != space:
            raise ValueError(f'Study {study_name!r} in {self.storage_url!r} holds archs of '
                             f'{attrs[_SPACE_KEY]}, not {space}.')
        self._distributions = {
            f'b{i}': CategoricalDistribution(tuple(range(self.num_choices)))
            for i in range(self.num_blocks)}
        self._records: List[Dict] = []
        self._index: Dict[Arch, int] = {}
        self._seen_numbers = set()
        self.refresh()

    def _open(self, storage: Any, space: Dict) -> None:
        """Create or load the storage (tables), the study and its space attr."""
        if isinstance(storage, str):
            kwargs = {}
            if _sqlite_file(self.storage_url) is not None:
                kwargs['connect_args'] = {'timeout': SQLITE_TIMEOUT}
            storage = optuna.storages.RDBStorage(self.storage_url, engine_kwargs=kwargs)
        self.study = optuna.create_study(storage=storage, study_name=self.study_name,
                                         direction=self.direction, load_if_exists=True)
        if _SPACE_KEY not in self.study.user_attrs:
            self.study.set_user_attr(_SPACE_KEY, space)

    def _open_claims(self) -> None:
        """The engine of the claims and decisions tables (the study's own database when it
        has one, else a private in-memory SQLite database) and the tables themselves."""
        storage = getattr(self.study, '_storage', None)
        backend = getattr(storage, '_backend', storage)
        engine = getattr(backend, 'engine', None)
        if engine is None:  # an in-memory study: claims live (and die) with this process
            engine = sa.create_engine('sqlite://', poolclass=sa.pool.StaticPool,
                                      connect_args={'check_same_thread': False})
        self._claims_engine = engine
        # one claims operation at a time per process (the heartbeat thread and the loop;
        # an in-memory database has one shared connection)
        self._claims_lock = threading.Lock()
        _CLAIMS_META.create_all(engine, tables=[CLAIMS, DECISIONS], checkfirst=True)

    @staticmethod
    def _storage_url(storage: Any) -> Optional[str]:
        if storage is None:
            return None
        if not isinstance(storage, str):
            return getattr(storage, 'url', repr(storage))
        if '://' not in storage:  # a plain path: SQLite
            storage = 'sqlite:///' + osp.abspath(storage)
        if storage.startswith('sqlite:///'):
            path = storage[len('sqlite:///'):]
            if path and path != ':memory:' and osp.dirname(path):
                os.makedirs(osp.dirname(path), exist_ok=True)
        return storage

    # ----------------------------------------------------------------------------- writes
    def add(self, arch: ArchLike, score: float, **attrs) -> Dict:
        """Record one finished evaluation (committed at once); returns its record.

        Raises ``ValueError`` if ``arch`` is already recorded, the score is NaN or not a
        number, or an attr is reserved (``arch``, ``score``) or not JSON-serializable.
        """
        arch = Arch.parse(arch, self.num_blocks, self.num_choices)
        try:
            value = float(score)
        except (TypeError, ValueError):
            raise ValueError(f'Invalid score {score!r} for arch {arch}: not a number.') from None
        if math.isnan(value):
            raise ValueError(f'Invalid score nan for arch {arch}: record a failed evaluation '
                             'as -inf (maximize) / inf (minimize), or not at all.')
        user_attrs = {'arch': str(arch)}
        for key, val in attrs.items():
            if key in _RESERVED:
                raise ValueError(f'Invalid attr name {key!r}: {_RESERVED} are reserved.')
            user_attrs[key] = _jsonable(val, f'attr {key!r}')
        self.refresh()
        if arch in self._index:
            old = self._records[self._index[arch]]
            raise ValueError(f'Arch {arch} is already recorded (score {old["score"]}, record '
                             f'{self._index[arch]}) in study {self.study_name!r}.')
        trial = optuna.trial.create_trial(
            params={f'b{i}': int(c) for i, c in enumerate(arch)},
            distributions=self._distributions, value=value, user_attrs=user_attrs)
        _retry(lambda: self.study.add_trial(trial),
               f'Recording arch {arch} in {self.storage_url!r}')
        self.refresh()
        return dict(self._records[self._index[arch]])

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON-serializable value as a study user attr (strategy state, config
        hash, ...)."""
        if not isinstance(key, str) or not key or key == _SPACE_KEY:
            raise ValueError(f'Invalid meta key {key!r}: expected a non-empty string other '
                             f'than {_SPACE_KEY!r}.')
        value = _jsonable(value, f'meta {key!r}')
        _retry(lambda: self.study.set_user_attr(key, value),
               f'Setting meta {key!r} in {self.storage_url!r}')

    # ----------------------------------------------------------------------------- claims
    def _claims_op(self, fn, what: str, conflict: Any = None):
        """``fn(conn, now)`` in one transaction, retried while other processes hold the
        database (SQLite busy, deadlocks). With ``conflict`` given, an integrity error
        (the row exists) rolls the transaction back and returns ``conflict``."""
        def attempt():
            try:
                with self._claims_lock, self._claims_engine.begin() as conn:
                    now = self._clock() if self._clock is not None else _db_clock(conn)
                    return fn(conn, float(now))
            except sa.exc.IntegrityError:
                if conflict is None:
                    raise
                return conflict
        return _retry(attempt, f'{what} in {self.storage_url!r}')

    def _where(self, arch: Optional[Arch] = None):
        cond = CLAIMS.c.study == self.study_name
        return cond if arch is None else sa.and_(cond, CLAIMS.c.arch == _arch_key(arch))

    def _expired(self, row, now: float) -> bool:
        """A running claim nobody keeps alive: no heartbeat for ``claim_timeout`` seconds,
        or its holder ran on this machine and its process is gone."""
        if now - row.heartbeat > self.claim_timeout:
            return True
        return row.machine == self.machine and row.pid != os.getpid() and \
            not pid_alive(row.pid)

    def _parse_key(self, key: str) -> Arch:
        parts = key.split(',') if ',' in key else list(key)
        return Arch(tuple(int(c) for c in parts), self.num_blocks, self.num_choices)

    def claim(self, arch: ArchLike, worker: str, limit: Optional[int] = None) -> bool:
        """Claim ``arch`` for ``worker`` before evaluating it.

        True when the arch was free (never claimed), released, or held by a claim that
        expired (a takeover: ``takeovers`` + 1, ``previous_worker`` kept); False when it is
        recorded already, another worker holds a live claim (or won the race for it), or
        ``limit`` is reached.

        ``limit`` (the search's ``num_candidates``) bounds records + running claims: each
        claim then takes one of ``limit`` slots (unique per study, kept when the claim is
        done or taken over, freed when it is released; records without a claim use slots
        too), so workers racing for the last candidates never claim more than that.
        """
        arch = Arch.parse(arch, self.num_blocks, self.num_choices)
        if not isinstance(worker, str) or not worker or len(worker) > 255:
            raise ValueError(f'Invalid worker={worker!r}: expected a non-empty string of at '
                             'most 255 characters.')
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise ValueError(f'Invalid limit={limit!r}: expected an int or None.')
        self.refresh()
        if arch in self._index:
            return False
        recorded = {_arch_key(a) for a in self._index}
        key = _arch_key(arch)

        def free_slot(conn):
            """The lowest free slot, None without a limit, _FULL when none is left."""
            if limit is None:
                return None
            rows = conn.execute(sa.select(CLAIMS.c.arch, CLAIMS.c.slot).where(sa.and_(
                self._where(), CLAIMS.c.slot.is_not(None)))).all()
            used = {r.slot for r in rows}
            capacity = limit - len(recorded - {r.arch for r in rows})
            return next((s for s in range(capacity) if s not in used), _FULL)

        def insert(conn, now):
            if conn.execute(sa.select(CLAIMS.c.state).where(self._where(arch))).first():
                return 'conflict'  # claimed before: a takeover?
            slot = free_slot(conn)
            if slot is _FULL:
                return 'full'
            conn.execute(CLAIMS.insert().values(
                study=self.study_name, arch=key, state='running', worker=worker,
                machine=self.machine, pid=os.getpid(), claimed_at=now, heartbeat=now,
                slot=slot, version=0, takeovers=0, previous_worker=None))
            return 'inserted'

        def take_over(conn, now):
            old = conn.execute(sa.select(CLAIMS).where(self._where(arch))).first()
            if old is None:
                return 'retry'  # the insert met another claim's slot, not this arch
            if old.state == 'done' or (old.state == 'running' and not self._expired(old, now)):
                return 'refused'
            slot = old.slot if old.slot is not None else free_slot(conn)
            if slot is _FULL:
                return 'refused'
            res = conn.execute(
                CLAIMS.update().where(sa.and_(self._where(arch),
                                              CLAIMS.c.version == old.version))
                .values(state='running', worker=worker, machine=self.machine, pid=os.getpid(),
                        claimed_at=now, heartbeat=now, slot=slot, version=old.version + 1,
                        takeovers=old.takeovers + 1, previous_worker=old.worker))
            return 'inserted' if res.rowcount == 1 else 'refused'

        for _ in range(_ATTEMPTS):
            outcome = self._claims_op(insert, f'Claiming arch {arch}', conflict='conflict')
            if outcome == 'conflict':  # the arch or the slot is taken: a takeover?
                outcome = self._claims_op(take_over, f'Taking over the claim of arch {arch}',
                                          conflict='retry')
            if outcome != 'retry':
                return outcome == 'inserted'
        return False

    def heartbeat(self, worker: str) -> int:
        """Refresh the heartbeat of every running claim ``worker`` holds; returns how many."""
        def beat(conn, now):
            return conn.execute(
                CLAIMS.update().where(sa.and_(self._where(), CLAIMS.c.worker == worker,
                                              CLAIMS.c.state == 'running'))
                .values(heartbeat=now, version=CLAIMS.c.version + 1)).rowcount
        return self._claims_op(beat, f'Heartbeat of worker {worker!r}')

    def holds(self, arch: ArchLike, worker: str) -> bool:
        """Whether ``worker`` holds the running claim of ``arch`` (an expired claim that no
        one has taken over yet still counts)."""
        arch = Arch.parse(arch, self.num_blocks, self.num_choices)

        def check(conn, now):
            row = conn.execute(sa.select(CLAIMS.c.worker, CLAIMS.c.state)
                               .where(self._where(arch))).first()
            return row is not None and row.state == 'running' and row.worker == worker
        return self._claims_op(check, f'Reading the claim of arch {arch}')

    def _close_claim(self, arch: Arch, worker: Optional[str], state: str) -> bool:
        def close(conn, now):
            cond = sa.and_(self._where(arch), CLAIMS.c.state == 'running')
            if worker is not None:
                cond = sa.and_(cond, CLAIMS.c.worker == worker)
            values = dict(state=state, heartbeat=now, version=CLAIMS.c.version + 1)
            if state == 'released':
                values['slot'] = None
            return conn.execute(CLAIMS.update().where(cond).values(**values)).rowcount == 1
        return self._claims_op(close, f'Closing the claim of arch {arch}')

    def release(self, arch: ArchLike, worker: str) -> bool:
        """Give up ``worker``'s running claim of ``arch`` (an evaluation that failed), so
        another worker may take it at once. True if the claim was held."""
        arch = Arch.parse(arch, self.num_blocks, self.num_choices)
        return self._close_claim(arch, worker, 'released')

    def finish(self, arch: ArchLike, worker: str, score: float, **attrs) -> Optional[Dict]:
        """Record ``worker``'s evaluation of its claimed ``arch`` (as :meth:`add`) and mark
        the claim done; returns the record. Returns ``None`` and records nothing when the
        worker no longer holds the claim (it expired and another worker took it over) or
        the arch is recorded already; the claim is then left to its new holder."""
        arch = Arch.parse(arch, self.num_blocks, self.num_choices)
        if not self.holds(arch, worker):
            return None
        self.refresh()
        if arch in self._index:
            self._close_claim(arch, worker, 'done')
            return None
        record = self.add(arch, score, **attrs)
        self._close_claim(arch, worker, 'done')
        return record

    def open_claims(self) -> Tuple[List[Arch], List[Arch]]:
        """``(live, stale)``: archs not recorded yet whose claims are running and alive, and
        those whose claims expired or were released (free to take over). Running claims of
        archs already recorded (their worker died after recording) are closed here."""
        self.refresh()
        recorded = set(self._index)

        def read(conn, now):
            rows = conn.execute(sa.select(CLAIMS).where(sa.and_(
                self._where(), CLAIMS.c.state.in_(('running', 'released'))))
                .order_by(CLAIMS.c.claimed_at)).all()
            live, stale, leftover = [], [], []
            for row in rows:
                arch = self._parse_key(row.arch)
                if arch in recorded:
                    if row.state == 'running':
                        leftover.append(row)
                elif row.state == 'released' or self._expired(row, now):
                    stale.append(arch)
                else:
                    live.append(arch)
            for row in leftover:
                conn.execute(CLAIMS.update().where(sa.and_(
                    self._where(self._parse_key(row.arch)), CLAIMS.c.version == row.version))
                    .values(state='done', version=row.version + 1))
            return live, stale
        return self._claims_op(read, 'Reading the claims')

    def claims(self) -> List[Dict]:
        """Every claim row of this study (``arch`` as :class:`Arch`, ``state``, ``worker``,
        ``machine``, ``pid``, ``claimed_at``, ``heartbeat``, ``version``, ``takeovers``,
        ``previous_worker``) plus ``expired`` (running and expired now), oldest first."""
        def read(conn, now):
            rows = conn.execute(sa.select(CLAIMS).where(self._where())
                                .order_by(CLAIMS.c.claimed_at)).all()
            out = []
            for row in rows:
                d = dict(row._mapping)
                d.pop('study')
                d['arch'] = self._parse_key(d['arch'])
                d['expired'] = row.state == 'running' and self._expired(row, now)
                out.append(d)
            return out
        return self._claims_op(read, 'Reading the claims')

    # -------------------------------------------------------------------------- decisions
    def add_decision(self, record: Dict) -> Dict:
        """Store one record of a progressive selection (committed at once, in order);
        returns it. ``record['kind']`` is one of :data:`DECISION_KINDS`; an ``estimate`` or
        ``decision`` carries its ``step``. ``ValueError`` for another kind, a missing
        step, or a value that is not JSON-serializable."""
        kind = record.get('kind') if isinstance(record, dict) else None
        if kind not in DECISION_KINDS:
            raise ValueError(f'Invalid decision record {record!r}: expected a dict whose '
                             f'kind is one of {DECISION_KINDS}.')
        step = record.get('step')
        if kind != 'meta' and (isinstance(step, bool) or not isinstance(step, int)):
            raise ValueError(f'Invalid {kind} record {record!r}: expected an int step.')
        text = json.dumps(_jsonable(record, f'{kind} record'), allow_nan=True)

        def insert(conn, now):
            seq = conn.execute(sa.select(sa.func.max(DECISIONS.c.seq)).where(
                DECISIONS.c.study == self.study_name)).scalar()
            conn.execute(DECISIONS.insert().values(
                study=self.study_name, seq=0 if seq is None else seq + 1, kind=kind,
                step=None if step is None else int(step), record=text))
            return 'ok'
        for _ in range(_ATTEMPTS):  # 'retry': another writer took the same seq
            if self._claims_op(insert, f'Storing a {kind} record', conflict='retry') == 'ok':
                return record
        raise RuntimeError(f'Storing a {kind} record in {self.storage_url!r} met another '
                           f'writer {_ATTEMPTS} times: one selection per study at a time.')

    def decision_records(self, kind: Optional[str] = None) -> List[Dict]:
        """The stored records of the progressive selection (all, or those of ``kind``) in
        the order they were added."""
        def read(conn, now):
            cond = DECISIONS.c.study == self.study_name
            if kind is not None:
                cond = sa.and_(cond, DECISIONS.c.kind == kind)
            return conn.execute(sa.select(DECISIONS.c.record).where(cond)
                                .order_by(DECISIONS.c.seq)).scalars().all()
        return [json.loads(text) for text in self._claims_op(read, 'Reading the decisions')]

    def decision_meta(self) -> Optional[Dict]:
        """The ``meta`` record (the settings of the run that started the selection)."""
        metas = self.decision_records('meta')
        return metas[0] if metas else None

    def decisions(self) -> List[Dict]:
        """The ``decision`` records, by step."""
        return sorted(self.decision_records('decision'), key=lambda r: r['step'])

    def estimates(self, step: int) -> Dict[int, Dict]:
        """``{removed candidate: estimate record}`` of decision ``step``."""
        return {r['removed']: r for r in self.decision_records('estimate')
                if r['step'] == step}

    # ------------------------------------------------------------------------------ reads
    def refresh(self) -> None:
        """Load trials other processes added since the last read."""
        trials = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        for t in sorted(trials, key=lambda t: t.number):
            if t.number in self._seen_numbers:
                continue
            self._seen_numbers.add(t.number)
            attrs = dict(t.user_attrs)
            if 'arch' not in attrs:
                raise ValueError(f'Trial {t.number} of study {self.study_name!r} has no '
                                 "'arch' user attr: the study holds trials not written by "
                                 'SearchHistory; use another study_name.')
            arch = Arch.parse(attrs.pop('arch'), self.num_blocks, self.num_choices)
            if arch in self._index:
                warnings.warn(f'Trial {t.number} repeats arch {arch} of record '
                              f'{self._index[arch]} (concurrent add): keeping the first.')
                continue
            self._index[arch] = len(self._records)
            self._records.append(dict(arch=arch, score=float(t.value), **attrs))

    def __contains__(self, arch: ArchLike) -> bool:
        try:
            arch = Arch.parse(arch, self.num_blocks, self.num_choices)
        except ValueError:
            return False
        self.refresh()
        return arch in self._index

    def __len__(self) -> int:
        self.refresh()
        return len(self._records)

    def __iter__(self):
        return iter(self.records())

    def records(self) -> List[Dict]:
        """``[dict(arch=Arch, score=float, **attrs), ...]`` in insertion order (copies)."""
        self.refresh()
        return [dict(r) for r in self._records]

    def scores(self) -> Dict[Arch, float]:
        """``{arch: score}`` in insertion order."""
        self.refresh()
        return {r['arch']: r['score'] for r in self._records}

    def pairs(self) -> List[Tuple[Arch, float]]:
        """``[(arch, score), ...]`` in insertion order with higher = better (the score
        negated for a 'minimize' study): the history a strategy's ``propose`` takes."""
        sign = 1.0 if self.direction == 'maximize' else -1.0
        self.refresh()
        return [(r['arch'], sign * r['score']) for r in self._records]

    def best(self, k: int = 1) -> List[Dict]:
        """The ``k`` best records (by ``direction``), best first; ties keep insertion order.
        Always a list (empty when nothing is recorded)."""
        sign = -1.0 if self.direction == 'maximize' else 1.0
        return sorted(self.records(), key=lambda r: sign * r['score'])[:max(0, int(k))]

    def get_meta(self, key: str, default: Any = None) -> Any:
        return self.study.user_attrs.get(key, default)

    def meta(self) -> Dict[str, Any]:
        """All metadata set with :meth:`set_meta`."""
        return {k: v for k, v in self.study.user_attrs.items() if k != _SPACE_KEY}

    # ---------------------------------------------------------------------------- export
    def _rows(self) -> List[Dict]:
        return [dict(r, arch=str(r['arch'])) for r in self.records()]

    def to_csv(self, path: str) -> None:
        """One row per record: ``index, arch, score`` then every attr (lists/dicts as
        JSON)."""
        rows = self._rows()
        columns = ['index', 'arch', 'score']
        for r in rows:
            columns += [k for k in r if k not in columns]
        if osp.dirname(path):
            os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            for i, r in enumerate(rows):
                writer.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v
                                 for k, v in dict(r, index=i).items()})

    def to_json(self, path: str) -> None:
        """``{study_name, direction, num_blocks, num_choices, meta, records: [...]}``."""
        data = dict(study_name=self.study_name, direction=self.direction,
                    num_blocks=self.num_blocks, num_choices=self.num_choices,
                    meta=self.meta(), records=self._rows())
        if osp.dirname(path):
            os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            json.dump(data, f, indent=2)

    # -------------------------------------------------------------------------- lifetime
    def close(self) -> None:
        """Release the database connections (the records are already committed)."""
        storage = getattr(self.study, '_storage', None)
        backend = getattr(storage, '_backend', storage)
        engine = getattr(backend, 'engine', None)
        if engine is not None:
            engine.dispose()
        claims_engine = getattr(self, '_claims_engine', None)
        if claims_engine is not None and claims_engine is not engine:
            claims_engine.dispose()

    def __enter__(self) -> 'SearchHistory':
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f'SearchHistory(storage={self.storage_url!r}, study_name={self.study_name!r}, '
                f'records={len(self._records)}, direction={self.direction!r})')
