"""Candidate evaluation = BN recalibration of the path + a scorer."""
import itertools
import random
from typing import Iterable, List, Optional, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import is_model_wrapper
from torch.nn.modules.batchnorm import _BatchNorm

from pinas_mm.engine.sharding import BatchShards, gather_rows, sum_rows
from pinas_mm.registry import SCORERS
from pinas_mm.space import Arch
from .batch_cache import DEFAULT_MAX_BYTES, BatchCache, build_batch_cache


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


def supernet_of(model: nn.Module) -> nn.Module:
    model = unwrap(model)
    backbone = getattr(model, 'backbone', model)
    if not hasattr(backbone, 'set_arch'):
        raise TypeError(f'Search needs a model whose backbone is pinas_mm.PiNASSuperNet; '
                        f'got {type(backbone).__name__}.')
    return backbone


def eval_mode(model: nn.Module):
    """``model.eval()``, skipped when no module is in train mode (the walk through the
    ``train`` overrides of a supernet's ~10^3 modules costs more than a small path's
    forward share). Returns ``(modules, their previous training flags)`` for
    :func:`restore_modes`."""
    modules = list(model.modules())
    modes = [m.training for m in modules]
    if any(modes):
        model.eval()
    return modules, modes


def restore_modes(modules: List[nn.Module], modes: List[bool]) -> None:
    """Set each module's ``training`` flag back to ``modes`` (only the changed ones)."""
    for m, mode in zip(modules, modes):
        if m.training != mode:
            m.training = mode


def _rng_state():
    return random.getstate(), np.random.get_state(), torch.get_rng_state()


def _set_rng_state(state) -> None:
    random.setstate(state[0]), np.random.set_state(state[1]), torch.set_rng_state(state[2])


def seeded_batches(dataloader, num_batches: Optional[int], seed: int = 0) -> Iterable:
    """The first ``num_batches`` of a loader, identical on every call (seeded).

    The global RNGs are seeded while the loader produces each batch (random transforms of
    a ``num_workers=0`` loader draw then, not at ``iter()``) and the caller's RNG state is
    swapped back in around every ``yield``, so the caller neither perturbs nor sees the
    data's random stream. This is one rank's view of its loader (its sampler's shard,
    padding included); the scorers and :func:`recalibrate_bn` use
    :class:`~pinas_mm.engine.sharding.BatchShards` instead, which is rank-invariant."""
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
                   seed: int = 0, batch_cache: Optional[BatchCache] = None) -> int:
    """Precise BN for one path: reset the path's BN statistics and set them to the
    average of per-batch statistics (mean, unbiased variance) over the first
    ``num_batches`` batches of one pass over ``dataloader``, each batch weighted by its
    number of images (equal weights for equal batch sizes: the per-batch average of
    "precise BN", Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021).

    The batches are those one process would draw, whatever the number of ranks
    (:class:`~pinas_mm.engine.sharding.BatchShards`: batch ``b`` runs on rank
    ``b % world_size``, no padding, no repeats); the per-batch statistics are gathered
    and averaged in batch order, so the result is the same for any number of ranks.
    Raises ``ValueError`` (on every rank, before any work) when the data has fewer than
    ``num_batches`` batches. Returns the number of batches used (over all ranks).

    With a ``batch_cache`` (:class:`~pinas_mm.search.batch_cache.BatchCache`) the
    batches come from its stream ``'recal'`` (bit-identical to streaming them)."""
    model = unwrap(model)
    supernet = supernet_of(model)
    shards = BatchShards(dataloader, num_batches,
                         drop_last=bool(getattr(dataloader, 'drop_last', False)))
    if len(shards) < num_batches:
        raise ValueError(f'BN recalibration asked for {num_batches} batches but the '
                         f'dataloader gave {len(shards)}: use a larger split or fewer '
                         'batches.')
    supernet.set_arch(arch)
    bns: List[_BatchNorm] = [m for mod in supernet.path_modules(arch) for m in mod.modules()
                             if isinstance(m, _BatchNorm)]
    if shards.world_size > 1 and any(isinstance(bn, nn.SyncBatchNorm) for bn in bns):
        raise ValueError('BN recalibration needs per-batch statistics, but the path has '
                         'SyncBatchNorm layers (sync_bn / norm_cfg SyncBN): build the '
                         "search model with norm_cfg=dict(type='BN').")
    saved = [bn.momentum for bn in bns]
    modules, modes = eval_mode(model)
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = 1.0  # running stats := this batch's statistics
        bn.train()
    rows, keys = [], []
    try:
        batches = (shards.iterate(seed) if batch_cache is None
                   else batch_cache.iterate('recal', shards, seed))
        for b, data in batches:
            data = model.data_preprocessor(data, False)
            inputs = data['inputs']
            if isinstance(inputs, (list, tuple)):  # multi-view data: the first view
                inputs = inputs[0]
            supernet(inputs)
            n = inputs.shape[0]
            stats = torch.cat([t.view(-1) for bn in bns
                               for t in (bn.running_mean, bn.running_var)]).double()
            rows.append(torch.cat([stats * n, stats.new_tensor([n])]))
            keys.append(b)
    finally:
        restore_modes(modules, modes)  # every module's train/eval flag as before
        for bn, momentum in zip(bns, saved):
            bn.momentum = momentum
    width = 2 * sum(bn.num_features for bn in bns) + 1
    device = bns[0].running_mean.device if bns else torch.device('cpu')
    local = torch.stack(rows) if rows else torch.zeros(0, width, dtype=torch.float64,
                                                       device=device)
    total = sum_rows(local, torch.tensor(keys, dtype=torch.long))
    mean = total[:-1] / total[-1]
    offset = 0
    for bn in bns:
        for t in (bn.running_mean, bn.running_var):
            t.copy_(mean[offset:offset + t.numel()].view_as(t))
            offset += t.numel()
        bn.num_batches_tracked.fill_(len(shards))
    return len(shards)


