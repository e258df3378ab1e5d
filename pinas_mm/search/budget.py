"""The FLOPs / params budget of a search: one object, ``budget(arch) -> bool``."""
import math
from typing import Dict, Optional, Tuple

from pinas_mm.space import Arch

#: the budgeted quantities, in the order of :meth:`Budget.complexity`
KEYS = ('flops', 'params')
_FORMS = ('give None (no limit), a maximum (a number), or [min, max] (min None: 0, '
          'max None: no upper limit)')


def parse_limit(value, name: str) -> Optional[Tuple[float, float]]:
    """``(min, max)`` of one budget value: ``None`` -> ``None``; a number ``m`` ->
    ``(0, m)``; ``[lo, hi]`` -> ``(lo or 0, hi)`` with ``hi=None`` meaning no upper limit.

    Raises a one-line ``ValueError`` naming ``name`` and the value for anything else
    (a bool, a string, NaN, a list of another length, ``min > max``)."""
    if value is None:
        return None

    def number(x):
        if isinstance(x, bool) or not isinstance(x, (int, float)) or math.isnan(x):
            raise ValueError(f'Invalid {name}={value!r}: {_FORMS}.')
        return x

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(number(value)))
    if isinstance(value, (list, tuple)) and len(value) == 2:
        lo = float(number(value[0]) or 0) if value[0] is not None else 0.0
        hi = float(number(value[1])) if value[1] is not None else float('inf')
        if lo > hi:
            raise ValueError(f'Invalid {name}={value!r}: min {lo:g} > max {hi:g}; {_FORMS}.')
        return (lo, hi)
    raise ValueError(f'Invalid {name}={value!r}: {_FORMS}.')


class Budget:
    """Which archs a search may evaluate: FLOPs and params inside their limits.

    ``budget(arch)`` is the ``is_valid`` predicate of the strategies; the quantities are
    those of :func:`pinas_mm.models.complexity.arch_complexity` (mmengine's FLOPs of one
    ``input_size`` x ``input_size`` image, one multiply-add = one FLOP, and the parameter
    count, with a ``num_classes``-way fc head; a cached per-space table).

    Args:
        flops / params: ``None`` (no limit), a maximum (FLOPs / parameters), or
            ``[min, max]`` (see :func:`parse_limit`; a bad value is a one-line
            ``ValueError`` naming ``flops_budget`` / ``params_budget``).
        space: the search space (name or :class:`~pinas_mm.space.SearchSpace`).
        input_size / num_classes: how FLOPs and params are counted.
    """

    def __init__(self, flops=None, params=None, space='resnest50', input_size: int = 224,
                 num_classes: int = 1000):
        self.limits: Dict[str, Optional[Tuple[float, float]]] = dict(
            flops=parse_limit(flops, 'flops_budget'),
            params=parse_limit(params, 'params_budget'))
        self.space = space
        self.input_size, self.num_classes = input_size, num_classes

    @property
    def active(self) -> bool:
        """Whether any limit is set (without one every arch is valid)."""
        return any(v is not None for v in self.limits.values())

    def complexity(self, arch: Arch) -> Dict[str, int]:
        """``{'flops': int, 'params': int}`` of ``arch`` (the counts the limits apply to)."""
        from pinas_mm.models.complexity import arch_complexity
        flops, params = arch_complexity(arch, self.space, self.input_size, self.num_classes)
        return dict(flops=flops, params=params)

    def __call__(self, arch: Arch) -> bool:
        """True when every set limit holds for ``arch`` (bounds inclusive)."""
        if not self.active:
            return True
        cx = self.complexity(arch)
        return all(lim is None or lim[0] <= cx[key] <= lim[1]
                   for key, lim in self.limits.items())

    def check_reachable(self) -> None:
        """Raise a one-line ``ValueError`` when no arch of the space can satisfy a limit
        (the limit lies outside the space's [smallest, largest] count)."""
        from pinas_mm.models.complexity import complexity_table
        if not self.active:
            return
        bounds = complexity_table(self.space, self.input_size, self.num_classes).bounds()
        for key, lim in self.limits.items():
            if lim is not None:
                lo, hi = bounds[key]
                if lim[1] < lo or lim[0] > hi:
                    name = getattr(self.space, 'name', self.space)
                    raise ValueError(
                        f'No architecture satisfies {key}_budget={list(lim)}: the space '
                        f'{name} spans {key} [{lo:,}, {hi:,}] at input '
                        f'{self.input_size} with a {self.num_classes}-class head.')

    def describe(self) -> str:
        """One line, e.g. ``'flops <= 5.4e+09, params in [1e+06, 2e+07]'``, or
        ``'no budget'``."""
        parts = []
        for key, lim in self.limits.items():
            if lim is None:
                continue
            lo, hi = lim
            if hi == float('inf'):
                parts.append(f'{key} >= {lo:g}')
            elif lo == 0:
                parts.append(f'{key} <= {hi:g}')
            else:
                parts.append(f'{key} in [{lo:g}, {hi:g}]')
        return ', '.join(parts) if parts else 'no budget'

    def __repr__(self) -> str:
        return f'Budget({self.describe()})'
