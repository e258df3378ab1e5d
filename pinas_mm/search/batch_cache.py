"""Decoded, augmented evaluation batches kept in memory across candidates.

Every candidate of a search recalibrates BN on the same seeded batches and scores on the
same batches (:class:`~pinas_mm.engine.sharding.BatchShards`: batch ``b`` is produced
with the global RNGs seeded from ``(seed, b)``), so decoding and augmenting them again
for every candidate is wasted work. :class:`BatchCache` keeps the batches the dataloader
gave on the first pass (this rank's shard only) and hands the same objects out on later
passes, up to a memory bound; past the bound it stops caching and streams the rest of
the batches from the dataloader, exactly as without a cache. A cached batch is the very
batch the stream gave, so scores and BN statistics are bit-identical with and without the
cache, for any number of ranks.
"""
import copy
import itertools
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch

#: default bound of one cache (one scorer: its recalibration and scoring batches), per rank
DEFAULT_MAX_BYTES = 2 * 2**30


def _check_bound(name: str, value) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f'Batch cache: {name}={value!r} ({type(value).__name__}) is not '
                        f'valid: give a non-negative int or None (no bound).')
    if value < 0:
        raise ValueError(f'Batch cache: {name}={value!r} is negative: give a '
                         f'non-negative int or None (no bound).')
    return int(value)


