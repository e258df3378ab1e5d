"""Regularized (aging) evolution, Real et al., "Regularized Evolution for Image Classifier
Architecture Search", AAAI 2019 (Algorithm 1), as a pure function of (seed, history).

The population is the ``population_size`` most recently evaluated archs of the history:
the first ``population_size`` evaluations are uniform random, and every later evaluation
enters the population while the oldest one dies (aging). Each child: draw
``sample_size`` members of the population uniformly *with replacement* (as Algorithm 1),
take the best of that sample as the parent, and mutate it: one uniformly chosen block gets
a different, uniformly chosen choice (the "op mutation"; NAS-Bench-201's R-EA baseline
mutates one edge the same way).

Defaults ``population_size=10, sample_size=3`` are NAS-Bench-201's R-EA settings (Dong &
Yang, ICLR 2020, ``scripts-search/algos/R-EA.sh``); Real et al. used P=100, S=25 for
20,000 models. Unlike the paper the search never evaluates an arch twice: a child already
in the history is redrawn (new sample, new mutation) up to ``child_tries`` times, then
replaced by a uniformly random new arch. Failed evaluations (NaN or -inf scores) count as
the worst and still age out.
"""
import math

import numpy as np

from pinas_mm.registry import STRATEGIES

from .strategy_base import BaseStrategy, check_int


@STRATEGIES.register_module()
class RegularizedEvolutionStrategy(BaseStrategy):
    """Aging evolution (Real et al. 2019); see the module docstring.

    Args:
        population_size: P, the number of most recent evaluations that form the
            population (and the length of the random warm-up).
        sample_size: S, members drawn (with replacement) per tournament.
        child_tries: redraws of a child that is already in the history or over budget
            before falling back to a random arch.
        **kwargs: :class:`~pinas_mm.search.strategy_base.BaseStrategy` (``num_blocks``,
            ``num_choices``, ``seed``, ``is_valid``, ``max_tries``).
    """

    _salt = 4

    def __init__(self, population_size: int = 10, sample_size: int = 3,
                 child_tries: int = 50, **kwargs):
        super().__init__(**kwargs)
        self.population_size = check_int('population_size', population_size, 1)
        self.sample_size = check_int('sample_size', sample_size, 1)
        self.child_tries = check_int('child_tries', child_tries, 1)
        if self.num_choices < 2:
            raise ValueError(f'Invalid num_choices={self.num_choices}: mutation needs >= 2.')

    def _propose(self, history, picker, rng):
        picker.fill_random(rng, self.population_size - len(history))
        if picker.done:
            return
        population = history[-self.population_size:]
        if not population:
            picker.fill_random(rng, picker.n)
            return
        archs = np.array([a for a, _ in population], dtype=np.int64)
        # NaN / -inf (failed evaluations) rank last
        fitness = np.array([s if s == s else -math.inf for _, s in population])

        def child():  # tournament of sample_size members, the best mutated
            sample = rng.integers(len(population), size=self.sample_size)
            return self.mutate(archs[sample[int(np.argmax(fitness[sample]))]], rng)

        while not picker.done:
            picker.offer_child(child, self.child_tries, rng)

    def mutate(self, parent, rng: np.random.Generator):
        """``parent`` with one random block set to a different random choice."""
        child = np.array(parent, dtype=np.int64)
        block = int(rng.integers(self.num_blocks))
        shift = int(rng.integers(1, self.num_choices))  # != 0: a different choice
        child[block] = (child[block] + shift) % self.num_choices
        return self._arch(child)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_blocks={self.num_blocks}, '
                f'num_choices={self.num_choices}, seed={self.seed}, '
                f'population_size={self.population_size}, sample_size={self.sample_size})')
