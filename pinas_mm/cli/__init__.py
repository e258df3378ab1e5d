"""The command lines of the mmengine-Runner tools: ``tools/<name>.py`` runs
``pinas_mm.cli.<name>.main``, as ``tools/model_converters/<name>.py`` does (the
checkpoint converters; their mapping: :mod:`pinas_mm.models.converters`). Their shared
arguments and config handling: :mod:`pinas_mm.tools_common`. The other tools' entry points
live beside their logic (:func:`pinas_mm.export.main`,
:func:`pinas_mm.orchestration.pipeline.main`, :func:`pinas_mm.orchestration.ntaa.main`,
:func:`pinas_mm.orchestration.ranking_study.main`, :func:`pinas_mm.analysis.main`)."""
import importlib

#: each thin ``tools/`` script (path from the repository root) -> the module whose ``main``
#: it runs; the tests import these modules instead of loading the scripts by path
TOOL_MODULES = {
    'tools/train.py': 'pinas_mm.cli.train',
    'tools/test.py': 'pinas_mm.cli.test',
    'tools/search.py': 'pinas_mm.cli.search',
    'tools/export_subnet.py': 'pinas_mm.export',
    'tools/pipeline.py': 'pinas_mm.orchestration.pipeline',
    'tools/adapt_domain.py': 'pinas_mm.orchestration.ntaa',
    'tools/model_converters/timm_resnest_to_pinas.py': 'pinas_mm.cli.timm_resnest_to_pinas',
    'tools/model_converters/pinas_authors_to_pinas.py': 'pinas_mm.cli.pinas_authors_to_pinas',
    'tools/analysis/ranking_study.py': 'pinas_mm.orchestration.ranking_study',
    'tools/analysis/rank_correlation.py': 'pinas_mm.analysis',
    'tools/analysis/nb201_ranking_study.py': 'pinas_mm.analysis_nb201',
    'tools/analysis/zero_cost_study.py': 'pinas_mm.analysis_zero_cost',
}


def tool_module(script: str):
    """The module behind a ``tools/`` script: ``'tools/search.py'`` or just ``'search'``
    (a script directly under ``tools/``). ``ValueError`` naming the script and the known
    ones for any other name."""
    key = script if script in TOOL_MODULES else f'tools/{script}.py'
    if key not in TOOL_MODULES:
        raise ValueError(f'No package module for tool {script!r}; known: '
                         f'{", ".join(sorted(TOOL_MODULES))}')
    return importlib.import_module(TOOL_MODULES[key])
