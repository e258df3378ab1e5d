"""Rank-invariant evaluation data: the single-process batches, dealt out to the ranks.

mmengine's ``DefaultSampler`` gives each rank ``ceil(N / world_size)`` samples and pads
the last round with repeats (``round_up=True``), so a score summed over ranks counts
some images twice and depends on the number of ranks (5 images on 2 ranks: 6 counted).
mmengine's own ``Evaluator`` drops the repeats again (``collect_results`` keeps the first
``len(dataset)`` results), but everything that reduces over ranks by itself must not see
them. :class:`BatchShards` therefore never pads: it takes the batches a single process
would draw from a dataloader (same order, same batch composition, last batch short) and
gives global batch ``b`` to rank ``b % world_size``. Every image is then used exactly
once whatever the number of ranks, every batch holds the same images as in one process
(what batch statistics, e.g. BN in train mode, depend on) and :func:`gather_rows`
reassembles per-batch or per-image results in the single-process order, so a reduction
over them is bit-identical for any number of ranks.
"""
import copy
import random
from typing import Iterator, List, Optional, Tuple

import numpy as np
import torch
from mmengine.dataset import DefaultSampler
from mmengine.dist import all_gather, get_dist_info
from torch.utils.data import DataLoader, SequentialSampler


def single_process_order(dataloader) -> List[int]:
    """Dataset indices in the order one process would draw them from ``dataloader``.

    Supports mmengine's ``DefaultSampler`` (shuffled with its seed and epoch, or not;
    subclasses that keep its attributes too) and torch's ``SequentialSampler``. Raises
    ``ValueError`` for other samplers (their order is not known on every rank).
    """
    sampler = getattr(dataloader, 'sampler', None)
    n = len(dataloader.dataset)
    if isinstance(sampler, DefaultSampler):
        one = copy.copy(sampler)
        one.rank, one.world_size, one.round_up = 0, 1, False
        one.num_samples = one.total_size = n
        return [int(i) for i in one]
    if isinstance(sampler, SequentialSampler):
        return list(range(n))
    raise ValueError(
        f'Cannot split evaluation data over ranks: its sampler is '
        f'{type(sampler).__name__}; use sampler=dict(type=\'DefaultSampler\', shuffle=False) '
        f'(or shuffle=True with a seed) so that every rank knows the single-process order.')


class BatchShards:
    """The first ``num_batches`` batches of a single pass over ``dataloader``'s dataset
    (all of them when ``None``), batch ``b`` assigned to rank ``b % world_size``.

    Args:
        dataloader: a built ``DataLoader`` with a ``batch_size`` (its sampler: see
            :func:`single_process_order`); its collate function, workers and pinning are
            reused.
        num_batches: how many batches in total (over all ranks); ``len(self)`` may be
            smaller when the data has fewer.
        drop_last: drop a short last batch (default: keep it: every image counts).
        every_rank: every rank takes every batch (for scores computed from a few
            batches on each rank, e.g. one batch of a training-free scorer).

    Attributes:
        batches: ``[[dataset index, ...], ...]`` every rank's batches in global order.
        mine: the global batch numbers of this rank.
    """

    def __init__(self, dataloader, num_batches: Optional[int] = None,
                 drop_last: bool = False, every_rank: bool = False):
        batch_size = getattr(dataloader, 'batch_size', None)
        if not batch_size:
            raise ValueError(f'Evaluation data needs a dataloader with batch_size, got '
                             f'batch_size={batch_size!r} (a batch_sampler config is not '
                             'supported here).')
        self.dataloader = dataloader
        self.batch_size = int(batch_size)
        order = single_process_order(dataloader)
        stop = len(order) - len(order) % self.batch_size if drop_last else len(order)
        self.batches = [order[i:i + self.batch_size] for i in range(0, stop, self.batch_size)]
        if num_batches is not None:
            self.batches = self.batches[:int(num_batches)]
        self.rank, self.world_size = get_dist_info()
        self.mine = list(range(len(self.batches))) if every_rank else list(
            range(self.rank, len(self.batches), self.world_size))

    def __len__(self) -> int:
        return len(self.batches)

    @property
    def num_samples(self) -> int:
        return sum(len(b) for b in self.batches)

    def _loader(self) -> DataLoader:
        src = self.dataloader
        return DataLoader(src.dataset, batch_sampler=[self.batches[b] for b in self.mine],
                          collate_fn=src.collate_fn, num_workers=src.num_workers,
                          pin_memory=src.pin_memory, worker_init_fn=src.worker_init_fn,
                          timeout=src.timeout)

    def __iter__(self) -> Iterator[Tuple[int, dict]]:
        return self.iterate()

    def iterate(self, seed: int = 0) -> Iterator[Tuple[int, dict]]:
        """``(global batch number, batch)`` for this rank's batches.

        The global RNGs (``random``, numpy, torch) are seeded with ``(seed, batch
        number)`` while each batch is produced, so random transforms of a
        ``num_workers=0`` loader give the same batch on any rank and in any run; the
        caller's RNG state is swapped back in around every ``yield`` (the caller neither
        perturbs nor sees the data's random stream)."""
        outer = _rng_state()
        inner_active = True
        try:
            _seed_all(seed, len(self.batches))  # the loader's own base seed draw
            it = iter(self._loader())
            for b in self.mine:
                _seed_all(seed, b)
                batch = next(it)
                _set_rng_state(outer)
                inner_active = False
                yield b, batch
                outer = _rng_state()
                inner_active = True
        finally:
            if inner_active:
                _set_rng_state(outer)

    def positions(self, b: int) -> torch.Tensor:
        """Global sample positions (single-process order) of the images of batch ``b``."""
        start = sum(len(x) for x in self.batches[:b]) if b else 0
        return torch.arange(start, start + len(self.batches[b]))


