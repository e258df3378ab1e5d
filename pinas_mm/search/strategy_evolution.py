"""mmrazor's evolution search (``EvolutionSearchLoop``: random population, then mutation +
uniform crossover of the top-k; the SPOS search of Guo et al., "Single Path One-Shot Neural
Architecture Search with Uniform Sampling", ECCV 2020) as a pure function of (seed, history).
"""
from typing import Optional

import numpy as np

from pinas_mm.registry import STRATEGIES
from pinas_mm.space.arch import Arch

from .strategy_base import BaseStrategy, check_float, check_int


@STRATEGIES.register_module()
class EvolutionStrategy(BaseStrategy):
    """mmrazor's evolution search as a generator over the history.

    The first ``init_random`` (default ``population_size``) evaluations are uniform random.
    Afterwards every child comes from the ``top_k`` best archs of the history so far: of each
    ``num_mutation + num_crossover`` consecutive children, ``num_mutation`` are mutations (a
    random top-k parent, each block resampled with probability ``mutate_prob``) and
    ``num_crossover`` are uniform crossovers of two distinct top-k parents. A child that
    keeps colliding with the history (``child_tries`` attempts) is replaced by a random arch.
    Calling ``propose(history, n=population_size)`` once per generation reproduces the
    generational loop; ``n=1`` gives a steady-state evolution.

    Args:
        **kwargs: :class:`~pinas_mm.search.strategy_base.BaseStrategy` (``num_blocks``,
            ``num_choices``, ``seed``, ``is_valid``, ``max_tries``).
    """

    _salt = 2

    def __init__(self, population_size: int = 50, top_k: int = 10, num_mutation: int = 25,
                 num_crossover: int = 25, mutate_prob: float = 0.1,
                 init_random: Optional[int] = None, child_tries: int = 50, **kwargs):
        super().__init__(**kwargs)
        self.population_size = check_int('population_size', population_size, 1)
        self.top_k = check_int('top_k', top_k, 1)
        self.num_mutation = check_int('num_mutation', num_mutation, 0)
        self.num_crossover = check_int('num_crossover', num_crossover, 0)
        self.child_tries = check_int('child_tries', child_tries, 1)
        if self.num_mutation + self.num_crossover == 0:
            raise ValueError('Invalid num_mutation=0 and num_crossover=0: at least one must be '
                             '> 0.')
        self.mutate_prob = check_float('mutate_prob', mutate_prob, 0.0, 1.0)
        init_random = check_int('init_random', init_random, 0, none='population_size')
        self.init_random = self.population_size if init_random is None else init_random

    def _propose(self, history, picker, rng):
        picker.fill_random(rng, self.init_random - len(history))
        if picker.done:
            return
        parents = np.array([a for a, _ in self._ranked(history)[:self.top_k]], dtype=np.int64)
        if len(parents) == 0:
            picker.fill_random(rng, picker.n)
            return
        cycle = self.num_mutation + self.num_crossover
        child_index = max(0, len(history) - self.init_random)
        while not picker.done:
            crossover = (child_index % cycle) >= self.num_mutation and len(parents) >= 2
            child_index += 1
            draw = self.crossover if crossover else self.mutate
            picker.offer_child(lambda: draw(parents, rng), self.child_tries, rng)

    def mutate(self, parents: np.ndarray, rng: np.random.Generator) -> Arch:
        """A random parent with each block resampled with probability ``mutate_prob``."""
        parent = parents[rng.integers(len(parents))]
        mask = rng.random(self.num_blocks) < self.mutate_prob
        new = rng.integers(0, self.num_choices, size=self.num_blocks)
        return self._arch(np.where(mask, new, parent))

    def crossover(self, parents: np.ndarray, rng: np.random.Generator) -> Arch:
        """Uniform crossover of two distinct random parents."""
        i, j = rng.choice(len(parents), size=2, replace=False)
        mask = rng.random(self.num_blocks) < 0.5
        return self._arch(np.where(mask, parents[i], parents[j]))
