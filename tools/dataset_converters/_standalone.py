"""Load one ``pinas_mm/datasets`` module straight from its file.

The dataset tools need only numpy and Pillow; importing the ``pinas_mm`` package would pull
in torch and OpenMMLab. An installed package (no source checkout beside the tools) is
imported normally.
"""
import importlib
import importlib.util
import os.path as osp

_REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_datasets_module(name):
    """The module ``pinas_mm.datasets.<name>``, loaded from its file when this is a checkout."""
    path = osp.join(_REPO, 'pinas_mm', 'datasets', f'{name}.py')
    if not osp.isfile(path):
        return importlib.import_module(f'pinas_mm.datasets.{name}')
    spec = importlib.util.spec_from_file_location(f'_pinas_mm_datasets_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
