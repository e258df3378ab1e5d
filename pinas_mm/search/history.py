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
"""
import csv
import json
import math
import os
import os.path as osp
import time
import warnings
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import optuna
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

    Reads refresh from the storage first, so records added by other processes sharing the
    study appear; duplicates are refused on :meth:`add` against the refreshed records
    (two processes adding the same arch at the same instant can still both succeed: the
    later trial is then ignored with a warning).
    """

    def __init__(self, storage: Any = 'sqlite:///search.db', study_name: str = 'search',
                 num_blocks: int = NUM_BLOCKS, num_choices: int = NUM_CHOICES,
                 direction: str = 'maximize'):
        if direction not in ('maximize', 'minimize'):
            raise ValueError(f"Invalid direction={direction!r}: expected 'maximize' or "
                             "'minimize'.")
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
        else:
            _retry(lambda: self._open(storage, space),
                   f'Opening study {study_name!r} in {self.storage_url!r}')
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

    def __enter__(self) -> 'SearchHistory':
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f'SearchHistory(storage={self.storage_url!r}, study_name={self.study_name!r}, '
                f'records={len(self._records)}, direction={self.direction!r})')
