"""NAS-Bench-201 CIFAR-10 accuracies of all 15,625 cells, read from ``analog-nasbench``.

What the table is
-----------------
The data file ``analognasbench/data.anb`` of the PyPI package ``analog-nasbench==0.1.3``
is AnalogNAS-Bench (Benmeziane et al., "AnalogNAS-Bench: A NAS Benchmark for Analog
In-Memory Computing", arXiv:2506.18495, 2025; code at github.com/IBM/analog-nas,
folder ``analognasbench``). It holds one record per NAS-Bench-201 cell (Dong & Yang,
"NAS-Bench-201", ICLR 2020: 4-node cell, 6 edges x 5 ops = 15,625 cells, fixed macro
skeleton of 3 stages x 5 cells, 16 initial channels) on CIFAR-10. The networks were
**retrained by the AnalogNAS-Bench authors**, not copied from NAS-Bench-201: their training
script (``analognasbench/training_script.py``) builds each cell with NASLib's
``NasBench201SearchSpace`` and trains it once (one seed) for 200 epochs, SGD (lr 0.1,
Nesterov momentum 0.9, weight decay 5e-4, batch 256, cosine schedule) with random-crop
and flip augmentation. ``baseline_accuracy`` is the full-precision (digital) top-1 accuracy
in percent on the 10,000 CIFAR-10 test images, averaged over 25 evaluation passes (the
script evaluates through the augmenting transform, so passes differ; hence values like
94.0664). The other fields are the same network after post-training quantisation
(``ptq_accuracy``), quantisation-aware training (``qat_accuracy``), on a simulated PCM
crossbar (``noisy_accuracy``), after hardware-aware training (``analog_accuracy``), and
the latter two under conductance drift after 60 s / 1 h / 1 day / 30 days
(``*_drift_<seconds>``, a mean +- uncertainty).

Its numbers are therefore close to, but not the same as, NAS-Bench-201's own
(``ori-test`` at 200 epochs): here the best cell is 94.07 (NB201: 94.37), the 341 cells
whose output is not connected to the input score exactly 10.0, and no other cell does.

Encodings
---------
The package keys a record by a 6-tuple in NASLib's encoding:

* ops: ``0 skip_connect, 1 none, 2 nor_conv_3x3, 3 nor_conv_1x1, 4 avg_pool_3x3``
  (NASLib ``OP_NAMES = [Identity, Zero, ReLUConvBN3x3, ReLUConvBN1x1, AvgPool1x1]``);
* edges (from node, to node): ``(0,1), (0,2), (0,3), (1,2), (1,3), (2,3)``.

This module uses NAS-Bench-201's own encoding everywhere (:data:`OPS`, :data:`EDGES`):

* ops: ``0 none, 1 skip_connect, 2 nor_conv_1x1, 3 nor_conv_3x3, 4 avg_pool_3x3``;
* edges in the order of the arch string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, i.e.
  ``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2``.

Checked on the data: all-``none`` is 10.0; the 10.0 cells are exactly the disconnected
ones under this edge mapping (and its graph reversal, ruled out by NASLib's code); the
best cell, ``(2, 2, 0, 2, 3, 2)`` in the package's encoding, is
``|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|``
= ``(3, 3, 3, 1, 2, 3)`` here, 94.0664.

Reading it safely
-----------------
``data.anb`` is a pickle of the package's classes ``Architecture`` and
``DriftMeasurement``. :func:`load_nb201_table` never imports the package (its loader needs
``pkg_resources`` and pandas) and never runs code from the file: a restricted
:class:`pickle.Unpickler` maps exactly those two classes to inert data holders and refuses
every other global (a ``pickle.UnpicklingError`` naming it), and persistent ids.
"""
import functools
import hashlib
import importlib.metadata
import io
import itertools
import os
import os.path as osp
import pickle
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from pinas_mm.space.arch import Arch

NUM_EDGES = 6
NUM_OPS = 5
NUM_CELLS = NUM_OPS ** NUM_EDGES  # 15,625

#: NAS-Bench-201 op names, index = op code used here.
OPS = ('none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3', 'avg_pool_3x3')
#: edges ``(to_node, from_node)`` in the order of the NAS-Bench-201 arch string.
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))

