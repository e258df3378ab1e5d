"""DARTS-PT's decisions, free of models and loops: which paths an estimate scores and
which candidate each block keeps (see :mod:`pinas_mm.search.perturbation` for the method).

* :func:`sample_paths`: the paths of one estimate. Path ``j`` of decision ``step`` uses
  the uniform draws ``u = default_rng([seed, step, j]).random(num_blocks)``, block ``i``
  taking ``options_i[floor(u_i * len(options_i))]``; the estimates of all candidates of
  a block therefore share their random numbers (common random numbers: the other
  blocks' choices are identical across the removed candidates, which cancels most of
  the path-to-path noise from the comparison).
* :class:`PerturbationSelector`: the algorithm over an ``evaluate(arch) -> score``
  callable (a fake one in tests), with an optional tuner. Its records (the settings, one
  ``estimate`` per (decision, removed candidate) as soon as it is computed, one
  ``decision`` per fixed block) go to a :class:`~pinas_mm.search.SearchHistory`
  (:meth:`~pinas_mm.search.SearchHistory.add_decision`, committed at once); a stopped run
  reopens the history and continues at the next undecided block; stored estimates are
  never recomputed.
"""
import math
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from pinas_mm.space import Arch
from .history import SearchHistory

Allowed = List[List[int]]

#: keys of the meta record that must match for a stored run to be continued
_META_KEYS = ('num_blocks', 'num_choices', 'order', 'num_paths', 'seed', 'tune_iters',
              'checkpoint')


def sample_paths(allowed: Sequence[Sequence[int]], block: int, removed: int, num_paths: int,
                 seed: int, step: int, num_choices: int) -> List[Arch]:
    """``num_paths`` paths uniform over ``allowed`` with ``removed`` excluded at ``block``.

    Draws depend only on ``(seed, step, j)``, not on the removed candidate (common random
    numbers across the candidates of one block; see the module doc).
    """
    options = [sorted(set(a)) for a in allowed]
    options[block] = [c for c in options[block] if c != removed]
    if not options[block]:
        raise ValueError(f'Cannot remove candidate {removed} from block {block}: it is the '
                         f'only one allowed there ({sorted(allowed[block])}).')
    paths = []
    for j in range(num_paths):
        u = np.random.default_rng([seed, step, j]).random(len(options))
        paths.append(Arch([opts[min(int(x * len(opts)), len(opts) - 1)]
                           for x, opts in zip(u, options)], len(options), num_choices))
    return paths


