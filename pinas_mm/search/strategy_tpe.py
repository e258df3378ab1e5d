"""Optuna's TPE sampler driven through the search history (ask/tell).

Tree-structured Parzen Estimator: Bergstra et al., "Algorithms for Hyper-Parameter
Optimization", NeurIPS 2011; Optuna's implementation (Akiba et al., KDD 2019;
Watanabe, "Tree-Structured Parzen Estimator: Understanding Its Algorithm Components",
2023), with Optuna's default settings (10 random start-up trials, 24 EI candidates,
multivariate as Optuna chooses, constant liar for pending trials).

Each block is one categorical parameter ``b0..b{N-1}`` with choices ``0..C-1``. Every
record of the history is a completed trial (maximised), so the sampler's view is a pure
function of the history; its random stream is seeded from ``(seed, len(history))``, which
makes every proposal a pure function of (seed, history), as for the other strategies.
Failed evaluations (non-finite scores) are told as failed trials, which TPE ignores.

``propose(history, n)`` asks ``n`` trials; the ones asked earlier in the same call stay
pending, so Optuna's constant liar spreads a batch. TPE may ask for an arch that is
already in the history (it does not know that the objective is deterministic): such a
trial is told as failed and asked again, up to ``dup_tries`` times, then a uniformly random
new arch is taken instead. The study is cached between calls and extended by the new
records when the history grows by appending (failed asks are invisible to TPE, so the
cache does not change what is proposed).
"""
import math
import warnings
from typing import List, Optional, Tuple

from pinas_mm.registry import STRATEGIES

from .strategy_base import BaseStrategy, check_int


@STRATEGIES.register_module()
class TPEStrategy(BaseStrategy):
    """Optuna ``TPESampler`` over one categorical parameter per block.

    Args:
        n_startup_trials: random trials before TPE starts (Optuna's default 10).
        dup_tries: asks that return an already evaluated (or over-budget) arch before one
            random new arch is taken instead.
        sampler_kwargs: more ``optuna.samplers.TPESampler`` arguments (seed excluded).
        **kwargs: :class:`~pinas_mm.search.strategy_base.BaseStrategy` (``num_blocks``,
            ``num_choices``, ``seed``, ``is_valid``, ``max_tries``).
    """

    _salt = 5

    def __init__(self, n_startup_trials: int = 10, dup_tries: int = 10,
                 sampler_kwargs: Optional[dict] = None, **kwargs):
        super().__init__(**kwargs)
        self.n_startup_trials = check_int('n_startup_trials', n_startup_trials, 0)
        self.dup_tries = check_int('dup_tries', dup_tries, 1)
        sampler_kwargs = dict(sampler_kwargs or {})
        if 'seed' in sampler_kwargs:
            raise ValueError('Invalid sampler_kwargs: "seed" is derived from the strategy seed '
                             'and the history; pass seed= to the strategy instead.')
        self.sampler_kwargs = sampler_kwargs
        self._study = None
        self._told: List[Tuple] = []  # (arch, score) records added to the cached study

    # ------------------------------------------------------------------------ optuna
    def _distributions(self):
        from optuna.distributions import CategoricalDistribution
        return {f'b{i}': CategoricalDistribution(list(range(self.num_choices)))
                for i in range(self.num_blocks)}

    def _sync_study(self, history):
        """The cached study holding exactly ``history`` as trials (rebuilt if needed)."""
        import optuna
        from optuna.trial import TrialState, create_trial
        m = len(self._told)
        if self._study is None or m > len(history) or history[:m] != self._told:
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            self._study = optuna.create_study(direction='maximize')
            self._told, m = [], 0
        dists = self._distributions()
        new = []
        for arch, score in history[m:]:
            params = {f'b{i}': int(c) for i, c in enumerate(arch)}
            if math.isfinite(score):
                new.append(create_trial(params=params, distributions=dists, value=score))
            else:
                new.append(create_trial(params=params, distributions=dists,
                                        state=TrialState.FAIL))
        if new:
            self._study.add_trials(new)
            self._told.extend(history[m:])
        return self._study, dists

    def _propose(self, history, picker, rng):
        import optuna
        from optuna.trial import TrialState
        study, dists = self._sync_study(history)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', optuna.exceptions.ExperimentalWarning)
            study.sampler = optuna.samplers.TPESampler(
                n_startup_trials=self.n_startup_trials, seed=int(rng.integers(2**31)),
                **self.sampler_kwargs)
        pending, trial = [], None

        def ask():
            nonlocal trial
            trial = study.ask(dists)
            return self._arch(trial.params[f'b{i}'] for i in range(self.num_blocks))

        try:
            while not picker.done:
                # an evaluated or over-budget ask is told as failed; after dup_tries, random
                if picker.offer_child(ask, self.dup_tries, rng,
                                      on_reject=lambda: study.tell(trial, state=TrialState.FAIL)):
                    pending.append(trial)  # stays pending: the constant liar sees it
        finally:
            for t in pending:  # proposals come back as history records next call
                study.tell(t, state=TrialState.FAIL)