#: op names of the package's (NASLib's) codes 0..4
PACKAGE_OPS = ('skip_connect', 'none', 'nor_conv_3x3', 'nor_conv_1x1', 'avg_pool_3x3')
#: edges ``(to_node, from_node)`` of the package's tuple positions 0..5 (NASLib's
#: ``EDGE_LIST = ((1,2),(1,3),(1,4),(2,3),(2,4),(3,4))`` on nodes 1..4)
PACKAGE_EDGES = ((1, 0), (2, 0), (3, 0), (2, 1), (3, 1), (3, 2))

_OP_TO_STD = tuple(OPS.index(name) for name in PACKAGE_OPS)     # package op -> ours
_OP_TO_PKG = tuple(PACKAGE_OPS.index(name) for name in OPS)     # our op -> package
_POS_FROM_PKG = tuple(PACKAGE_EDGES.index(e) for e in EDGES)    # our edge i <- package pos

#: sha256 of ``data.anb`` in analog-nasbench 0.1.3 (its wheel's RECORD)
DATA_SHA256 = '85f3435b877aa2d36268d55ce07f6ff6d73643d17a840f1941745da5eb80db32'

#: scalar fields of a record; drift fields are (mean, uncertainty) pairs
SCALAR_METRICS = ('baseline_accuracy', 'ptq_accuracy', 'qat_accuracy', 'noisy_accuracy',
                  'analog_accuracy')
DRIFT_METRICS = tuple(f'{kind}_drift_{t}' for kind in ('baseline', 'analog')
                      for t in (60, 3600, 86400, 2592000))
METRICS = SCALAR_METRICS + DRIFT_METRICS


# --------------------------------------------------------------------------- encodings
def from_package(cell: Sequence[int]) -> Arch:
    """Package (NASLib) 6-tuple -> :class:`Arch` in NAS-Bench-201 op codes and edge order."""
    cell = _check_cell(cell, 'package cell')
    return Arch(tuple(_OP_TO_STD[cell[p]] for p in _POS_FROM_PKG), NUM_EDGES, NUM_OPS)


def to_package(arch: Sequence[int]) -> Tuple[int, ...]:
    """Inverse of :func:`from_package`."""
    arch = _check_cell(arch, 'arch')
    out = [0] * NUM_EDGES
    for i, p in enumerate(_POS_FROM_PKG):
        out[p] = _OP_TO_PKG[arch[i]]
    return tuple(out)


def arch_to_str(arch: Sequence[int]) -> str:
    """NAS-Bench-201 arch string, e.g. ``|nor_conv_3x3~0|+|none~0|none~1|+|...~2|``."""
    a = _check_cell(arch, 'arch')
    names = [f'{OPS[op]}~{src}' for op, (_, src) in zip(a, EDGES)]
    return '|{}|+|{}|{}|+|{}|{}|{}|'.format(*names)


def str_to_arch(text: str) -> Arch:
    """Parse a NAS-Bench-201 arch string (inverse of :func:`arch_to_str`)."""
    form = ("'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' with op in " + ', '.join(OPS))
    nodes = str(text).strip().split('+')
    ops = []
    try:
        if len(nodes) != 3:
            raise ValueError
        for to, node in enumerate(nodes, start=1):
            items = [s for s in node.split('|') if s]
            if len(items) != to:
                raise ValueError
            for src, item in enumerate(items):
                name, given = item.split('~')
                if int(given) != src or name not in OPS:
                    raise ValueError
                ops.append(OPS.index(name))
    except ValueError:
        raise ValueError(f'Invalid NAS-Bench-201 arch string {text!r}: expected {form}.') \
            from None
    return Arch(tuple(ops), NUM_EDGES, NUM_OPS)


def arch_index(arch: Sequence[int]) -> int:
    """Row of ``arch`` in :attr:`NB201Table.accuracy` (base-5 number, edge 0 first)."""
    a = _check_cell(arch, 'arch')
    idx = 0
    for op in a:
        idx = idx * NUM_OPS + op
    return idx


def all_archs():
    """All 15,625 archs in row order of the table."""
    return [Arch(c, NUM_EDGES, NUM_OPS) for c in itertools.product(range(NUM_OPS),
                                                                    repeat=NUM_EDGES)]


def _check_cell(cell, what) -> Tuple[int, ...]:
    try:
        t = tuple(cell)
        ok = len(t) == NUM_EDGES and all(
            isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= c < NUM_OPS
            for c in t)
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f'Invalid {what} {cell!r}: expected {NUM_EDGES} op codes in '
                         f'0..{NUM_OPS - 1}.')
    return tuple(int(c) for c in t)


