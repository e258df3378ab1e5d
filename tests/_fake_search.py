"""A fake search problem shared by the driver and worker tests: the NAS-Bench-201 shape
(6 blocks x 5 choices), a fixed additive objective, and a settable clock for claim expiry.

Imported as a plain module (pytest puts ``tests/`` on ``sys.path``; see _search_setup.py).
"""
import numpy as np

from pinas_mm.space import Arch

BLOCKS, CHOICES = 6, 5
W = np.random.default_rng(0).normal(size=(BLOCKS, CHOICES))


def objective(arch):
    """sum_i W[i, arch[i]]: a fixed score per arch, no noise."""
    return float(W[np.arange(BLOCKS), list(arch)].sum())


def arch(text):
    return Arch.parse(text, BLOCKS, CHOICES)


class Clock:
    """``time.time`` stand-in: returns ``t``; tests move ``t`` by hand."""

    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t
