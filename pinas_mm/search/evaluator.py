"""Candidate evaluation = BN recalibration of the path + a scorer."""
import itertools
import random
from typing import Dict, Iterable, List, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import all_reduce, all_reduce_params
from mmengine.model import is_model_wrapper
from torch.nn.modules.batchnorm import _BatchNorm

from pinas_mm.registry import SCORERS
from pinas_mm.space import Arch


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


def supernet_of(model: nn.Module) -> nn.Module:
    model = unwrap(model)
    backbone = getattr(model, 'backbone', model)
    if not hasattr(backbone, 'set_arch'):
        raise TypeError(f'Search needs a model whose backbone is pinas_mm.PiNASSuperNet; '
                        f'got {type(backbone).__name__}.')
    return backbone


def _rng_state():
    return random.getstate(), np.random.get_state(), torch.get_rng_state()


def _set_rng_state(state) -> None:
    random.setstate(state[0]), np.random.set_state(state[1]), torch.set_rng_state(state[2])


def seeded_batches(dataloader, num_batches: Optional[int], seed: int = 0) -> Iterable:
    """The first ``num_batches`` of a loader, identical on every call (seeded).

    The global RNGs are seeded while the loader produces each batch (random transforms of
    a ``num_workers=0`` loader draw then, not at ``iter()``) and the caller's RNG state is
    swapped back in around every ``yield``, so the caller neither perturbs nor sees the
    data's random stream."""
    outer = _rng_state()
    random.seed(seed), np.random.seed(seed), torch.manual_seed(seed)
    inner_active = True
    try:
        it = iter(dataloader)
        for i in itertools.count():
            if num_batches and i >= num_batches:
                break
            try:
                batch = next(it)
            except StopIteration:
                break
            inner = _rng_state()
            _set_rng_state(outer)
            inner_active = False
            yield batch
            outer = _rng_state()
            _set_rng_state(inner)
            inner_active = True
    finally:
        if inner_active:
            _set_rng_state(outer)


@torch.no_grad()
def recalibrate_bn(model: nn.Module, arch: Arch, dataloader, num_batches: int,
                   seed: int = 0) -> int:
    """Precise BN for one path: reset the path's BN statistics and set them to the
    average of per-batch statistics over ``num_batches`` batches (each rank its shard),
    then average across ranks. Returns the number of batches used on this rank."""
    model = unwrap(model)
    supernet = supernet_of(model)
    supernet.set_arch(arch)
    bns: List[_BatchNorm] = [m for mod in supernet.path_modules(arch) for m in mod.modules()
                             if isinstance(m, _BatchNorm)]
    saved = [(bn.momentum, bn.training) for bn in bns]
    was_training = model.training
    model.eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches seen
        bn.train()
    used = 0
    try:
        for data in seeded_batches(dataloader, num_batches, seed):
            data = model.data_preprocessor(data, False)
            inputs = data['inputs']
            if isinstance(inputs, (list, tuple)):  # multi-view data: the first view
                inputs = inputs[0]
            supernet(inputs)
            used += 1
    finally:
        model.train(was_training)  # first: it would reset the BN flags restored below
        for bn, (momentum, training) in zip(bns, saved):
            bn.momentum = momentum
            bn.train(training)
    if used < num_batches:
        raise ValueError(f'BN recalibration asked for {num_batches} batches but the '
                         f'dataloader gave {used}: use a larger split or fewer batches.')
    # mean over ranks, every layer's statistics in one flattened collective
    all_reduce_params([t for bn in bns for t in (bn.running_mean, bn.running_var)],
                      op='mean')
    return used


class BaseScorer:
    """Scores the current path of a (recalibrated) supernet model. Higher is better."""

    def __init__(self, dataloader, num_batches: Optional[int] = None, seed: int = 0):
        self.dataloader = _build_loader(dataloader)
        self.num_batches = num_batches
        self.seed = seed

    def batches(self):
        return seeded_batches(self.dataloader, self.num_batches, self.seed)

    def __call__(self, model: nn.Module) -> float:
        raise NotImplementedError


def _build_loader(dataloader):
    if isinstance(dataloader, dict):
        from mmengine.runner import Runner
        return Runner.build_dataloader(dataloader)
    return dataloader


