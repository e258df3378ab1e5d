"""Pi-NAS: supernet-Pi model with cross-path learning and a path-wise mean teacher."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import all_gather, get_world_size
from mmengine.logging import print_log
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.models.utils import batch_shuffle_ddp, batch_unshuffle_ddp

from pinas_mm.models.backbones.resnest_space import step_rng
from pinas_mm.registry import MODELS
from pinas_mm.space import Arch
from .path_ema import PathEMA
from .split_bn import convert_split_bn

KEY_BN_MODES = ('auto', 'shuffle', 'split', 'none')


@MODELS.register_module()
class PiNAS(BaseSelfSupervisor):
    """Pi-NAS supernet training (ICCV 2021), an mmpretrain self-supervised algorithm.

    Each step: two paths A and B differing in every block (every edge, in
    NAS-Bench-201); student embeds q0 via A and q1 via B; the teacher (EMA, shuffle-BN
    or split-BN) embeds k0 via A and k1 via B; the loss pairs each student path with
    the other path's teacher key, against a queue of negatives;
    the teacher's EMA step touches only the sampled path (the backbone's
    ``path_state_keys``: e.g. stem, chosen candidates with their downsample; plus the
    neck), once for A and once for B.

    Args:
        backbone: a supernet config: ``pinas_mm.PiNASSuperNet`` (ResNeSt space) or
            ``pinas_mm.NB201SuperNet`` (NAS-Bench-201). The algorithm uses only its
            path interface (``set_arch``, ``sample_disjoint_archs``,
            ``path_state_keys``).
        neck / head: e.g. ``mmpretrain.MoCoV2Neck`` and ``mmpretrain.ContrastiveHead``
            (temperature 0.2).
        queue_len: negatives kept (49,152 in the paper). A ring buffer: any global batch
            size works, also one that changes between steps (a short last batch with
            ``drop_last=False``); a batch of more than ``queue_len`` keys keeps its newest
            ``queue_len``.
        feat_dim: embedding size (128).
        momentum: mmengine EMA momentum, ``1 - m`` (0.001 for m = 0.999).
        cross_path: pair the student of one path with the teacher of the other. False:
            each path is its own positive (MoCo on a random path).
        path_ema: EMA of the sampled paths only. False: EMA of the whole encoder.
        renorm_queue_keys: enqueue ``normalize(mean(k0, k1))`` (True) or the plain mean
            as the authors' code does (False). The mean of two unit vectors is shorter
            than 1, which makes those negatives weaker than the positives; we renormalise
            by default so every logit is a cosine similarity.
        path_seed: paths come from ``Random(path_seed, step)``: identical on every rank
            without communication, and reproduced exactly after a resume.
        key_bn: how the teacher's BN layers see the key batch (MoCo's guard against
            the encoder "cheating" through intra-batch BN statistics):

            * ``'shuffle'``: MoCo's shuffle-BN: the key batch is shuffled across ranks
              and each rank normalises its share. Needs several ranks (ValueError in one
              process, where a shuffle does not change batch statistics).
            * ``'split'``: the key batch is shuffled (across ranks if several) and each
              rank's teacher BN (``nn.BatchNorm2d``) normalises ``key_bn_groups`` random
              groups separately (:class:`SplitBatchNorm2d`, MoCo's single-GPU
              ``SplitBatchNorm``).
            * ``'none'``: no shuffle; plain BN over each rank's key batch.
            * ``'auto'`` (default): ``'shuffle'`` on several ranks, ``'split'`` in one.

            The mode in effect is logged once, at the first step.
        key_bn_groups: groups of ``'split'`` (default 4: at the tiny config's batch of 16
            and the paper's per-GPU 24 every group keeps 4+ images for stable statistics;
            any 2+ groups already keep a key's statistics from being its query's). A batch
            of ``N`` uses ``min(key_bn_groups, N // 2)`` groups of 2+ images.
    """

    def __init__(self, backbone: dict, neck: dict, head: dict, queue_len: int = 49152,
                 feat_dim: int = 128, momentum: float = 0.001, cross_path: bool = True,
                 path_ema: bool = True, renorm_queue_keys: bool = True, path_seed: int = 0,
                 key_bn: str = 'auto', key_bn_groups: int = 4,
                 data_preprocessor: Optional[dict] = None, init_cfg=None) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not hasattr(self.backbone, 'sample_disjoint_archs'):
            raise TypeError(f'PiNAS needs a supernet backbone (pinas_mm.PiNASSuperNet or '
                            f'pinas_mm.NB201SuperNet: set_arch, sample_disjoint_archs, '
                            f'path_state_keys), got {type(self.backbone).__name__}.')
        self.cross_path = cross_path
        self.path_ema = path_ema
        self.renorm_queue_keys = renorm_queue_keys
        self.path_seed = path_seed
        if key_bn not in KEY_BN_MODES:
            raise ValueError(f'PiNAS key_bn={key_bn!r} is not one of {KEY_BN_MODES}.')
        if isinstance(key_bn_groups, bool) or not isinstance(key_bn_groups, int) \
                or key_bn_groups < 2:
            raise ValueError(f'PiNAS key_bn_groups={key_bn_groups!r} must be an int >= 2 '
                             f'(groups of the key batch normalised separately).')
        if isinstance(queue_len, bool) or not isinstance(queue_len, int) or queue_len < 1:
            raise ValueError(f'PiNAS queue_len={queue_len!r} must be a positive int.')
        self.key_bn = key_bn
        self.key_bn_groups = key_bn_groups
        self._key_bn_mode: Optional[str] = None  # resolved at the first step
        self.teacher = PathEMA(nn.Sequential(self.backbone, self.neck), momentum)
        self._split_bns = (convert_split_bn(self.teacher.module)
                           if key_bn in ('auto', 'split') else [])
        self.queue_len = queue_len
        self.register_buffer('queue', F.normalize(torch.randn(feat_dim, queue_len), dim=0))
        self.register_buffer('queue_ptr', torch.zeros(1, dtype=torch.long))
        self.register_buffer('step', torch.zeros(1, dtype=torch.long))
        self.last_paths: Tuple[Arch, Arch] = None
        self._pairs = None

    def init_weights(self) -> None:
        """Initialise the student, then start the teacher as its exact copy.

        The teacher is a deepcopy made in ``__init__``, before the runner initialises
        weights; without this it would be initialised independently and, with m = 0.999,
        stay an unrelated random network for thousands of steps.
        """
        super().init_weights()
        student = nn.Sequential(self.backbone, self.neck)
        self.teacher.module.load_state_dict(student.state_dict())

    # ---- pieces ------------------------------------------------------------------------
    def sample_paths(self) -> Tuple[Arch, Arch]:
        rng = step_rng(self.path_seed, self.step)
        return self.backbone.sample_disjoint_archs(rng)

    def student_embed(self, img: torch.Tensor, arch: Arch) -> torch.Tensor:
        self.backbone.set_arch(arch)
        return F.normalize(self.neck(self.backbone(img))[0], dim=1)

    def key_bn_mode(self) -> str:
        """The key-BN mode in effect (``'shuffle'``, ``'split'`` or ``'none'``).

        Resolved once, from ``key_bn`` and the world size at the first step, and logged
        once. Raises ValueError for ``key_bn='shuffle'`` in one process.
        """
        if self._key_bn_mode is None:
            world = get_world_size()
            mode = self.key_bn
            if mode == 'auto':
                mode = 'shuffle' if world > 1 else 'split'
            if mode == 'shuffle' and world == 1:
                raise ValueError("PiNAS key_bn='shuffle' needs several ranks: in one "
                                 "process a shuffle leaves BN statistics unchanged. Use "
                                 "key_bn='split' (or 'auto') for split-BN, or 'none'.")
            for bn in self._split_bns:
                bn.num_splits = self.key_bn_groups if mode == 'split' else 1
            if mode == 'shuffle':
                msg = (f'shuffle-BN: key batch shuffled across {world} ranks, each rank '
                       f'normalises its share')
            elif mode == 'split':
                where = f'each of {world} ranks' if world > 1 else 'one process'
                msg = (f'split-BN ({where}): key batch shuffled, teacher BN normalises '
                       f'{self.key_bn_groups} groups separately '
                       f'({len(self._split_bns)} BatchNorm2d layers)')
            else:
                msg = 'none: no shuffle, teacher BN over the whole key batch of each rank'
            print_log(f'PiNAS key_bn={self.key_bn!r} -> {msg}.', logger='current')
            self._key_bn_mode = mode
        return self._key_bn_mode

    @torch.no_grad()
    def teacher_embed(self, img: torch.Tensor, arch: Arch) -> torch.Tensor:
        """Keys of ``img`` (N, 3, H, W) through the teacher on ``arch``: (N, feat_dim),
        unit length, in the order of ``img``; BN as :meth:`key_bn_mode` says."""
        self.teacher.module[0].set_arch(arch)
        if self.key_bn_mode() == 'none':
            return F.normalize(self.teacher(img)[0], dim=1)
        img, idx_unshuffle = batch_shuffle_ddp(img)
        k = F.normalize(self.teacher(img)[0], dim=1)
        return batch_unshuffle_ddp(k, idx_unshuffle)

    def path_keys(self, arch: Arch) -> List[str]:
        """Teacher/student parameter names on a path: ``0.`` backbone, ``1.`` neck."""
        keys = ['0.' + k for k in self.backbone.path_state_keys(arch)]
        return keys + ['1.' + k for k, _ in self.neck.named_parameters()]

    def _ema_pairs(self) -> Dict[str, Tuple[torch.Tensor, torch.Tensor]]:
        """(teacher, student) parameter pairs by name (``0.`` backbone, ``1.`` neck).
        Built once: the parameter objects live as long as the model (the optimizer
        updates them in place)."""
        if self._pairs is None:
            teacher = self.teacher.avg_parameters
            student = nn.Sequential(self.backbone, self.neck).named_parameters()
            self._pairs = {k: (teacher[k], p) for k, p in student}
        return self._pairs

    def path_pairs(self, arch: Arch) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """(teacher, student) parameter pairs of one path, each parameter once: those
        named by :meth:`path_keys` (the backbone's ``path_state_keys`` plus the neck),
        buffers skipped. Works for any supernet backbone with that method (the
        ResNeSt space's ``PiNASSuperNet``, the NAS-Bench-201 ``NB201SuperNet``)."""
        pairs = self._ema_pairs()
        out, seen = [], set()
        for k in self.path_keys(arch):
            pair = pairs.get(k)
            if pair is not None and id(pair[1]) not in seen:
                seen.add(id(pair[1]))
                out.append(pair)
        return out

    @torch.no_grad()
    def update_teacher(self, paths: Tuple[Arch, Arch]) -> None:
        """EMA step of the teacher. ``path_ema``: one step per sampled path on that
        path's parameters only (parameters shared by both paths, e.g. the stem and the
        neck, take two steps); other candidates keep their teacher values bit for bit.
        Otherwise one step on every parameter (MoCo's whole-encoder EMA)."""
        if self.path_ema:
            for arch in paths:
                self.teacher.update_pairs(self.path_pairs(arch))
        else:
            self.teacher.update_parameters(nn.Sequential(self.backbone, self.neck))

    def contrastive(self, q: torch.Tensor, k: torch.Tensor,
                    negatives: Optional[torch.Tensor] = None) -> torch.Tensor:
        """InfoNCE of queries ``q`` against keys ``k`` and the queue (or ``negatives``: a
        copy of it, which must outlive the in-place enqueue before backward)."""
        if negatives is None:
            negatives = self.queue.clone()
        l_pos = torch.einsum('nc,nc->n', q, k).unsqueeze(-1)
        l_neg = torch.einsum('nc,ck->nk', q, negatives)
        return self.head.loss(l_pos, l_neg)

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Write this step's keys (N, feat_dim) of every rank (rank order) into the ring
        buffer ``queue`` (feat_dim, queue_len) from ``queue_ptr`` on, wrapping at the
        end; ``queue_ptr`` becomes ``(queue_ptr + global N) % queue_len``. Any N works;
        of more than ``queue_len`` keys only the newest ``queue_len`` stay, exactly as
        if they had been written one by one. Ranks must hold equally many keys
        (mmengine's samplers pad every rank to the same count)."""
        keys = torch.cat(all_gather(keys), dim=0)
        n, length = keys.shape[0], self.queue_len
        ptr = int(self.queue_ptr)
        if n > length:  # the oldest n - length keys would be overwritten in this call
            keys, ptr = keys[n - length:], (ptr + n - length) % length
        idx = (ptr + torch.arange(keys.shape[0], device=keys.device)) % length
        self.queue[:, idx] = keys.t().to(self.queue.dtype)
        self.queue_ptr[0] = (int(self.queue_ptr) + n) % length

    # ---- the step ----------------------------------------------------------------------
    def loss(self, inputs: List[torch.Tensor], data_samples=None, **kwargs
             ) -> Dict[str, torch.Tensor]:
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 4:
            raise ValueError(f'PiNAS needs 4 views per image (q0, k0, q1, k1: '
                             f"MultiView(num_views=4)), got {type(inputs).__name__} of "
                             f'{len(inputs) if isinstance(inputs, (list, tuple)) else 1}.')
        q0_img, k0_img, q1_img, k1_img = inputs
        path_a, path_b = self.sample_paths()
        self.last_paths = (path_a, path_b)

        q0 = self.student_embed(q0_img, path_a)
        q1 = self.student_embed(q1_img, path_b)
        self.update_teacher((path_a, path_b))
        k0 = self.teacher_embed(k0_img, path_a)
        k1 = self.teacher_embed(k1_img, path_b)

        negatives = self.queue.clone()  # one copy for both terms
        if self.cross_path:  # student of A with teacher of B, and vice versa
            loss = (self.contrastive(q0, k1, negatives)
                    + self.contrastive(q1, k0, negatives))
        else:  # each path is its own positive
            loss = (self.contrastive(q0, k0, negatives)
                    + self.contrastive(q1, k1, negatives))

        keys = (k0 + k1) / 2
        self.enqueue(F.normalize(keys, dim=1) if self.renorm_queue_keys else keys)
        self.step += 1
        return dict(loss=loss)
