"""Flows of tool runs: each stage runs a script of ``tools/`` in a subprocess.

- :mod:`.runner`: the one tool runner (:func:`~.runner.run_tool`) and the base of a
  staged flow in a work_dir (:class:`~.runner.StagedRun`);
- :mod:`.pipeline`: the main job (``tools/pipeline.py``): datasets -> supernet -> probe
  -> search -> export -> detection / segmentation fine-tunes over seeds -> report;
- :mod:`.ntaa`: NTAA per-domain adaptation (``tools/adapt_domain.py``): prepare ->
  adapt -> probe -> search -> export on a target domain;
- :mod:`.ranking_study`: the tiny-space ranking study
  (``tools/analysis/ranking_study.py``): stand-alone training runs of sampled archs vs.
  each supernet's score of them, rank correlations and a report.
"""
