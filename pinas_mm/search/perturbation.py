"""Perturbation-based progressive selection (DARTS-PT) on a single-path supernet.

DARTS-PT (PAPERS.md, section 2) on a single-path supernet of any space: an "edge" is
one block of the space (one of the 16 ResNeSt blocks, or one of the 6 NAS-Bench-201 cell
edges), and "removing op c" means sampling that block only among its other allowed
candidates. The supernet score with c removed is the mean score (BN recalibration + the
scorer, :class:`~pinas_mm.search.CandidateEvaluator`) of ``num_paths`` paths drawn
uniformly from the allowed sets with c excluded at that block. The block is fixed to the
candidate whose removal hurts most (argmin of the with-removal scores; ties go to the
lowest candidate index), optionally the supernet is fine-tuned on paths inside the
allowed sets (progressive tuning), and the next undecided block follows until all are
fixed. (With every candidate sharing the
same paths elsewhere, the argmin of "mean without c" is the argmax of the estimated
contribution of c: on a single-path supernet perturbation selection ranks candidates by
their average effect over the still-allowed paths, one block at a time, re-estimated
after every decision and tuning.)

It is a loop, not a ``STRATEGIES`` entry: its proposals are not a function of a history
of (arch, score) pairs but of with-removal estimates, and it trains the supernet between
decisions.

Pieces (each usable alone):

* :mod:`pinas_mm.search.perturbation_selector`: :func:`sample_paths` (the paths of one
  estimate, common random numbers across the candidates of a block) and
  :class:`PerturbationSelector` (the algorithm over an ``evaluate(arch) -> score``
  callable, a fake one in tests, with an optional tuner). Its records (settings, every
  with-removal estimate, every decision) live in the
  :class:`~pinas_mm.search.SearchHistory` (table ``pinas_mm_decisions``, committed one by
  one): a stopped run continues at the next undecided block; stored estimates are never
  recomputed.
* :mod:`pinas_mm.search.perturbation_loop`: :func:`restrict_paths`, the context manager
  progressive tuning runs in (it sets the supernet's own per-block allowed candidates,
  ``set_allowed``, which its samplers read, so the unchanged training code of
  ``pinas_mm.PiNAS`` and ``pinas_mm.SupernetClassifier`` samples only inside the allowed
  sets; leaving the context restores the previous restriction);
  :class:`ProgressiveTuner` (``train_step`` of the runner's model inside
  :func:`restrict_paths` and the model's own ``sampling_paths()`` switch); and
  :class:`PerturbationLoop` (``pinas_mm.PerturbationLoop``), the mmengine loop of
  ``tools/search.py``. It shares SearchLoop's set-up (input checks, evaluator, report:
  ``results.csv``, ``best_arch.yaml`` for ``tools/export_subnet.py --from-search``;
  :class:`~pinas_mm.search.loop_base.SupernetSearchLoop`) and adds ``perturbation.csv``
  (one row per decision with every with-removal score). The records go to
  ``<work_dir>/search.db``, study ``perturbation``. With ``tune_iters > 0`` the tuned
  supernet after decision k is saved as ``perturbation_ckpt/decision_{k}.pth`` (model +
  optimizer); a resumed run loads the latest one, and ``best_arch.yaml`` names the
  checkpoint to export from.

This module re-exports them (imports and registered names stay as they were).
"""
from .evaluator import CandidateEvaluator  # noqa: F401  (patched by tests)
from .perturbation_loop import (LEGACY_STORE, PerturbationLoop, ProgressiveTuner,
                                path_sampling, restrict_paths)
from .perturbation_selector import Allowed, PerturbationSelector, sample_paths

__all__ = ['PerturbationSelector', 'sample_paths', 'Allowed', 'PerturbationLoop',
           'ProgressiveTuner', 'restrict_paths', 'path_sampling', 'LEGACY_STORE',
           'CandidateEvaluator']
