"""A fixed list of architectures as a search strategy: the ranking studies' "score these
archs" and a hand-picked shortlist run through the same driver as every search
(:func:`pinas_mm.search.driver.run_search`).

``propose(history, n)`` returns the first ``n`` archs of the list that are not in the
history (and pass the budget predicate ``is_valid``), in list order; it is a pure function
of the history like every strategy, so a killed run resumes where it stopped and several
workers split the list between them. Once fewer than ``n`` archs of the list are left the
strategy raises a ``RuntimeError`` (the driver's "space exhausted" signal), so a search
asking for more candidates than the list holds stops with that error. In a config::

    strategy=dict(type='pinas_mm.FixedStrategy', archs=['0123012301230123', ...])
"""
from typing import Dict, List, Sequence

from pinas_mm.registry import STRATEGIES
from pinas_mm.space.arch import Arch

from .strategy_base import BaseStrategy, check_int


@STRATEGIES.register_module()
class FixedStrategy(BaseStrategy):
    """Propose the archs of a fixed list in order; see the module docstring.

    Args:
        archs: a non-empty list of distinct archs, each in any form :meth:`Arch.parse`
            accepts (digit string, list of ints, :class:`Arch`, named arch).
        **kwargs: :class:`~pinas_mm.search.strategy_base.BaseStrategy` (``num_blocks``,
            ``num_choices``, ``is_valid``; ``seed`` and ``max_tries`` are accepted and
            unused: nothing is random).

    Raises:
        ValueError: ``archs`` is not a non-empty list, an entry is not an arch of the
            space, or an arch appears twice (one line naming the entry).
    """

    _salt = 6

    def __init__(self, archs: Sequence, **kwargs):
        super().__init__(**kwargs)
        if isinstance(archs, (str, bytes, Arch)) or not isinstance(archs, (list, tuple)):
            raise ValueError(f'Invalid archs={archs!r}: expected a list of archs (digit '
                             'strings, lists of ints or Arch).')
        if not archs:
            raise ValueError(f'Invalid archs={archs!r}: expected at least one arch.')
        parsed: List[Arch] = []
        where: Dict[Arch, int] = {}
        for i, value in enumerate(archs):
            try:
                arch = Arch.parse(value, self.num_blocks, self.num_choices)
            except ValueError as e:
                raise ValueError(f'archs[{i}]: {e}') from None
            if arch in where:
                raise ValueError(f'Invalid archs[{i}]={value!r}: arch {arch} is archs['
                                 f'{where[arch]}] already; expected distinct archs.')
            where[arch] = i
            parsed.append(arch)
        self.archs = parsed
        self._valid: Dict[Arch, bool] = {}  # is_valid results (a pure predicate)

    def propose(self, history=(), n: int = 1) -> List[Arch]:
        """The first ``n`` archs of the list not in ``history`` that pass ``is_valid``.

        Raises:
            RuntimeError: fewer than ``n`` such archs are left (the list is exhausted).
        """
        n = check_int('n', n, 0)
        hist = self._normalize_history(history)
        if n == 0:
            return []
        seen = {a for a, _ in hist}
        out: List[Arch] = []
        for arch in self.archs:
            if arch in seen or not self._passes(arch):
                continue
            out.append(arch)
            if len(out) == n:
                return out
        budget = (f' and pass the budget predicate is_valid={self.is_valid!r}'
                  if self.is_valid is not None else '')
        raise RuntimeError(
            f'FixedStrategy cannot propose {n} new architectures: only {len(out)} of its '
            f'{len(self.archs)} archs are not in the history{budget} ({len(hist)} in '
            'history); the list is exhausted.')

    def _passes(self, arch: Arch) -> bool:
        if self.is_valid is None:
            return True
        ok = self._valid.get(arch)
        if ok is None:
            ok = self._valid[arch] = bool(self.is_valid(arch))
        return ok

    def __repr__(self) -> str:
        return (f'FixedStrategy({len(self.archs)} archs, num_blocks={self.num_blocks}, '
                f'num_choices={self.num_choices})')