@SCORERS.register_module()
class LinearProbeScorer(BaseScorer):
    """Top-1 of the model's classification head (the supernet linear probe) on a
    held-out labelled split, in percent; counts are summed over ranks."""

    @torch.no_grad()
    def __call__(self, model):
        model = unwrap(model)
        model.eval()
        correct = torch.zeros(2, dtype=torch.float64)
        for data in self.batches():
            data = model.data_preprocessor(data, False)
            samples = model(**data, mode='predict')
            pred = torch.stack([s.pred_label for s in samples]).view(-1)
            gt = torch.stack([s.gt_label for s in samples]).view(-1)
            correct += torch.tensor([(pred == gt).sum().item(), gt.numel()],
                                    dtype=torch.float64)
        all_reduce(correct, op='sum')
        return float(100.0 * correct[0] / correct[1].clamp(min=1))


@SCORERS.register_module()
class SelfSupLossScorer(BaseScorer):
    """Label-free: minus the contrastive loss of the Pi-NAS model on the current path.

    Both views go through the (BN-recalibrated) student on the path: the teacher's BN
    statistics are a mixture over paths and are not recalibrated. Negatives are the
    trained queue, so the score rewards paths whose embeddings are view-invariant and
    spread out like the supernet's."""

    @torch.no_grad()
    def __call__(self, model):
        model = unwrap(model)
        model.eval()
        supernet = supernet_of(model)
        total = torch.zeros(2, dtype=torch.float64)
        for data in self.batches():
            data = model.data_preprocessor(data, False)
            views = data['inputs']
            q = F.normalize(model.neck(supernet(views[0]))[0], dim=1)
            k = F.normalize(model.neck(supernet(views[1]))[0], dim=1)
            loss = model.contrastive(q, k)
            total += torch.tensor([float(loss) * q.shape[0], q.shape[0]],
                                  dtype=torch.float64)
        all_reduce(total, op='sum')
        return -float(total[0] / total[1].clamp(min=1))


@SCORERS.register_module()
class KNNScorer(BaseScorer):
    """kNN top-1 (cosine, majority of ``k`` neighbours weighted by exp(sim / t)) of the
    pooled backbone features: the memory bank is ``memory_dataloader`` (labelled), the
    queries ``dataloader``. Works for any mmpretrain dataset with labels."""

    def __init__(self, dataloader, memory_dataloader, k: int = 20, temperature: float = 0.07,
                 num_batches: Optional[int] = None, seed: int = 0):
        super().__init__(dataloader, num_batches, seed)
        self.memory_dataloader = _build_loader(memory_dataloader)
        self.k = k
        self.temperature = temperature

    @torch.no_grad()
    def _features(self, model, batches):
        from mmengine.dist import all_gather
        supernet = supernet_of(model)
        feats, labels = [], []
        for data in batches:
            data = model.data_preprocessor(data, False)
            inputs = data['inputs']
            inputs = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
            f = supernet(inputs)[-1].mean((2, 3))
            feats.append(F.normalize(f, dim=1))
            labels.append(torch.stack([s.gt_label for s in data['data_samples']]).view(-1))
        feats, labels = torch.cat(feats), torch.cat(labels)
        return torch.cat(all_gather(feats)), torch.cat(all_gather(labels))

    @torch.no_grad()
    def __call__(self, model):
        model = unwrap(model)
        model.eval()
        bank, bank_labels = self._features(
            model, seeded_batches(self.memory_dataloader, None, self.seed))
        query, labels = self._features(model, self.batches())
        sim = query @ bank.t()
        k = min(self.k, bank.shape[0])
        top_sim, top_idx = sim.topk(k, dim=1)
        num_classes = int(max(bank_labels.max(), labels.max())) + 1
        votes = torch.zeros(query.shape[0], num_classes, device=query.device)
        votes.scatter_add_(1, bank_labels[top_idx], (top_sim / self.temperature).exp())
        return float(100.0 * (votes.argmax(1) == labels).float().mean())


class CandidateEvaluator:
    """Evaluate one arch: set the path, recalibrate BN, score; plus cached complexity."""

    def __init__(self, model, recal_dataloader, scorer: BaseScorer, recal_batches: int,
                 space='resnest50', input_size: int = 224, num_classes: int = 1000,
                 seed: int = 0):
        self.model = model
        self.recal_dataloader = recal_dataloader
        self.scorer = scorer
        self.recal_batches = recal_batches
        self.space = space
        self.input_size = input_size
        self.num_classes = num_classes
        self.seed = seed

    def complexity(self, arch: Arch) -> Dict[str, int]:
        from pinas_mm.models.complexity import arch_complexity
        flops, params = arch_complexity(arch, self.space, self.input_size, self.num_classes)
        return dict(flops=flops, params=params)

    def __call__(self, arch: Arch) -> float:
        recalibrate_bn(self.model, arch, self.recal_dataloader, self.recal_batches, self.seed)
        return self.scorer(self.model)