def batch_nbytes(obj) -> int:
    """Bytes held by the tensors and arrays of a collated batch (dicts, lists, tuples and
    mmengine data elements are walked; other objects count 0: metadata is small)."""
    if isinstance(obj, torch.Tensor):
        return obj.element_size() * obj.nelement()
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if isinstance(obj, dict):
        return sum(batch_nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(batch_nbytes(v) for v in obj)
    from mmengine.structures import BaseDataElement
    if isinstance(obj, BaseDataElement):
        return sum(batch_nbytes(v) for v in obj.all_values())
    return 0


def _unshare(obj):
    """``obj`` with every tensor in shared memory (a batch from loader worker processes)
    copied to private memory (same values), so that holding many batches does not hold
    one shared-memory mapping per tensor. Data elements are updated in place."""
    if isinstance(obj, torch.Tensor):
        return obj.clone() if obj.is_shared() else obj
    if isinstance(obj, dict):
        return type(obj)((k, _unshare(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)) and not hasattr(obj, '_fields'):
        return type(obj)(_unshare(v) for v in obj)
    from mmengine.structures import BaseDataElement
    if isinstance(obj, BaseDataElement):
        for k in obj.keys():
            v = getattr(obj, k)
            new = _unshare(v)
            if new is not v:
                setattr(obj, k, new)
    return obj


class _Stream:
    """One consumer's cached prefix of its rank's batches."""

    def __init__(self, key):
        self.key = key
        self.batches: List[Tuple[int, dict]] = []
        self.nbytes = 0
        self.complete = False


class BatchCache:
    """In-memory cache of this rank's evaluation batches, shared by the streams of one
    scorer (e.g. ``'recal'``, ``'score'``, ``'knn_memory'``), with one memory bound.

    Args:
        max_bytes: at most this many bytes of cached tensors (:func:`batch_nbytes`) over
            all streams, per rank; ``None``: no bound. Default 2 GiB.
        max_batches: at most this many cached batches over all streams, per rank;
            ``None``: no bound.

    Raises ``TypeError`` (not an int) or ``ValueError`` (negative) naming the value.

    When the next batch would exceed a bound, caching stops for good (one log line) and
    every batch not cached yet is streamed from the dataloader on each pass: a stream is
    always a cached prefix of its batches plus the streamed rest, so which batches are
    cached is deterministic (the first ones in consumption order) and every batch is
    bit-identical to the streamed one. The rest is streamed over only the uncached
    batches for a ``num_workers=0`` loader (each batch is produced with the RNGs seeded
    from its own number); with worker processes, whose random streams depend on a
    batch's position in the pass, the whole pass is streamed and the cached prefix
    skipped.

    A stream is keyed by its dataset, the seed, the rank and this rank's dataset indices;
    when they change (another sampler epoch, another ``num_batches``) the stream's cache
    is dropped and refilled. Consumers must not modify batch tensors in place (the
    scorers and :func:`~pinas_mm.search.evaluator.recalibrate_bn` do not; a head's
    ``predict`` writes its prediction fields into the data samples, which every use
    overwrites before reading).
    """

    def __init__(self, max_bytes: Optional[int] = DEFAULT_MAX_BYTES,
                 max_batches: Optional[int] = None):
        self.max_bytes = _check_bound('max_bytes', max_bytes)
        self.max_batches = _check_bound('max_batches', max_batches)
        self._streams: Dict[str, _Stream] = {}
        self.nbytes = 0
        self.num_batches = 0
        #: the bound was reached: nothing more is cached
        self.full = False

    def __repr__(self) -> str:
        return (f'BatchCache(max_bytes={self.max_bytes}, max_batches={self.max_batches}; '
                f'{self.num_batches} batches, {self.nbytes} bytes cached)')

    def clear(self) -> None:
        """Drop every cached batch (the bound counts from zero again)."""
        self._streams.clear()
        self.nbytes = self.num_batches = 0
        self.full = False

    def cached_batches(self, name: str) -> int:
        """Number of cached batches of stream ``name`` (0 when unknown)."""
        stream = self._streams.get(name)
        return len(stream.batches) if stream is not None else 0

    def _fits(self, size: int) -> bool:
        return ((self.max_batches is None or self.num_batches + 1 <= self.max_batches)
                and (self.max_bytes is None or self.nbytes + size <= self.max_bytes))

    def _stop(self, name: str, size: int, remaining: int) -> None:
        from mmengine.logging import print_log
        self.full = True
        print_log(f'Batch cache: the next batch of {name!r} ({size / 2**20:.1f} MiB) would '
                  f'exceed max_bytes={self.max_bytes} / max_batches={self.max_batches} '
                  f'with {self.num_batches} batches ({self.nbytes / 2**20:.1f} MiB) cached: '
                  f'caching stops, {remaining} batches of {name!r} and every batch not '
                  'cached yet are streamed from the dataloader for each candidate.',
                  logger='current')

    @staticmethod
    def _key(shards, seed: int):
        return (id(shards.dataloader.dataset), int(seed), shards.rank, shards.world_size,
                [shards.batches[b] for b in shards.mine])

    def _drop(self, name: str) -> None:
        old = self._streams.pop(name, None)
        if old is not None:
            self.nbytes -= old.nbytes
            self.num_batches -= len(old.batches)

    @staticmethod
    def _stream_rest(shards, start: int, seed: int) -> Iterator[Tuple[int, dict]]:
        if start == 0:
            return shards.iterate(seed)
        if getattr(shards.dataloader, 'num_workers', 0) == 0:
            rest = copy.copy(shards)
            rest.mine = shards.mine[start:]
            return rest.iterate(seed)
        return itertools.islice(shards.iterate(seed), start, None)

    def iterate(self, name: str, shards, seed: int = 0) -> Iterator[Tuple[int, dict]]:
        """``(global batch number, batch)`` of this rank, as
        ``shards.iterate(seed)`` gives them (:class:`~pinas_mm.engine.sharding.BatchShards`),
        from the cache where possible; uncached batches are cached while the bound
        allows."""
        key = self._key(shards, seed)
        stream = self._streams.get(name)
        if stream is None or stream.key != key:
            self._drop(name)
            stream = self._streams[name] = _Stream(key)
        yield from list(stream.batches)
        if stream.complete:
            return
        start = len(stream.batches)
        for i, (b, batch) in enumerate(self._stream_rest(shards, start, seed), start):
            if not self.full and len(stream.batches) == i:
                size = batch_nbytes(batch)
                if self._fits(size):
                    batch = _unshare(batch)
                    stream.batches.append((b, batch))
                    stream.nbytes += size
                    self.nbytes += size
                    self.num_batches += 1
                    stream.complete = len(stream.batches) == len(shards.mine)
                else:
                    self._stop(name, size, len(shards.mine) - i)
            yield b, batch
        if len(shards.mine) == 0:
            stream.complete = True


def build_batch_cache(cache_batches: bool = True,
                      max_bytes: Optional[int] = DEFAULT_MAX_BYTES,
                      max_batches: Optional[int] = None) -> Optional[BatchCache]:
    """The scorers' switch: a :class:`BatchCache` or ``None`` (stream every pass).
    Raises ``TypeError`` for a ``cache_batches`` that is not a bool."""
    if not isinstance(cache_batches, bool):
        raise TypeError(f'cache_batches={cache_batches!r} ({type(cache_batches).__name__}) '
                        f'is not valid: give True (cache, bounded by cache_max_bytes / '
                        f'cache_max_batches) or False (stream every pass).')
    _check_bound('cache_max_bytes', max_bytes)
    _check_bound('cache_max_batches', max_batches)
    return BatchCache(max_bytes, max_batches) if cache_batches else None


__all__ = ['BatchCache', 'batch_nbytes', 'build_batch_cache', 'DEFAULT_MAX_BYTES']