# ------------------------------------------------------------------ restricted unpickler
class _Record:
    """Inert stand-in for ``analognasbench.data.Architecture`` / ``DriftMeasurement``:
    takes its state as a plain dict of attributes and does nothing else."""

    __slots__ = ('state',)

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(
                f'Refusing pickle state of type {type(state).__name__}: expected a dict.')
        object.__setattr__(self, 'state', state)


class _ArchitectureRecord(_Record):
    __slots__ = ()


class _DriftRecord(_Record):
    __slots__ = ()


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that only knows the two data classes of ``analognasbench.data``.

    Builtin containers, ints, floats and strings are pickle opcodes, not globals, so they
    need no entry; any global other than :attr:`ALLOWED` raises
    ``pickle.UnpicklingError`` and so do persistent ids.
    """

    ALLOWED = {('analognasbench.data', 'Architecture'): _ArchitectureRecord,
               ('analognasbench.data', 'DriftMeasurement'): _DriftRecord}

    def find_class(self, module, name):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            allowed = ', '.join(f'{m}.{n}' for m, n in self.ALLOWED)
            raise pickle.UnpicklingError(
                f'Refusing to load global {module}.{name}: this reader only maps {allowed} '
                'to plain data.') from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError(f'Refusing persistent id {pid!r}.')


# ----------------------------------------------------------------------------- table
class NB201Table:
    """All 15,625 NAS-Bench-201 cells with AnalogNAS-Bench's CIFAR-10 metrics.

    Attributes:
        metrics: ``{name: float64 array (15625,)}`` for :data:`SCALAR_METRICS` (percent)
            and :data:`DRIFT_METRICS` (the drift mean, percent); row = :func:`arch_index`.
        drift_uncertainty: ``{name: array (15625,)}`` for :data:`DRIFT_METRICS`.
        path, sha256: the file read and its digest.
    """

    def __init__(self, metrics: Dict[str, np.ndarray], drift_uncertainty: Dict[str, np.ndarray],
                 path: str, sha256: str):
        self.metrics = metrics
        self.drift_uncertainty = drift_uncertainty
        self.path = path
        self.sha256 = sha256

    @property
    def accuracy(self) -> np.ndarray:
        """``baseline_accuracy`` (full-precision CIFAR-10 test accuracy, %), shape (15625,)."""
        return self.metrics['baseline_accuracy']

    def __len__(self) -> int:
        return len(self.accuracy)

    def query(self, arch, metric: str = 'baseline_accuracy') -> float:
        """``metric`` of ``arch`` (an :class:`Arch`/6-tuple in NB201 codes or an arch string)."""
        if metric not in self.metrics:
            raise ValueError(f'Invalid metric {metric!r}: expected one of {", ".join(METRICS)}.')
        if isinstance(arch, str) and arch.strip().startswith('|'):
            arch = str_to_arch(arch)
        return float(self.metrics[metric][arch_index(arch)])

    def best(self, metric: str = 'baseline_accuracy') -> Tuple[Arch, float]:
        """(arch, value) of the highest ``metric`` (first in row order on ties)."""
        values = self.metrics[metric]
        i = int(np.argmax(values))
        return all_archs()[i], float(values[i])


def default_path() -> str:
    """``analognasbench/data.anb`` of the installed ``analog-nasbench`` distribution, found
    through its metadata (the package itself is not imported)."""
    env = os.environ.get('PINAS_NB201_TABLE')
    if env:
        return env
    try:
        dist = importlib.metadata.distribution('analog-nasbench')
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            'NAS-Bench-201 table not found: the package analog-nasbench is not installed. '
            'Install it with `pip install --no-deps analog-nasbench==0.1.3` (only its data '
            'file is used), or set PINAS_NB201_TABLE to a data.anb file.') from None
    return str(dist.locate_file('analognasbench/data.anb'))


@functools.lru_cache(maxsize=4)
def load_nb201_table(path: Optional[str] = None) -> NB201Table:
    """Read ``data.anb`` (default: :func:`default_path`) without running code from it.

    Raises ``FileNotFoundError`` (no file), ``pickle.UnpicklingError`` (a global other than
    the package's two data classes) or ``ValueError`` (not the expected 15,625 records),
    each naming the file.
    """
    path = osp.abspath(path or default_path())
    if not osp.isfile(path):
        raise FileNotFoundError(f'NAS-Bench-201 table {path!r} not found (expected '
                                'analognasbench/data.anb of analog-nasbench 0.1.3).')
    with open(path, 'rb') as f:
        raw = f.read()
    sha = hashlib.sha256(raw).hexdigest()
    try:
        data = RestrictedUnpickler(io.BytesIO(raw)).load()
    except pickle.UnpicklingError as e:
        raise pickle.UnpicklingError(f'{path}: {e}') from None
    except Exception as e:  # noqa: BLE001 - truncated / not a pickle: re-raised with the path
        raise ValueError(f'Invalid NAS-Bench-201 table {path!r}: not a readable pickle '
                         f'({type(e).__name__}: {e}).') from None
    return _to_table(data, path, sha)


def _to_table(data, path: str, sha: str) -> NB201Table:
    def bad(why):
        return ValueError(f'Invalid NAS-Bench-201 table {path!r}: {why}; expected a dict of '
                          f'{NUM_CELLS} analognasbench Architecture records keyed by 6-tuples.')

    if not isinstance(data, dict) or len(data) != NUM_CELLS:
        raise bad(f'got {type(data).__name__} of {len(data) if hasattr(data, "__len__") else "?"}'
                  ' entries')
    metrics = {m: np.full(NUM_CELLS, np.nan) for m in METRICS}
    unc = {m: np.full(NUM_CELLS, np.nan) for m in DRIFT_METRICS}
    for key, rec in data.items():
        try:
            arch = from_package(key)
        except ValueError as e:
            raise bad(str(e)) from None
        if not isinstance(rec, _ArchitectureRecord) or tuple(rec.state.get('architecture', ())) \
                != tuple(key):
            raise bad(f'record of {key!r} is not an Architecture of that cell')
        row = arch_index(arch)
        for m in SCALAR_METRICS:
            metrics[m][row] = _number(rec.state.get(m), key, m, bad)
        for m in DRIFT_METRICS:
            d = rec.state.get(m)
            if not isinstance(d, _DriftRecord):
                raise bad(f'{m} of {key!r} is not a DriftMeasurement')
            metrics[m][row] = _number(d.state.get('value'), key, m, bad)
            unc[m][row] = _number(d.state.get('uncertainty'), key, m, bad)
    if np.isnan(metrics['baseline_accuracy']).any():
        raise bad('some cells are missing')
    return NB201Table(metrics, unc, path, sha)


def _number(value, key, name, bad) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad(f'{name} of {key!r} is {value!r}, not a number')
    return float(value)


# ------------------------------------------------------------------------- evaluator
class NB201Evaluator:
    """Lookup evaluator: score of an arch = its table accuracy (no training, no data).

    Args:
        metric: one of :data:`METRICS` (default ``baseline_accuracy``, CIFAR-10 test
            accuracy in %).
        path: the ``data.anb`` file (default :func:`default_path`).

    ``evaluator(arch) -> float``; ``evaluator.batch(archs) -> (n,) array``. Archs are
    :class:`Arch`/6-tuples in NAS-Bench-201 codes (:data:`OPS`, :data:`EDGES`) or arch
    strings. :attr:`num_blocks` / :attr:`num_choices` (6 / 5) are what a strategy needs.
    """

    num_blocks = NUM_EDGES
    num_choices = NUM_OPS

    def __init__(self, metric: str = 'baseline_accuracy', path: Optional[str] = None):
        self.table = load_nb201_table(path)
        if metric not in self.table.metrics:
            raise ValueError(f'Invalid metric {metric!r}: expected one of {", ".join(METRICS)}.')
        self.metric = metric
        self.values = self.table.metrics[metric]

    def __call__(self, arch) -> float:
        return self.table.query(arch, self.metric)

    def batch(self, archs) -> np.ndarray:
        a = np.asarray(archs, dtype=np.int64).reshape(-1, NUM_EDGES)
        if a.size and (a.min() < 0 or a.max() >= NUM_OPS):
            raise ValueError(f'Invalid archs: op codes must be in 0..{NUM_OPS - 1}.')
        idx = a @ (NUM_OPS ** np.arange(NUM_EDGES - 1, -1, -1))
        return self.values[idx]

    def optimum(self) -> Tuple[float, Arch]:
        """(best value, best arch)."""
        arch, value = self.table.best(self.metric)
        return value, arch
