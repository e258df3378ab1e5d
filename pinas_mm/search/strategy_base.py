"""What every search strategy shares: the ``propose(seed, history)`` contract, argument checks
and the picker that turns candidate archs into new, valid, distinct proposals.

A strategy keeps no state a killed search would lose: :meth:`BaseStrategy.propose` reads the
history (``[(arch, score), ...]`` in evaluation order, higher score is better) and derives
everything else from it, its random stream included (seeded from ``seed``, ``len(history)``
and the strategy's ``_salt``). Replaying a stored history therefore resumes a search exactly
where it stopped. Caches (the partition tree, the TPE study) are keyed on the history they
were built from.

Every proposal is new (not in the history, no repeats within one call) and passes the
budget predicate ``is_valid(arch)``; when ``max_tries`` candidates in a row are rejected the
strategy raises a ``RuntimeError`` that names the budget.

A new strategy subclasses :class:`BaseStrategy`, sets a distinct ``_salt``, checks its
arguments with :func:`check_int` / :func:`check_float` and implements ``_propose(history,
picker, rng)``, which offers candidates to the :class:`Picker` until ``picker.done``:
``picker.fill_random`` for uniform random archs, ``picker.offer_child`` for a derived arch
(a mutation, a TPE ask) with a random fallback after a number of tries.
"""
import math
from typing import Callable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from pinas_mm.space.arch import NUM_BLOCKS, NUM_CHOICES, Arch

History = Sequence[Tuple[Arch, float]]

#: Spaces at most this big are enumerated to tell exactly when no valid unseen arch is left.
_ENUMERATE_LIMIT = 4096


def check_int(name: str, value, low: int, none: Optional[str] = None) -> Optional[int]:
    """``int(value)`` for an int (not a bool) ``>= low``; with ``none`` (what ``None`` stands
    for), ``None`` is returned as is.

    Raises:
        ValueError: one line naming the argument, its value and the valid forms, e.g.
            ``Invalid top_k=0: expected an int >= 1.``
    """
    if value is None and none is not None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        also = f' or None (= {none})' if none is not None else ''
        raise ValueError(f'Invalid {name}={value!r}: expected an int >= {low}{also}.')
    return int(value)


def check_float(name: str, value, low: float, high: Optional[float] = None) -> float:
    """``float(value)`` for a real number ``>= low`` (and ``<= high`` when given).

    Raises:
        ValueError: one line naming the argument, its value and the valid range, e.g.
            ``Invalid mutate_prob=1.5: expected a float in [0, 1].``
    """
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    if not (x >= low and (high is None or x <= high)):  # NaN fails both
        valid = f'in [{low:g}, {high:g}]' if high is not None else f'>= {low:g}'
        raise ValueError(f'Invalid {name}={value!r}: expected a float {valid}.')
    return x


class Picker:
    """Collects the proposals of one ``propose`` call: new, valid, distinct archs.

    Raises ``RuntimeError`` (naming the budget) after ``strategy.max_tries`` rejected
    candidates in a row: already in the history or this call, or over budget.
    """

    def __init__(self, strategy: 'BaseStrategy', seen, n: int, history_len: int):
        self.strategy = strategy
        self.seen = set(seen)
        self.n = n
        self.history_len = history_len
        self.accepted: List[Arch] = []
        self.invalid = set()
        self.fails = 0

    @property
    def done(self) -> bool:
        return len(self.accepted) >= self.n

    def offer(self, arch: Arch) -> bool:
        """Accept ``arch`` if it is new and within budget; True when accepted."""
        if arch in self.seen:
            ok = False
        elif arch in self.invalid:
            ok = False
        elif self.strategy.is_valid is not None and not self.strategy.is_valid(arch):
            self.invalid.add(arch)
            ok = False
        else:
            ok = True
        if ok:
            self.seen.add(arch)
            self.accepted.append(arch)
            self.fails = 0
            return True
        self.fails += 1
        if self.fails >= self.strategy.max_tries:
            raise RuntimeError(
                f'{type(self.strategy).__name__} could not find a new architecture: '
                f'{self.fails} candidates in a row were already evaluated or rejected by the '
                f'budget predicate is_valid={self.strategy.is_valid!r} '
                f'({len(self.accepted)} of {self.n} proposed, {self.history_len} in history, '
                f'{len(self.invalid)} distinct candidates over budget). The budget is too '
                f'tight or the valid unseen space is exhausted: relax the budget, or raise '
                f'max_tries={self.strategy.max_tries} if valid archs are just rare.')
        return False

    def offer_child(self, draw: Callable[[], Arch], tries: int, rng: np.random.Generator,
                    on_reject: Optional[Callable[[], None]] = None) -> bool:
        """Offer ``draw()`` up to ``tries`` times (calling ``on_reject()`` after each
        rejection); if none is accepted, take one uniform random arch instead.

        Returns True when a drawn arch was accepted, False after the random fallback.
        """
        for _ in range(tries):
            if self.offer(draw()):
                return True
            if on_reject is not None:
                on_reject()
        self.fill_random(rng, 1)
        return False

    def random_arch(self, rng: np.random.Generator) -> Arch:
        s = self.strategy
        return s._arch(rng.integers(0, s.num_choices, size=s.num_blocks))

    def fill_random(self, rng: np.random.Generator, count: int) -> None:
        """Accept up to ``count`` more uniform random archs (never more than ``n`` in all)."""
        target = min(self.n, len(self.accepted) + count)
        while len(self.accepted) < target:
            self.offer(self.random_arch(rng))


