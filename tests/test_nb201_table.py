"""The NAS-Bench-201 table (analog-nasbench's data.anb), its safe reader, and every search
strategy run on that landscape."""
import os
import pickle

import numpy as np
import pytest

from pinas_mm.registry import STRATEGIES
from pinas_mm.search.nb201_table import (DATA_SHA256, NUM_CELLS, NB201Evaluator, arch_index,
                                         arch_to_str, from_package, load_nb201_table,
                                         str_to_arch, to_package)

BEST_NB201_STR = ('|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|'
                  'nor_conv_1x1~1|nor_conv_3x3~2|')


@pytest.fixture(scope='module')
def table():
    return load_nb201_table()


def _disconnected(a):
    """Output node 3 unreachable from node 0 (NB201 codes, string edge order; 0 = none)."""
    e10, e20, e21, e30, e31, e32 = (op != 0 for op in a)
    n1 = e10
    n2 = e20 or (n1 and e21)
    return not (e30 or (n1 and e31) or (n2 and e32))


def test_table_reads_with_known_extremes(table):
    assert len(table) == NUM_CELLS == 15625
    assert table.sha256 == DATA_SHA256
    assert table.query((0, 0, 0, 0, 0, 0)) == 10.0  # all none
    arch, best = table.best()
    assert round(best, 2) == 94.07
    # the package's best key (2, 2, 0, 2, 3, 2) is in NASLib's encoding
    assert arch == from_package((2, 2, 0, 2, 3, 2)) == (3, 3, 3, 1, 2, 3)
    assert to_package(arch) == (2, 2, 0, 2, 3, 2)
    assert arch_to_str(arch) == BEST_NB201_STR and str_to_arch(BEST_NB201_STR) == arch
    assert table.query(BEST_NB201_STR) == best
    # the edge / op mapping: 10.0 exactly on the cells whose output is disconnected
    from pinas_mm.search.nb201_table import all_archs
    archs = all_archs()
    disc = np.array([_disconnected(a) for a in archs])
    assert disc.sum() == 341
    np.testing.assert_array_equal(table.accuracy == 10.0, disc)
    assert table.accuracy.min() == 10.0 and np.isfinite(table.accuracy).all()
    assert [arch_index(a) for a in archs[:3]] == [0, 1, 2]


def test_evaluator_and_bad_input(table):
    ev = NB201Evaluator()
    archs = [(3, 3, 3, 1, 2, 3), (0, 0, 0, 0, 0, 0), (1, 2, 3, 4, 0, 1)]
    np.testing.assert_array_equal(ev.batch(archs), [ev(a) for a in archs])
    assert ev.optimum() == (table.best()[1], table.best()[0])
    with pytest.raises(ValueError, match='Invalid arch'):
        ev((0, 0, 0, 0, 0, 5))
    with pytest.raises(ValueError, match='Invalid NAS-Bench-201 arch string'):
        str_to_arch('|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|')
    with pytest.raises(ValueError, match='Invalid metric'):
        NB201Evaluator(metric='accuracy')


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


def test_restricted_unpickler_refuses_code(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'data.anb'
    path.write_bytes(pickle.dumps({(0,) * 6: _Evil(str(marker))}))
    with pytest.raises(pickle.UnpicklingError, match=r'Refusing to load global (posix|os)\.system'):
        load_nb201_table(str(path))
    assert not marker.exists()
    # a builtin callable is refused as well, and a plain pickle of the wrong shape is named
    path.write_bytes(pickle.dumps(eval))
    with pytest.raises(pickle.UnpicklingError, match='builtins.eval'):
        load_nb201_table(str(path))
    path.write_bytes(pickle.dumps({'a': 1}))
    with pytest.raises(ValueError, match='Invalid NAS-Bench-201 table'):
        load_nb201_table(str(path))


@pytest.mark.parametrize('name', ['RandomStrategy', 'EvolutionStrategy', 'PartitionStrategy',
                                  'RegularizedEvolutionStrategy', 'TPEStrategy'])
def test_strategies_on_nb201(name, table):
    ev = NB201Evaluator()

    def is_valid(a):  # a budget: at most 4 parametric (conv) edges
        return sum(op in (2, 3) for op in a) <= 4

    def make():
        return STRATEGIES.build(dict(type=name, num_blocks=6, num_choices=5, seed=3,
                                     is_valid=is_valid))

    strategy = make()
    history = []
    while len(history) < 96:
        for arch in strategy.propose(history, 1 if len(history) < 90 else 3):
            history.append((arch, ev(arch)))
    archs = [a for a, _ in history]
    assert len(archs) == 96 == len(set(archs))
    assert all(is_valid(a) for a in archs)
    # deterministic given seed and history, whatever a previous call cached
    assert make().propose(history, 4) == strategy.propose(history, 4)
    assert make().propose(history[:50], 2) == strategy.propose(history[:50], 2)