class BaseScorer:
    """Scores the current path of a (recalibrated) supernet model. Higher is better.

    Every scorer uses each image of its data exactly once, whatever the number of ranks:
    the data are the batches one process would draw (the first ``num_batches``, all by
    default), dealt out to the ranks without padding (:class:`BatchShards`), and the
    per-batch (per-image for kNN) results are gathered in that order before reducing,
    so the score is the same for 1, 2 or 3 ranks.

    Args:
        dataloader: the scoring data (a built loader or a dataloader config).
        num_batches: the first ``num_batches`` batches (over all ranks); all by default.
        seed: seeds the random transforms of every batch (:meth:`BatchShards.iterate`).
        cache_batches: keep the decoded, augmented batches of this rank in memory across
            candidates (:class:`~pinas_mm.search.batch_cache.BatchCache`), the scoring
            batches and, through :class:`CandidateEvaluator`, the BN recalibration
            batches; ``False``: decode and augment them again for every candidate.
            Scores are bit-identical either way.
        cache_max_bytes / cache_max_batches: the cache's bound per rank (bytes of
            tensors / batches, ``None``: none; default 2 GiB); past it the remaining
            batches are streamed. ``TypeError`` / ``ValueError`` for a bad value.
    """

    def __init__(self, dataloader, num_batches: Optional[int] = None, seed: int = 0,
                 cache_batches: bool = True,
                 cache_max_bytes: Optional[int] = DEFAULT_MAX_BYTES,
                 cache_max_batches: Optional[int] = None):
        self.batch_cache = build_batch_cache(cache_batches, cache_max_bytes,
                                             cache_max_batches)
        self.dataloader = _build_loader(dataloader)
        self.num_batches = num_batches
        self.seed = seed

    def iterate(self, name: str, shards: BatchShards):
        """``(global batch number, batch)`` of ``shards`` on this rank, seeded with
        ``self.seed``: from the batch cache's stream ``name`` when caching is on."""
        if self.batch_cache is None:
            return shards.iterate(self.seed)
        return self.batch_cache.iterate(name, shards, self.seed)

    def batches(self):
        """``(global batch number, batch)`` of this rank (seeded, see
        :meth:`BatchShards.iterate`; cached, see :meth:`iterate`)."""
        return self.iterate('score', BatchShards(self.dataloader, self.num_batches))

    def __call__(self, model: nn.Module) -> float:
        raise NotImplementedError


def _build_loader(dataloader):
    if isinstance(dataloader, dict):
        from mmengine.runner import Runner
        return Runner.build_dataloader(dataloader)
    return dataloader


def _batch_sums(rows: List[List[float]], keys: List[int], width: int) -> torch.Tensor:
    """Sum of every rank's per-batch ``rows`` in batch order (float64 ``[width]``)."""
    local = torch.tensor(rows, dtype=torch.float64).view(-1, width)
    return sum_rows(local, torch.tensor(keys, dtype=torch.long))


@SCORERS.register_module()
class LinearProbeScorer(BaseScorer):
    """Top-1 of the model's classification head (the supernet linear probe) on a
    held-out labelled split, in percent: correct / images over the whole split, each
    image counted once over all ranks."""

    @torch.no_grad()
    def __call__(self, model):
        model = unwrap(model)
        eval_mode(model)
        rows, keys = [], []
        for b, data in self.batches():
            data = model.data_preprocessor(data, False)
            samples = model(**data, mode='predict')
            pred = torch.stack([s.pred_label for s in samples]).view(-1)
            gt = torch.stack([s.gt_label for s in samples]).view(-1)
            rows.append([float((pred == gt).sum().item()), float(gt.numel())])
            keys.append(b)
        correct, total = _batch_sums(rows, keys, 2).tolist()
        return float(100.0 * correct / max(total, 1.0))


