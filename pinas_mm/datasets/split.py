"""A deterministic, class-stratified held-out part of a labelled training split.

Architecture search must not score candidates on the split whose numbers are reported
(the test or validation set): Pi-NAS (Peng et al., ICCV 2021) and SPOS (Guo et al., ECCV
2020) both hold out part of ImageNet *train* for the search. ``HeldOutSplit`` wraps any
labelled dataset (mmpretrain ``CustomDataset`` / ``ImageNet``, ...) and exposes either the
held-out part (scoring) or the rest (training the linear probe), so both parts come from
one definition and never overlap::

    dict(type='pinas_mm.HeldOutSplit', part='held_out', fraction=0.1, seed=0,
         dataset=dict(type='CustomDataset', data_root=..., data_prefix='train', ...))

Which samples are held out depends only on each sample's file name (its last two path
components, e.g. ``cat/0001.jpg``), its class and ``seed``: in every class the
``round(fraction * n_class)`` samples with the smallest SHA-1 of ``"{seed}:{name}"`` are
held out. Reordering the listing or adding files to another class changes nothing.
"""
import copy
import hashlib
import os.path as osp
from collections import defaultdict

from ..registry import DATASETS

__all__ = ['HeldOutSplit', 'held_out_split_indices']

PARTS = ('held_out', 'train')


def _key(seed, path):
    name = '/'.join(osp.normpath(str(path)).replace('\\', '/').split('/')[-2:])
    return hashlib.sha1(f'{seed}:{name}'.encode()).hexdigest()


def held_out_split_indices(labels, paths, fraction, seed=0):
    """Split sample indices into ``(train, held_out)``, stratified by class.

    Args:
        labels (Sequence[int]): class of each sample, length N.
        paths (Sequence[str]): file path of each sample, length N (the last two components
            name the sample).
        fraction (float): share of every class held out, in (0, 1).
        seed (int): changes which samples are held out.

    Returns:
        tuple[list[int], list[int]]: sorted indices of the training part and of the
        held-out part; disjoint, together ``range(N)``.

    Raises:
        ValueError: ``fraction`` outside (0, 1), lengths differ, or a class would have an
            empty training or held-out part.
    """
    if not 0 < fraction < 1:
        raise ValueError(f'HeldOutSplit: fraction={fraction!r}; expected a share in (0, 1), '
                         'e.g. 0.1')
    if len(labels) != len(paths):
        raise ValueError(f'HeldOutSplit: {len(labels)} labels but {len(paths)} paths')
    by_class = defaultdict(list)
    for i, label in enumerate(labels):
        by_class[int(label)].append(i)
    held = []
    for label, idx in sorted(by_class.items()):
        n = int(round(fraction * len(idx)))
        if not 0 < n < len(idx):
            raise ValueError(f'HeldOutSplit: class {label} has {len(idx)} samples; '
                             f'fraction={fraction} leaves an empty part (held out {n})')
        held += sorted(idx, key=lambda i: (_key(seed, paths[i]), i))[:n]
    held = sorted(held)
    held_set = set(held)
    return [i for i in range(len(labels)) if i not in held_set], held


@DATASETS.register_module()
class HeldOutSplit:
    """One part of a deterministic, class-stratified split of a labelled dataset.

    Args:
        dataset (dict | BaseDataset): the labelled dataset (config or instance); its
            ``get_cat_ids(i)`` gives the class and ``get_data_info(i)['img_path']`` the file.
        part (str): ``'held_out'`` (``fraction`` of every class: search scoring) or
            ``'train'`` (the rest: linear-probe training).
        fraction (float): share of every class held out, in (0, 1).
        seed (int): changes which samples are held out.
        lazy_init (bool): defer loading the annotations until first use.

    Raises:
        ValueError: an unknown ``part``, or see :func:`held_out_split_indices`.
    """

    def __init__(self, dataset, part='held_out', fraction=0.1, seed=0, lazy_init=False):
        if part not in PARTS:
            raise ValueError(f'HeldOutSplit: part={part!r}; expected one of {PARTS}')
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self.part, self.fraction, self.seed = part, fraction, seed
        self._metainfo = self.dataset.metainfo
        self._fully_initialized = False
        self.indices = None
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self):
        return copy.deepcopy(self._metainfo)

    def full_init(self):
        if self._fully_initialized:
            return
        self.dataset.full_init()
        n = len(self.dataset)
        labels = [self.dataset.get_cat_ids(i)[0] for i in range(n)]
        paths = [self.dataset.get_data_info(i)['img_path'] for i in range(n)]
        train, held = held_out_split_indices(labels, paths, self.fraction, self.seed)
        self.indices = held if self.part == 'held_out' else train
        self._fully_initialized = True

    def _source_index(self, idx):
        self.full_init()
        return self.indices[idx]

    def get_data_info(self, idx):
        return self.dataset.get_data_info(self._source_index(idx))

    def get_cat_ids(self, idx):
        return self.dataset.get_cat_ids(self._source_index(idx))

    def __getitem__(self, idx):
        return self.dataset[self._source_index(idx)]

    def __len__(self):
        self.full_init()
        return len(self.indices)

    def __repr__(self):
        size = len(self) if self._fully_initialized else '?'
        return (f'HeldOutSplit(part={self.part!r}, fraction={self.fraction}, '
                f'seed={self.seed}, {size} of {type(self.dataset).__name__})')