def _rng_state():
    return random.getstate(), np.random.get_state(), torch.get_rng_state()


def _set_rng_state(state) -> None:
    random.setstate(state[0]), np.random.set_state(state[1]), torch.set_rng_state(state[2])


def _seed_all(seed: int, batch: int) -> None:
    s = (int(seed) * 1_000_003 + int(batch)) % 2**32
    random.seed(s), np.random.seed(s), torch.manual_seed(s)


def gather_rows(rows: Optional[torch.Tensor], keys: Optional[torch.Tensor]) -> torch.Tensor:
    """All ranks' ``rows`` (``[n_rank, D]``) in the order of their unique ``keys``
    (``[n_rank]`` integers, e.g. global batch numbers or sample positions): ``[sum n, D]``
    float64, identical on every rank and to the one-process result, so any reduction of
    it is bit-identical whatever the number of ranks. A rank without rows passes
    ``None`` (its ``D`` comes from the others)."""
    _, world_size = get_dist_info()
    if rows is not None:
        rows = rows.detach().double()
        rows = rows.view(len(rows), -1) if rows.dim() != 2 else rows
        data = torch.cat([keys.to(rows.device).double().view(-1, 1), rows], 1)
    if world_size == 1:
        parts = [data] if rows is not None else []
    else:
        device = rows.device if rows is not None else torch.device('cpu')
        size = torch.tensor([0, 0] if rows is None else list(data.shape), device=device)
        sizes = [(int(s[0]), int(s[1])) for s in all_gather(size)]
        n_max = max(1, max(s[0] for s in sizes))
        width = max(s[1] for s in sizes)
        if width == 0:
            raise ValueError('gather_rows: no rank has any row.')
        if rows is None:
            data = torch.zeros(0, width, dtype=torch.float64, device=device)
        if data.shape[1] != width:
            raise ValueError(f'gather_rows: rank rows of width {data.shape[1] - 1} vs '
                             f'{width - 1} elsewhere.')
        padded = torch.cat([data, data.new_full((n_max - len(data), width), -1.0)])
        parts = [p[:s[0]] for p, s in zip(all_gather(padded), sizes)]
    if not parts:
        raise ValueError('gather_rows: no rank has any row and none gave their width.')
    full = torch.cat(parts)
    full = full[full[:, 0].argsort(stable=True)]
    return full[:, 1:]


def sum_rows(rows: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Column sums (float64, ``[D]``) of every rank's per-batch ``rows`` (``[n_rank, D]``,
    ``n_rank`` may be 0) taken in key order (:func:`gather_rows`): the same bits for any
    number of ranks."""
    return gather_rows(rows, keys).sum(0)


__all__ = ['BatchShards', 'gather_rows', 'single_process_order', 'sum_rows']
