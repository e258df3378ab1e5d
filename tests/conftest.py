import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@pytest.fixture(scope='session')
def tiny_data(tmp_path_factory):
    """The built-in tiny datasets, generated once per test session."""
    from pinas_mm.datasets.tiny import make_tiny_datasets
    out = tmp_path_factory.mktemp('tiny')
    make_tiny_datasets(str(out))
    return str(out)


@pytest.fixture
def one_thread():
    """One torch thread for the test (tiny forward passes: more threads than free cores
    is many times slower), restored afterwards."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
