"""Supervised uses of the supernet: SPOS training and the supernet linear probe."""
import contextlib
from typing import Iterator, List

import torch
from mmpretrain.models.classifiers import ImageClassifier

from pinas_mm.models.backbones.resnest_space import step_rng
from pinas_mm.registry import MODELS


@MODELS.register_module()
class SupernetClassifier(ImageClassifier):
    """An ImageClassifier over a supernet backbone that samples a path each train step.

    The backbone is ``PiNASSuperNet`` (ResNeSt space) or ``NB201SuperNet``
    (NAS-Bench-201); only its ``set_arch`` / ``sample_arch`` path interface is used.

    * SPOS (single-path one-shot, the paper's supervised baseline): ``sample_path=True``.
    * Supernet linear probe (Pi-NAS search, step 1): ``freeze_backbone=True``; backbone
      parameters get no gradient but its BN layers stay in train mode, and a random
      path runs every iteration.
    In ``predict``/``tensor`` modes the current path (``backbone.set_arch``) runs.
    Paths come from ``Random(path_seed, step)``: the same on every rank, and reproduced
    after a resume. Within :meth:`sampling_paths` every train step samples a path even
    with ``sample_path=False`` (DARTS-PT's progressive tuning).
    """

    def __init__(self, backbone: dict, sample_path: bool = True,
                 freeze_backbone: bool = False, path_seed: int = 0, **kwargs):
        super().__init__(backbone=backbone, **kwargs)
        if not hasattr(self.backbone, 'sample_arch'):
            raise TypeError(f'SupernetClassifier needs a supernet backbone '
                            f'(pinas_mm.PiNASSuperNet or pinas_mm.NB201SuperNet: set_arch, '
                            f'sample_arch), got {type(self.backbone).__name__}.')
        self.sample_path = sample_path
        self.freeze_backbone = freeze_backbone
        self.path_seed = path_seed
        self._sampling_depth = 0  # open sampling_paths() contexts
        self.register_buffer('step', torch.zeros(1, dtype=torch.long))
        if freeze_backbone:
            self.backbone.requires_grad_(False)

    @contextlib.contextmanager
    def sampling_paths(self) -> Iterator['SupernetClassifier']:
        """Within the context every ``loss`` (train step) samples a path from
        ``Random(path_seed, step)``, as with ``sample_path=True``, whatever ``sample_path``
        says; ``sample_path`` itself is not changed, and leaving the context restores the
        configured behaviour (contexts nest). Paths lie in the backbone's allowed sets
        (``backbone.set_allowed``, e.g. :func:`pinas_mm.search.perturbation.restrict_paths`).
        """
        self._sampling_depth += 1
        try:
            yield self
        finally:
            self._sampling_depth -= 1

    def extract_feat(self, inputs, stage='neck'):
        if self.freeze_backbone:
            with torch.no_grad():
                x = self.backbone(inputs)
            if self.with_neck and stage != 'backbone':
                x = self.neck(x)
            return x
        return super().extract_feat(inputs, stage=stage)

    def loss(self, inputs: torch.Tensor, data_samples: List) -> dict:
        if self.sample_path or self._sampling_depth:
            rng = step_rng(self.path_seed, self.step)
            self.backbone.set_arch(self.backbone.sample_arch(rng))
        self.step += 1
        return super().loss(inputs, data_samples)
