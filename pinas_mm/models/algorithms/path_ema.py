"""A mean teacher whose EMA step can be restricted to the parameters of one path."""
from typing import Iterable, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.model import ExponentialMovingAverage


class PathEMA(ExponentialMovingAverage):
    """mmengine's EMA, plus ``update_parameters(model, keys)``: average only ``keys``.

    Parameters outside ``keys`` (candidates not on the sampled path) keep their teacher
    values bit for bit. Buffers are never copied from the student: the teacher's BN
    statistics are its own, as in MoCo's key encoder. ``momentum`` follows mmengine:
    ``teacher = (1 - momentum) * teacher + momentum * student`` (Pi-NAS m=0.999 is
    ``momentum=0.001``).
    """

    def __init__(self, model: nn.Module, momentum: float = 0.001) -> None:
        super().__init__(model, momentum=momentum, interval=1, update_buffers=False)

    @torch.no_grad()
    def update_parameters(self, model: nn.Module,
                          keys: Optional[Iterable[str]] = None) -> None:
        src = dict(model.named_parameters())
        names = self.avg_parameters.keys() if keys is None else keys
        pairs = [(self.avg_parameters[k], src[k]) for k in names
                 if k in self.avg_parameters and k in src]  # buffer keys are skipped
        self.update_pairs(pairs)

    @torch.no_grad()
    def update_pairs(self, pairs: List[Tuple[torch.Tensor, torch.Tensor]]) -> None:
        """EMA step on (teacher tensor, student tensor) pairs, one fused foreach op."""
        if pairs:
            avg = [a for a, _ in pairs]
            torch._foreach_mul_(avg, 1 - self.momentum)
            torch._foreach_add_(avg, [s.detach() for _, s in pairs], alpha=self.momentum)
        self.steps += 1
