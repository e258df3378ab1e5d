"""FLOPs / params of an arch with mmengine's counter.

An arch position's cost depends only on its own candidate (its input/output shapes are
fixed by the macro structure), so FLOPs and params are additive over positions. We count
the uniform subnets (all positions = candidate c) once per space with mmengine's
``FlopAnalyzer`` / ``parameter_count``, keep a positions x candidates table, and price
any arch instantly and exactly; the bounds of the space come for free (budget checks).

Any space works: the subnet is the space's subnet backbone
(``space.backbone_classes()[1]``), and its ``position_modules()`` names the modules of
each position (ResNeSt: one block; NAS-Bench-201: edge ``e`` of every cell, whose costs
are summed).
"""
from functools import lru_cache
from typing import Dict, Tuple

import numpy as np
import torch

from pinas_mm.space import ArchLike, get_space


class _Classifier(torch.nn.Module):
    def __init__(self, backbone, num_classes):
        super().__init__()
        self.backbone = backbone
        self.fc = (torch.nn.Linear(backbone.feat_dim, num_classes) if num_classes
                   else torch.nn.Identity())

    def forward(self, x):
        return self.fc(self.backbone(x)[-1].mean((2, 3)))


class ComplexityTable:
    """Per-position FLOPs/params table of a space at one input size and head size.

    Args:
        space: any space (:func:`~pinas_mm.space.get_space`: ``resnest50``, ``tiny``,
            ``nb201``, ``nb201-tiny``, a dict or a space object).
        input_size (int): side of the square input image, pixels.
        num_classes (int): classes of the fc head on the pooled last stage (0: none).

    Raises:
        AssertionError: the cost outside the positions changes with the candidates (the
            space is not additive).
    """

    def __init__(self, space, input_size: int = 224, num_classes: int = 1000):
        from mmengine.analysis import FlopAnalyzer, parameter_count

        self.space = space = get_space(space)
        _, subnet_cls = space.backbone_classes()
        n, c = space.num_blocks, space.num_choices
        self.flops = np.zeros((n, c), dtype=np.int64)
        self.params = np.zeros((n, c), dtype=np.int64)
        base_flops = base_params = None
        x = torch.zeros(1, 3, input_size, input_size)
        for choice in range(c):
            model = _Classifier(subnet_cls(arch=[choice] * n, space=space), num_classes)
            model.eval()
            analyzer = FlopAnalyzer(model, (x, ))
            analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            flops = analyzer.by_module()
            params = parameter_count(model)
            positions = [[f'backbone.{name}' for name in names]
                         for names in model.backbone.position_modules()]
            blk_f = [sum(int(flops[k]) for k in names) for names in positions]
            blk_p = [sum(int(params[k]) for k in names) for names in positions]
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
def _table(space, input_size: int, num_classes: int) -> ComplexityTable:
    return ComplexityTable(space, input_size, num_classes)


def complexity_table(space='resnest50', input_size: int = 224,
                     num_classes: int = 1000) -> ComplexityTable:
    """The (cached) table of a space: keyed by the whole frozen :class:`SearchSpace`."""
    return _table(get_space(space), input_size, num_classes)


def arch_complexity(arch: ArchLike, space='resnest50', input_size: int = 224,
                    num_classes: int = 1000) -> Tuple[int, int]:
    """(FLOPs, params) of the subnet with a ``num_classes`` fc head (0: backbone only).

    FLOPs are mmengine's (one multiply-add counts as one FLOP, as in the papers).
    """
    return complexity_table(space, input_size, num_classes)(arch)
