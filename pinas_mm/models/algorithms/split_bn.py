"""Split (ghost) BatchNorm: the single-process substitute for MoCo's shuffle-BN.

MoCo (He et al., CVPR 2020, Sec. 3.3) shuffles the key batch across GPUs before the key
encoder so that each key is normalised with the statistics of a random subset of the
batch, not the subset its query was normalised with; otherwise the encoder can "cheat"
the pretext task through intra-batch BN statistics. In one process there is nothing to
shuffle across. MoCo's official single-GPU notebook (``SplitBatchNorm`` in
``moco/colab/moco_cifar10_demo.ipynb``) splits the batch into groups normalised
separately instead; :class:`SplitBatchNorm2d` does this for the key encoder here.
"""
from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F


class SplitBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d that, in train mode, normalises ``num_splits`` groups of the batch
    separately, each with its own mean and variance.

    Groups are consecutive slices (``torch.tensor_split``: sizes differ by at most one),
    so the caller shuffles the batch first to make them random, as PiNAS does. Groups
    hold at least 2 samples: a batch of ``N`` is cut into ``min(num_splits, N // 2)``
    groups (one group is plain BN). The running statistics are updated once per call
    with the mean of the groups' statistics (mean of means, mean of unbiased variances),
    as MoCo's ``SplitBatchNorm`` does; ``num_batches_tracked`` counts the call once. In
    eval mode, or with ``num_splits=1``, it is exactly ``nn.BatchNorm2d``. Parameters,
    buffers and state-dict keys are those of ``nn.BatchNorm2d``.

    Shapes: input and output ``(N, C, H, W)``.
    """

    num_splits: int = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        groups = min(self.num_splits, x.shape[0] // 2) if self.training else 1
        if groups <= 1:
            return super().forward(x)
        self._check_input_dim(x)
        track = self.track_running_stats and self.running_mean is not None
        factor = 0.0
        if track:
            self.num_batches_tracked.add_(1)
            factor = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                      else self.momentum)
        outs: List[torch.Tensor] = []
        means, variances = [], []
        for part in x.tensor_split(groups):
            mean = self.running_mean.clone() if track else None
            var = self.running_var.clone() if track else None
            # F.batch_norm moves mean / var towards this group's statistics in place
            outs.append(F.batch_norm(part, mean, var, self.weight, self.bias, True,
                                     factor, self.eps))
            means.append(mean)
            variances.append(var)
        if track:
            with torch.no_grad():
                self.running_mean.copy_(torch.stack(means).mean(0))
                self.running_var.copy_(torch.stack(variances).mean(0))
        return torch.cat(outs)


def convert_split_bn(module: nn.Module) -> List[SplitBatchNorm2d]:
    """Make every ``nn.BatchNorm2d`` (exact type) inside ``module`` a
    :class:`SplitBatchNorm2d` with ``num_splits=1``, in place: the layer objects, their
    parameters and buffers stay the same (only the class changes; the subclass adds no
    state), so references held elsewhere (an EMA's parameter list, a block shared by
    reference) stay valid. Other norms (SyncBN, GN, LN) are left alone. Returns the
    converted layers; set their ``num_splits`` to switch splitting on."""
    converted: List[SplitBatchNorm2d] = []
    for m in module.modules():
        if type(m) is nn.BatchNorm2d:
            m.__class__ = SplitBatchNorm2d
            converted.append(m)
        elif isinstance(m, SplitBatchNorm2d):
            converted.append(m)
    return converted
