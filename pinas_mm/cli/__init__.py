"""The command lines of the mmengine-Runner tools: ``tools/<name>.py`` runs
``pinas_mm.cli.<name>.main``, as ``tools/model_converters/<name>.py`` does (the
checkpoint converters; their mapping: :mod:`pinas_mm.models.converters`). Their shared
arguments and config handling: :mod:`pinas_mm.tools_common`. The other tools' entry points
live beside their logic (:func:`pinas_mm.export.main`,
:func:`pinas_mm.orchestration.pipeline.main`, :func:`pinas_mm.orchestration.ntaa.main`,
:func:`pinas_mm.orchestration.ranking_study.main`, :func:`pinas_mm.analysis.main`)."""