@SCORERS.register_module()
class SelfSupLossScorer(BaseScorer):
    """Label-free: minus the contrastive loss of the Pi-NAS model on the current path,
    averaged over the images of the split (each once over all ranks).

    Both views go through the (BN-recalibrated) student on the path: the teacher's BN
    statistics are a mixture over paths and are not recalibrated. Negatives are the
    trained queue, so the score rewards paths whose embeddings are view-invariant and
    spread out like the supernet's."""

    @torch.no_grad()
    def __call__(self, model):
        model = unwrap(model)
        eval_mode(model)
        supernet = supernet_of(model)
        rows, keys = [], []
        for b, data in self.batches():
            data = model.data_preprocessor(data, False)
            views = data['inputs']
            q = F.normalize(model.neck(supernet(views[0]))[0], dim=1)
            k = F.normalize(model.neck(supernet(views[1]))[0], dim=1)
            loss = model.contrastive(q, k)
            rows.append([float(loss) * q.shape[0], float(q.shape[0])])
            keys.append(b)
        loss_sum, total = _batch_sums(rows, keys, 2).tolist()
        return -float(loss_sum / max(total, 1.0))


@SCORERS.register_module()
class KNNScorer(BaseScorer):
    """kNN top-1 (cosine, majority of ``k`` neighbours weighted by exp(sim / t), as in
    Wu et al., "Unsupervised Feature Learning via Non-Parametric Instance
    Discrimination", CVPR 2018) of the pooled backbone features: the memory bank is
    ``memory_dataloader`` (labelled), the queries ``dataloader``. Works for any
    mmpretrain dataset with labels. Bank and queries hold every image of their split
    exactly once, in the single-process order, whatever the number of ranks."""

    def __init__(self, dataloader, memory_dataloader, k: int = 20, temperature: float = 0.07,
                 num_batches: Optional[int] = None, seed: int = 0, **cache_cfg):
        super().__init__(dataloader, num_batches, seed, **cache_cfg)
        self.memory_dataloader = _build_loader(memory_dataloader)
        self.k = k
        self.temperature = temperature

    @torch.no_grad()
    def _features(self, model, shards: BatchShards, name: str):
        """``(features [N, C] L2-normalised, labels [N])`` of every image of ``shards``
        over all ranks, in single-process order."""
        supernet = supernet_of(model)
        rows, keys = [], []
        for b, data in self.iterate(name, shards):
            data = model.data_preprocessor(data, False)
            inputs = data['inputs']
            inputs = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
            f = F.normalize(supernet(inputs)[-1].mean((2, 3)), dim=1)
            labels = torch.stack([s.gt_label for s in data['data_samples']]).view(-1)
            rows.append(torch.cat([f.double(), labels.to(f.device).double().view(-1, 1)], 1))
            keys.append(shards.positions(b))
        if rows:
            table = gather_rows(torch.cat(rows), torch.cat(keys))
        else:
            table = gather_rows(None, None)
        device = next(supernet.parameters()).device
        return table[:, :-1].float().to(device), table[:, -1].long().to(device)

    @torch.no_grad()
    def __call__(self, model):
        model = unwrap(model)
        eval_mode(model)
        bank, bank_labels = self._features(model, BatchShards(self.memory_dataloader),
                                           'knn_memory')
        query, labels = self._features(model, BatchShards(self.dataloader, self.num_batches),
                                       'score')
        sim = query @ bank.t()
        k = min(self.k, bank.shape[0])
        top_sim, top_idx = sim.topk(k, dim=1)
        num_classes = int(max(bank_labels.max(), labels.max())) + 1
        votes = torch.zeros(query.shape[0], num_classes, device=query.device)
        votes.scatter_add_(1, bank_labels[top_idx], (top_sim / self.temperature).exp())
        return float(100.0 * (votes.argmax(1) == labels).float().mean())


class CandidateEvaluator:
    """Evaluate one arch: BN recalibration of its path (:func:`recalibrate_bn`, which sets
    the path), then the scorer. Nothing else: FLOPs / params and budgets are
    :class:`~pinas_mm.search.budget.Budget`'s, records the loops' and the
    :class:`~pinas_mm.search.SearchHistory`'s.

    Args:
        model: the (possibly wrapped) model whose backbone is the supernet.
        recal_dataloader / recal_batches / seed: the recalibration data, see
            :func:`recalibrate_bn`.
        scorer: ``model -> float``, higher is better (a :class:`BaseScorer`).
        batch_cache: where the recalibration batches are cached (default ``'scorer'``:
            the scorer's ``batch_cache``, i.e. the scorer config's ``cache_batches``
            switch and bound apply to both; ``None`` when the scorer has none).
    """

    def __init__(self, model, recal_dataloader, scorer: BaseScorer, recal_batches: int, *,
                 seed: int = 0, batch_cache: Union[BatchCache, None, str] = 'scorer'):
        self.model = model
        self.recal_dataloader = recal_dataloader
        self.scorer = scorer
        self.recal_batches = recal_batches
        self.seed = seed
        if isinstance(batch_cache, str):
            if batch_cache != 'scorer':
                raise ValueError(f"batch_cache={batch_cache!r}: give 'scorer' (the "
                                 f"scorer's cache), a BatchCache or None.")
            batch_cache = getattr(scorer, 'batch_cache', None)
        self.batch_cache = batch_cache

    def __call__(self, arch: Arch) -> float:
        """The score of ``arch`` (the model is left on its path, BN recalibrated)."""
        recalibrate_bn(self.model, arch, self.recal_dataloader, self.recal_batches, self.seed,
                       self.batch_cache)
        return self.scorer(self.model)
