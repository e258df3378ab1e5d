"""FLOPs / params of an arch with mmengine's counter.

A block's cost depends only on its own candidate (its input/output shapes are fixed by
the macro structure), so FLOPs and params are additive over blocks. We count four
uniform subnets (all blocks = candidate c) once per space with mmengine's
``FlopAnalyzer`` / ``parameter_count``, keep a 16 x 4 per-block table, and price any
arch instantly and exactly; the bounds of the space come for free (budget checks).
"""
from functools import lru_cache
from typing import Dict, Tuple

import numpy as np
import torch

from pinas_mm.space import ArchLike, SearchSpace


class _Classifier(torch.nn.Module):
    def __init__(self, backbone, num_classes):
        super().__init__()
        self.backbone = backbone
        self.fc = (torch.nn.Linear(backbone.feat_dim, num_classes) if num_classes
                   else torch.nn.Identity())

    def forward(self, x):
        return self.fc(self.backbone(x)[-1].mean((2, 3)))


class ComplexityTable:
    """Per-block FLOPs/params table of a space at one input size and head size."""

    def __init__(self, space, input_size: int = 224, num_classes: int = 1000):
        from mmengine.analysis import FlopAnalyzer, parameter_count

        from .backbones import PiNASResNeSt
        self.space = space = SearchSpace.get(space)
        n, c = space.num_blocks, space.num_choices
        self.flops = np.zeros((n, c), dtype=np.int64)
        self.params = np.zeros((n, c), dtype=np.int64)
        base_flops = base_params = None
        x = torch.zeros(1, 3, input_size, input_size)
        for choice in range(c):
            model = _Classifier(PiNASResNeSt(arch=[choice] * n, space=space), num_classes)
            model.eval()
            analyzer = FlopAnalyzer(model, (x, ))
            analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            flops = analyzer.by_module()
            params = parameter_count(model)
            names = [f'backbone.{name}' for name, _ in model.backbone.named_blocks()]
            blk_f = [int(flops[k]) for k in names]
            blk_p = [int(params[k]) for k in names]
            self.flops[:, choice] = blk_f
            self.params[:, choice] = blk_p
            rest_f, rest_p = int(flops['']) - sum(blk_f), int(params['']) - sum(blk_p)
            if base_flops is None:
                base_flops, base_params = rest_f, rest_p
            assert (base_flops, base_params) == (rest_f, rest_p)
        self.base_flops, self.base_params = base_flops, base_params

    def __call__(self, arch: ArchLike) -> Tuple[int, int]:
        arch = self.space.arch(arch)
        idx = np.arange(len(arch))
        return (int(self.base_flops + self.flops[idx, list(arch)].sum()),
                int(self.base_params + self.params[idx, list(arch)].sum()))

    def bounds(self) -> Dict[str, Tuple[int, int]]:
        """(min, max) FLOPs and params over the whole space."""
        return dict(flops=(int(self.base_flops + self.flops.min(1).sum()),
                           int(self.base_flops + self.flops.max(1).sum())),
                    params=(int(self.base_params + self.params.min(1).sum()),
                            int(self.base_params + self.params.max(1).sum())))


@lru_cache(maxsize=None)
def _table(space: SearchSpace, input_size: int, num_classes: int) -> ComplexityTable:
    return ComplexityTable(space, input_size, num_classes)


def complexity_table(space='resnest50', input_size: int = 224,
                     num_classes: int = 1000) -> ComplexityTable:
    """The (cached) table of a space: keyed by the whole frozen :class:`SearchSpace`."""
    return _table(SearchSpace.get(space), input_size, num_classes)


def arch_complexity(arch: ArchLike, space='resnest50', input_size: int = 224,
                    num_classes: int = 1000) -> Tuple[int, int]:
    """(FLOPs, params) of the subnet with a ``num_classes`` fc head (0: backbone only).

    FLOPs are mmengine's (one multiply-add counts as one FLOP, as in the papers).
    """
    return complexity_table(space, input_size, num_classes)(arch)