class PerturbationSelector:
    """DARTS-PT progressive selection over an ``evaluate(arch) -> score`` callable.

    Args:
        evaluate: higher is better; called once per distinct path between two tunings
            (results are cached until the supernet changes).
        num_blocks, num_choices: the space.
        num_paths: paths per with-removal estimate.
        seed: fixes the block order (when ``order`` is None) and every sampled path.
        order: the blocks in decision order (a permutation of ``range(num_blocks)``);
            default a random permutation from ``seed``.
        history: the :class:`~pinas_mm.search.SearchHistory` the records go to and a
            resumed run reads (default: a new in-memory one).
        tuner: optional; ``tuner(step, allowed)`` fine-tunes the supernet after decision
            ``step`` (called for every decision but the last) and saves what a resume
            needs; ``tuner.restore(num_decisions) -> k`` loads the newest saved state of
            decisions ``<= num_decisions`` and returns its ``k`` (0: the source weights).
        log: ``str -> None``.
        meta: ``tune_iters`` and ``checkpoint`` of the run, stored with the settings (a
            resumed run must have the same).
    """

    def __init__(self, evaluate: Callable[[Arch], float], num_blocks: int, num_choices: int,
                 num_paths: int = 8, seed: int = 0, order: Optional[Sequence[int]] = None,
                 history: Optional[SearchHistory] = None, tuner=None,
                 log: Callable[[str], None] = print, meta: Optional[Dict] = None):
        for name, value, low in (('num_blocks', num_blocks, 1), ('num_choices', num_choices, 2),
                                 ('num_paths', num_paths, 1), ('seed', seed, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f'Invalid {name}={value!r}: expected an int >= {low}.')
        self.evaluate = evaluate
        self.num_blocks, self.num_choices = int(num_blocks), int(num_choices)
        self.num_paths, self.seed = int(num_paths), int(seed)
        self.order = self.check_order(order, self.num_blocks, self.seed)
        self.history = history if history is not None else SearchHistory(
            None, 'perturbation', self.num_blocks, self.num_choices)
        self.tuner = tuner
        self.log = log
        self.meta = dict(meta or {})
        self.cache: Dict[Arch, float] = {}

    @staticmethod
    def check_order(order, num_blocks: int, seed: int) -> List[int]:
        if order is None:
            return [int(b) for b in np.random.default_rng(seed).permutation(num_blocks)]
        try:
            order = [int(b) for b in order]
        except (TypeError, ValueError):
            order = None
        if order is None or sorted(order) != list(range(num_blocks)):
            raise ValueError(f'Invalid order={order!r}: expected every block index '
                             f'0..{num_blocks - 1} exactly once, or None for a random order '
                             'from the seed.')
        return order

    # ---- pieces ------------------------------------------------------------------------
    def score(self, arch: Arch) -> float:
        if arch not in self.cache:
            value = float(self.evaluate(arch))
            if math.isnan(value):
                raise ValueError(f'The scorer returned nan for arch {arch}.')
            self.cache[arch] = value
        return self.cache[arch]

    def estimate(self, step: int, block: int, removed: int, allowed: Allowed) -> Dict:
        paths = sample_paths(allowed, block, removed, self.num_paths, self.seed, step,
                             self.num_choices)
        scores = [self.score(p) for p in paths]
        return dict(kind='estimate', step=step, block=block, removed=removed,
                    score=float(np.mean(scores)), std=float(np.std(scores)),
                    paths=[str(p) for p in paths], scores=scores)

    def _where(self) -> str:
        return f'{self.history.storage_url!r} (study {self.history.study_name!r})'

    def _meta_record(self) -> Dict:
        return dict(kind='meta', num_blocks=self.num_blocks, num_choices=self.num_choices,
                    order=self.order, num_paths=self.num_paths, seed=self.seed,
                    tune_iters=self.meta.get('tune_iters', 0),
                    checkpoint=self.meta.get('checkpoint'))

    def _check_meta(self) -> None:
        want = self._meta_record()
        have = self.history.decision_meta()
        if have is None:
            if self.history.decision_records():
                raise ValueError(f'{self._where()} holds decision records but no meta '
                                 'record: not written by PerturbationSelector; use another '
                                 'work_dir or study.')
            self.history.add_decision(want)
            return
        diff = {k: (have.get(k), want[k]) for k in _META_KEYS if have.get(k) != want[k]}
        if diff:
            raise ValueError(
                f'{self._where()} was written by a perturbation run with other settings '
                + ', '.join(f'{k}={a!r} (now {b!r})' for k, (a, b) in diff.items())
                + ': its decisions do not apply. Use a new work_dir, or the old settings.')

    def _allowed_after(self, decisions: List[Dict]) -> List[Allowed]:
        """allowed sets after each stored decision (index k: after decisions 0..k)."""
        allowed = [list(range(self.num_choices)) for _ in range(self.num_blocks)]
        out = []
        for k, d in enumerate(decisions):
            if d['step'] != k or d['block'] != self.order[k]:
                raise ValueError(f'Stored decision {d} does not follow the order '
                                 f'{self.order} (expected step {k}, block {self.order[k]}).')
            allowed[d['block']] = [int(d['choice'])]
            out.append([list(a) for a in allowed])
        return out

    # ---- the run -----------------------------------------------------------------------
    def run(self) -> Arch:
        self._check_meta()
        decisions = self.history.decisions()
        history = self._allowed_after(decisions)
        allowed = history[-1] if history else [list(range(self.num_choices))
                                              for _ in range(self.num_blocks)]
        if decisions:
            self.log(f'Perturbation: {len(decisions)} of {self.num_blocks} blocks decided '
                     f'in {self._where()}, continuing at step {len(decisions)}.')
        if self.tuner is not None:
            tuned = self.tuner.restore(len(decisions))
            for k in range(tuned, min(len(decisions), self.num_blocks - 1)):
                self.log(f'Perturbation: re-running the tuning after decision {k} (its '
                         'checkpoint was not saved).')
                self.tuner(k, history[k])
        for step in range(len(decisions), self.num_blocks):
            block = self.order[step]
            stored = self.history.estimates(step)
            estimates = {}
            for c in allowed[block]:
                if c in stored:
                    estimates[c] = stored[c]
                    continue
                estimates[c] = self.history.add_decision(self.estimate(step, block, c, allowed))
            cands = sorted(estimates)
            scores = [estimates[c]['score'] for c in cands]
            choice = cands[int(np.argmin(scores))]  # removal hurts most; ties: lowest index
            allowed[block] = [choice]
            self.history.add_decision(dict(
                kind='decision', step=step, block=block, choice=choice,
                scores_without={str(c): estimates[c]['score'] for c in cands},
                allowed=[list(a) for a in allowed]))
            self.log(f'Perturbation step {step + 1}/{self.num_blocks}: block {block} <- '
                     f'candidate {choice}; score without each candidate: '
                     + ', '.join(f'{c}: {s:.4g}' for c, s in zip(cands, scores)))
            if self.tuner is not None and step < self.num_blocks - 1:
                self.tuner(step, [list(a) for a in allowed])
                self.cache.clear()
        return Arch([a[0] for a in allowed], self.num_blocks, self.num_choices)