class BaseStrategy:
    """Propose ``n`` new architectures from the history; stateless between calls.

    Args:
        num_blocks, num_choices: the space (``num_choices ** num_blocks`` archs).
        seed: non-negative int; with the history it fixes every proposal.
        is_valid: budget predicate ``arch -> bool`` (e.g. FLOPs <= X); ``None`` accepts all.
        max_tries: rejections in a row (already seen or over budget) before giving up with
            a ``RuntimeError``.
    """

    #: mixed into the random seed so that strategies draw different streams
    _salt = 0

    def __init__(self, num_blocks: int = NUM_BLOCKS, num_choices: int = NUM_CHOICES,
                 seed: int = 0, is_valid: Optional[Callable[[Arch], bool]] = None,
                 max_tries: int = 10000):
        self.num_blocks = check_int('num_blocks', num_blocks, 1)
        self.num_choices = check_int('num_choices', num_choices, 1)
        self.seed = check_int('seed', seed, 0)
        self.max_tries = check_int('max_tries', max_tries, 1)
        if is_valid is not None and not callable(is_valid):
            raise ValueError(f'Invalid is_valid={is_valid!r}: expected a callable arch -> bool '
                             'or None.')
        self.is_valid = is_valid

    # ----------------------------------------------------------------------------- public
    def propose(self, history: History = (), n: int = 1) -> List[Arch]:
        """``n`` new distinct archs, none in ``history``, each passing ``is_valid``.

        ``history`` is ``[(arch, score), ...]`` in evaluation order (archs in any form
        :meth:`Arch.parse` accepts; a mapping ``arch -> score`` or a
        :class:`~pinas_mm.search.SearchHistory` work too); higher scores are better.
        """
        n = check_int('n', n, 0)
        hist = self._normalize_history(history)
        if n == 0:
            return []
        seen = {a for a, _ in hist}
        self._check_space(seen, n, len(hist))
        rng = self._rng(len(hist))
        picker = Picker(self, seen, n, len(hist))
        self._propose(hist, picker, rng)
        if not picker.done:  # a subclass bug, never a user error
            raise AssertionError(f'{type(self).__name__} proposed {len(picker.accepted)} of {n}')
        return list(picker.accepted)

    def _propose(self, history: List[Tuple[Arch, float]], picker: Picker,
                 rng: np.random.Generator) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------------------- helpers
    def _arch(self, choices) -> Arch:
        return Arch((int(c) for c in choices), self.num_blocks, self.num_choices)

    def _rng(self, history_len: int, *extra: int) -> np.random.Generator:
        return np.random.default_rng(
            np.random.SeedSequence([self.seed, history_len, self._salt, *extra]))

    def _normalize_history(self, history) -> List[Tuple[Arch, float]]:
        if hasattr(history, 'pairs') and callable(history.pairs):
            history = history.pairs()
        elif isinstance(history, Mapping):
            history = list(history.items())
        out, prevalidated = [], []
        for i, item in enumerate(history):
            try:
                arch, score = item
            except (TypeError, ValueError):
                raise ValueError(f'Invalid history entry {i}: {item!r}; expected an '
                                 '(arch, score) pair.') from None
            if type(arch) is Arch and len(arch) == self.num_blocks:
                prevalidated.append(arch)  # range checked below, in one go
            else:
                arch = Arch.parse(arch, self.num_blocks, self.num_choices)
            try:
                score = float(score)
            except (TypeError, ValueError):
                raise ValueError(f'Invalid history entry {i}: score {score!r} of arch {arch} '
                                 'is not a number.') from None
            out.append((arch, score))
        if prevalidated and np.max(prevalidated) >= self.num_choices:
            bad = next(a for a in prevalidated if max(a) >= self.num_choices)
            Arch.parse(bad, self.num_blocks, self.num_choices)  # raises, naming the arch
        return out

    def _check_space(self, seen, n: int, history_len: int) -> None:
        size = self.num_choices ** self.num_blocks
        if len(seen) + n > size:
            raise RuntimeError(
                f'{type(self).__name__} cannot propose {n} new architectures: the space has '
                f'only {size} and {len(seen)} are already in the history.')
        if size <= _ENUMERATE_LIMIT and self.is_valid is not None:
            left = 0
            for idx in np.ndindex(*([self.num_choices] * self.num_blocks)):
                arch = self._arch(idx)
                if arch not in seen and self.is_valid(arch):
                    left += 1
            if left < n:
                raise RuntimeError(
                    f'{type(self).__name__} cannot propose {n} new architectures: only {left} '
                    f'unseen architectures of the {size} in the space pass the budget '
                    f'predicate is_valid={self.is_valid!r} ({history_len} in history); the '
                    'valid space is exhausted, relax the budget.')

    @staticmethod
    def _ranked(history: List[Tuple[Arch, float]]) -> List[Tuple[Arch, float]]:
        """Best first; NaN scores last; ties keep evaluation order."""
        return sorted(history, key=lambda p: -p[1] if p[1] == p[1] else math.inf)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_blocks={self.num_blocks}, '
                f'num_choices={self.num_choices}, seed={self.seed})')
