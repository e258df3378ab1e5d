"""Uniform random search: the baseline every search strategy is compared to (Li & Talwalkar,
"Random Search and Reproducibility for Neural Architecture Search", UAI 2019)."""
from pinas_mm.registry import STRATEGIES

from .strategy_base import BaseStrategy


@STRATEGIES.register_module()
class RandomStrategy(BaseStrategy):
    """Uniformly random architectures (the baseline every search is compared to).

    Args:
        **kwargs: :class:`~pinas_mm.search.strategy_base.BaseStrategy` (``num_blocks``,
            ``num_choices``, ``seed``, ``is_valid``, ``max_tries``).
    """

    _salt = 1

    def _propose(self, history, picker, rng):
        picker.fill_random(rng, picker.n)
