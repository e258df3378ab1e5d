"""Uniform path sampling of a single-path supernet, inside per-block allowed candidates.

A supernet of any space (``self.space`` with ``num_blocks`` / ``num_choices`` and
``arch()``) mixes in :class:`PathSamplingMixin`. Its ``allowed_candidates`` is supernet
state: ``None`` (every candidate of every block) or one list of candidate indices per
block. Every sampler reads it, so a restriction set on the supernet (DARTS-PT's decided
blocks, :func:`pinas_mm.search.perturbation.restrict_paths`) reaches the unchanged
training code of ``PiNAS`` and ``SupernetClassifier``; a caller's own ``allowed`` is
intersected with it.
"""
import random
from typing import List, Optional, Sequence, Tuple

from torch import nn

from pinas_mm.models.backbones.layout import submodule
from pinas_mm.space import Arch
from pinas_mm.space.arch import ArchLike

Allowed = List[List[int]]


class PathSamplingMixin:
    """The path interface of a supernet, read from its layout (``self.layout()``, a
    :class:`~pinas_mm.models.backbones.layout.SupernetLayout`): ``arch`` / ``set_arch``
    (each slot's ``choice``), ``path_modules`` / ``path_state_keys``, and
    ``sample_arch`` / ``sample_disjoint_archs`` over the allowed candidates."""

    #: per-block allowed candidate indices (sorted), or None for all
    allowed_candidates: Optional[Allowed] = None

    @property
    def arch(self) -> Arch:
        """The path the supernet runs (the last :meth:`set_arch`)."""
        return self._arch

    def set_arch(self, arch: ArchLike) -> Arch:
        """Run the path ``arch`` (any form ``space.arch`` reads) from now on; returns it."""
        arch = self.space.arch(arch)
        for slot in self.layout().slots:
            submodule(self, slot.name).choice = arch[slot.position]
        self._arch = arch
        return arch

    def path_modules(self, arch: Optional[ArchLike] = None) -> List[nn.Module]:
        """The modules a path runs, forward order: fixed modules, and per slot the chosen
        candidate then the shared modules (:meth:`SupernetLayout.path_module_names`)."""
        arch = self.arch if arch is None else self.space.arch(arch)
        return [submodule(self, n) for n in self.layout().path_module_names(arch)]

    def path_state_keys(self, arch: Optional[ArchLike] = None) -> List[str]:
        """State-dict keys (params and buffers) of a path, supernet naming: those of
        :meth:`path_modules`, in that order."""
        arch = self.arch if arch is None else self.space.arch(arch)
        return [f'{n}.{k}' for n in self.layout().path_module_names(arch)
                for k in submodule(self, n).state_dict()]

    def set_allowed(self, allowed: Optional[Sequence[Sequence[int]]]) -> Optional[Allowed]:
        """Restrict every sampler to ``allowed`` (one non-empty list of candidate indices
        per block; ``None``: no restriction). Returns the previous restriction.
        ``ValueError`` names a wrong value."""
        previous = self.allowed_candidates
        if allowed is None:
            self.allowed_candidates = None
            return previous
        nb, nc = self.space.num_blocks, self.space.num_choices
        try:
            fixed = [sorted(set(int(c) for c in a)) for a in allowed]
        except (TypeError, ValueError):
            fixed = None
        if (fixed is None or len(fixed) != nb or not all(fixed)
                or any(not 0 <= c < nc for a in fixed for c in a)):
            raise ValueError(f'Invalid allowed={allowed!r}: expected {nb} non-empty lists of '
                             f'candidate indices in 0..{nc - 1}, or None.')
        self.allowed_candidates = fixed
        return previous

    def allowed_sets(self, allowed: Optional[Sequence[Sequence[int]]] = None) -> Allowed:
        """The candidates each block may take: the supernet's restriction intersected
        with ``allowed`` (when given). ``ValueError`` when a block is left empty."""
        nb, nc = self.space.num_blocks, self.space.num_choices
        own = self.allowed_candidates
        if own is None:
            return [list(a) for a in allowed] if allowed else [list(range(nc))] * nb
        if not allowed:
            return [list(a) for a in own]
        out = [[c for c in a if c in set(b)] for a, b in zip(own, allowed)]
        empty = [i for i, a in enumerate(out) if not a]
        if empty:
            raise ValueError(f'No candidate is allowed at blocks {empty}: the caller\'s '
                             f'allowed sets {[list(allowed[i]) for i in empty]} and the '
                             f'restriction {[own[i] for i in empty]} do not intersect.')
        return out

    def sample_arch(self, rng: Optional[random.Random] = None,
                    allowed: Optional[Sequence[Sequence[int]]] = None) -> Arch:
        """Uniform random path (``allowed[i]``: the candidates block i may take, within
        :attr:`allowed_candidates`)."""
        rng = rng or random
        return self.space.arch([rng.choice(list(a)) for a in self.allowed_sets(allowed)])

    def sample_disjoint_archs(self, rng: Optional[random.Random] = None,
                              allowed: Optional[Sequence[Sequence[int]]] = None
                              ) -> Tuple[Arch, Arch]:
        """Two paths differing in every block (two distinct candidates per block).

        A block restricted to a single candidate takes it in both paths.
        """
        rng = rng or random
        pairs = [rng.sample(list(a), 2) if len(a) > 1 else [a[0], a[0]]
                 for a in self.allowed_sets(allowed)]
        return (self.space.arch([p[0] for p in pairs]),
                self.space.arch([p[1] for p in pairs]))
