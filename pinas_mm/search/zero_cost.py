"""Training-free ("zero-cost") scorers of an architecture, for either search space.

Each scorer is registered in ``SCORERS`` like the search's other scorers and is called
the same way: ``scorer(model) -> float`` (higher is better), where ``model`` is an
mmengine model with a ``data_preprocessor`` and a ``backbone``: a supernet classifier
whose path is set (``backbone.set_arch``) or a subnet classifier (e.g. mmpretrain's
``ImageClassifier`` over ``pinas_mm.NB201Net`` or ``pinas_mm.PiNASResNeSt``). Scorers
read one batch (``num_batches=1``) of ``dataloader`` (a config dict, a DataLoader or a
list of data dicts), preprocess it with the model's ``data_preprocessor`` and, where the
paper does, run the network in train mode (batch statistics in BN). They leave the model
as they found it: parameters, BN buffers, gradients, ``requires_grad`` and train/eval mode
are restored, so a score is a function of (weights, batch) only and is deterministic.

"The network's output" is the classification logits ``model(x, mode='tensor')`` when the
model has a head, else the pooled last backbone feature map (Pi-NAS models).

Sums "over parameters" run over the weights of the Conv and Linear layers the forward
pass used (on a supernet: the current path), as in Abdelfattah et al.'s code
(``get_layer_metric_array``).

Papers:
* NASWOT: Mellor, Turner, Storkey, Crowley, "Neural Architecture Search without
  Training", ICML 2021.
* Jacobian covariance: Mellor, Turner, Storkey, Crowley, "Neural Architecture Search
  without Training", arXiv:2006.04647 v1 (2020), the score of its first version.
* SynFlow, SNIP, GradNorm (and the FLOPs / params baselines): Abdelfattah, Mehrotra,
  Dudziak, Lane, "Zero-Cost Proxies for Lightweight NAS", ICLR 2021 (SynFlow from
  Tanaka et al., NeurIPS 2020; SNIP from Lee et al., ICLR 2019).
"""
import contextlib
import copy
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm

from pinas_mm.registry import SCORERS
from .evaluator import BaseScorer, unwrap

_LAYERS = (nn.Conv2d, nn.Linear)


# ----------------------------------------------------------------------------- helpers
def _first_batch(scorer: 'ZeroCostScorer', model: nn.Module) -> Dict:
    for data in scorer.batches():
        data = model.data_preprocessor(data, False)
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):  # multi-view data: the first view
            data = dict(data, inputs=inputs[0])
        return data
    raise ValueError(f'{type(scorer).__name__}: the dataloader gave no batch.')


def _same_on_all_ranks(score: float) -> float:
    """Rank 0's score everywhere (each rank may have drawn another first batch)."""
    from mmengine.dist import broadcast_object_list, get_world_size
    if get_world_size() > 1:
        box = [score]
        broadcast_object_list(box, src=0)
        score = box[0]
    return score


def _has_head(model: nn.Module) -> bool:
    return getattr(model, 'head', None) is not None and hasattr(model.head, 'fc')


def network_output(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Logits ``(B, num_classes)`` of a classifier, else the pooled last backbone
    feature ``(B, C)``."""
    if _has_head(model):  # ImageClassifier's 'tensor' mode, without a frozen no_grad
        feats = model.backbone(x)
        if getattr(model, 'neck', None) is not None:
            feats = model.neck(feats)
        out = model.head(feats)
        return out[-1] if isinstance(out, (list, tuple)) else out
    backbone = getattr(model, 'backbone', model)
    feat = backbone(x)
    feat = feat[-1] if isinstance(feat, (list, tuple)) else feat
    return feat.mean((2, 3)) if feat.dim() == 4 else feat


def _labels(data: Dict) -> torch.Tensor:
    samples = data.get('data_samples')
    if not samples or not hasattr(samples[0], 'gt_label'):
        raise ValueError('This scorer needs labelled data (data_samples with gt_label).')
    return torch.cat([s.gt_label.view(-1) for s in samples]).long()


@contextlib.contextmanager
def _scoring(model: nn.Module, train: bool = True):
    """Run with grads enabled on every parameter and (``train``) BN in batch-statistics
    mode; restore parameters' grads / requires_grad, BN buffers and modes afterwards."""
    modes = {m: m.training for m in model.modules()}
    params = list(model.parameters())
    saved_req = [p.requires_grad for p in params]
    saved_grad = [p.grad for p in params]
    bn_buffers = [(b, b.detach().clone()) for m in model.modules()
                  if isinstance(m, _BatchNorm) for b in m.buffers()]
    try:
        model.train(train)
        for p in params:
            p.requires_grad_(True)
            p.grad = None
        with torch.enable_grad():
            yield
    finally:
        for p, r, g in zip(params, saved_req, saved_grad):
            p.requires_grad_(r)
            p.grad = g
        with torch.no_grad():
            for b, v in bn_buffers:
                b.copy_(v)
        for m, mode in modes.items():
            m.training = mode


def _used_layers(model: nn.Module, run) -> List[nn.Module]:
    """Conv/Linear layers that ``run()`` calls (on a supernet: the current path)."""
    used, handles = [], []
    for m in model.modules():
        if isinstance(m, _LAYERS):
            handles.append(m.register_forward_pre_hook(lambda mod, _: used.append(mod)))
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    seen, out = set(), []
    for m in used:
        if id(m) not in seen:
            seen.add(id(m))
            out.append(m)
    return out


@torch.no_grad()
def _sum_over_layers(layers, metric) -> float:
    total = 0.0
    for layer in layers:
        if layer.weight.grad is not None:
            total += float(metric(layer).sum())
    return total


class ZeroCostScorer(BaseScorer):
    """Base of the training-free scorers: the first batch of ``dataloader`` (a list of
    data dicts: its first; a loader: its first batch, drawn with ``seed``). In a
    distributed search every rank computes the score and rank 0's value is used."""

    def __init__(self, dataloader, num_batches: Optional[int] = 1, seed: int = 0):
        super().__init__(dataloader, num_batches, seed)

    def batches(self):
        if isinstance(self.dataloader, (list, tuple)):
            return iter(self.dataloader[:1])
        # the single-process first batch on every rank (a rank's own shard starts
        # elsewhere for every number of ranks)
        from pinas_mm.engine.sharding import BatchShards
        return (data for _, data in BatchShards(self.dataloader, 1, every_rank=True)
                .iterate(self.seed))

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        call = cls.__call__

        def __call__(self, model):
            return _same_on_all_ranks(call(self, model))

        __call__.__doc__ = call.__doc__
        cls.__call__ = __call__


# ----------------------------------------------------------------------------- scorers
@SCORERS.register_module()
class NASWOTScorer(ZeroCostScorer):
    """NASWOT (Mellor et al., ICML 2021): ``log |det K_H|``.

    For a batch of ``N`` images, every ReLU unit gives each image a binary code ``c_i``
    (1 where the ReLU's input is > 0), concatenated over all ReLU modules (length ``N_A``).
    ``K_H[i, j] = N_A - d_H(c_i, c_j)`` (Hamming distance), accumulated layer by layer as
    ``c c^T + (1 - c)(1 - c)^T``; the score is ``log|det K_H|`` (``slogdet``). Input: one
    unlabelled batch; network in train mode, no gradients. Archs whose inputs share all
    codes (a singular ``K_H``, e.g. a cell with only ``none`` ops) score ``-inf``.
    Only ``nn.ReLU`` modules are seen (a functional relu is not).
    """

    @torch.no_grad()
    def __call__(self, model):
        model = unwrap(model)
        data = _first_batch(self, model)
        x = data['inputs']
        n = x.shape[0]
        K = torch.zeros(n, n, dtype=torch.float64)

        def hook(_, inputs):
            c = (inputs[0].detach().reshape(n, -1) > 0).double()
            K.add_(c @ c.t() + (1. - c) @ (1. - c).t())

        handles = [m.register_forward_pre_hook(hook) for m in model.modules()
                   if isinstance(m, nn.ReLU)]
        try:
            with _scoring(model), torch.no_grad():
                network_output(model, x)
        finally:
            for h in handles:
                h.remove()
        sign, logdet = torch.linalg.slogdet(K)
        return float(logdet) if float(sign) != 0 else float('-inf')


@SCORERS.register_module()
class JacobianCovScorer(ZeroCostScorer):
    """Jacobian covariance (Mellor et al. 2020, arXiv:2006.04647 v1; ``jacob_cov`` of
    Abdelfattah et al. 2021).

    ``J`` = gradient of the summed network output w.r.t. each input image (``N`` rows,
    flattened), ``Sigma`` = the ``N x N`` correlation matrix of its rows, with eigenvalues
    ``lambda_i``; score ``= -sum_i [log(lambda_i + k) + 1 / (lambda_i + k)]``, ``k = 1e-5``.
    Input: one unlabelled batch; network in train mode. A network whose output does not
    depend on some input (a constant row of ``J``: the correlation is undefined) scores
    ``-inf``.
    """

    def __call__(self, model):
        model = unwrap(model)
        data = _first_batch(self, model)
        x = data['inputs'].detach().clone()
        with _scoring(model):
            x.requires_grad_(True)
            y = network_output(model, x)
            (grad, ) = torch.autograd.grad(y.sum(), x)
        jac = grad.reshape(grad.shape[0], -1).double().numpy()
        if (jac.std(axis=1) == 0).any():
            return float('-inf')
        corr = np.corrcoef(jac)
        eig = np.linalg.eigvalsh(corr)
        k = 1e-5
        return float(-np.sum(np.log(eig + k) + 1. / (eig + k)))


@SCORERS.register_module()
class SynFlowScorer(ZeroCostScorer):
    """SynFlow (Tanaka et al. 2020) as a NAS proxy (Abdelfattah et al., ICLR 2021).

    ``S = sum_theta |theta * dR/dtheta|`` with ``R = sum(f(1; |theta|))``: every weight is
    replaced by its absolute value, the input is one all-ones image of the batch's shape,
    in float64, and BN layers are bypassed (Abdelfattah et al.'s ``synflow`` uses the
    network without BN, ``bn=False``); the sum runs over Conv/Linear weights. Input: only
    the image shape (no data values, no labels). Computed on a copy: the model is not
    modified.
    """

    def __call__(self, model):
        model = unwrap(model)
        data = _first_batch(self, model)
        net = copy.deepcopy(model).double()
        for name, module in list(net.named_modules()):
            for child_name, child in list(module.named_children()):
                if isinstance(child, _BatchNorm):
                    setattr(module, child_name, nn.Identity())
        with torch.no_grad():
            for p in net.parameters():
                p.abs_()
        x = torch.ones((1, ) + tuple(data['inputs'].shape[1:]), dtype=torch.float64)
        with _scoring(net):
            layers = _used_layers(net, lambda: network_output(net, x).sum().backward())
            return _sum_over_layers(layers, lambda m: (m.weight * m.weight.grad).abs())


@SCORERS.register_module()
class SNIPScorer(ZeroCostScorer):
    """SNIP (Lee et al. 2019) as a NAS proxy (Abdelfattah et al., ICLR 2021).

    ``S = sum_theta |theta * dL/dtheta|``, ``L`` the cross-entropy of the logits on one
    labelled batch, network in train mode; the sum runs over Conv/Linear weights.
    Needs a classification head and labels.
    """

    def __call__(self, model):
        model = unwrap(model)
        data = _first_batch(self, model)
        labels = _labels(data)
        if not _has_head(model):
            raise ValueError('SNIPScorer needs a model with a classification head.')
        with _scoring(model):
            layers = _used_layers(model, lambda: F.cross_entropy(
                network_output(model, data['inputs']), labels).backward())
            return _sum_over_layers(layers, lambda m: (m.weight * m.weight.grad).abs())


@SCORERS.register_module()
class GradNormScorer(ZeroCostScorer):
    """GradNorm (Abdelfattah et al., ICLR 2021): ``S = sum_layers ||dL/dW||_2``.

    ``L`` the cross-entropy of the logits on one labelled batch (train mode); the sum of
    each Conv/Linear weight gradient's Euclidean norm. Needs a head and labels.
    """

    def __call__(self, model):
        model = unwrap(model)
        data = _first_batch(self, model)
        labels = _labels(data)
        if not _has_head(model):
            raise ValueError('GradNormScorer needs a model with a classification head.')
        with _scoring(model):
            layers = _used_layers(model, lambda: F.cross_entropy(
                network_output(model, data['inputs']), labels).backward())
            return _sum_over_layers(layers, lambda m: m.weight.grad.norm())


class _Output(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return network_output(self.model, x)


@SCORERS.register_module()
class FLOPsScorer(ZeroCostScorer):
    """Baseline: FLOPs of one image through the network (the current path on a supernet),
    counted by mmengine's ``FlopAnalyzer`` (a multiply-add = 1 FLOP). Input: the image
    shape of one batch. Listed as a baseline by Abdelfattah et al. 2021."""

    @torch.no_grad()
    def __call__(self, model):
        from mmengine.analysis import FlopAnalyzer
        model = unwrap(model)
        data = _first_batch(self, model)
        x = data['inputs'][:1]
        was = {m: m.training for m in model.modules()}
        model.eval()
        try:
            analyzer = FlopAnalyzer(_Output(model), (x, ))
            analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            return float(analyzer.total())
        finally:
            for m, mode in was.items():
                m.training = mode


@SCORERS.register_module()
class ParamsScorer(ZeroCostScorer):
    """Baseline: parameters of the modules a forward pass calls (on a supernet: the
    current path, shared modules once). Input: the image shape of one batch."""

    @torch.no_grad()
    def __call__(self, model):
        model = unwrap(model)
        data = _first_batch(self, model)
        called, handles = {}, []

        def hook(mod, _):
            called.setdefault(id(mod), mod)  # returns None: the input is unchanged

        for m in model.modules():
            handles.append(m.register_forward_pre_hook(hook))
        was = {m: m.training for m in model.modules()}
        model.eval()
        try:
            network_output(model, data['inputs'][:1])
        finally:
            for h in handles:
                h.remove()
            for m, mode in was.items():
                m.training = mode
        seen = set()
        total = 0
        for mod in called.values():
            for p in mod.parameters(recurse=False):
                if id(p) not in seen:
                    seen.add(id(p))
                    total += p.numel()
        return float(total)


#: short names (as in the papers' code) -> scorer class names
ZERO_COST_SCORERS = {
    'naswot': 'NASWOTScorer', 'synflow': 'SynFlowScorer', 'snip': 'SNIPScorer',
    'grad_norm': 'GradNormScorer', 'jacob_cov': 'JacobianCovScorer',
    'flops': 'FLOPsScorer', 'params': 'ParamsScorer'}

__all__ = ['NASWOTScorer', 'JacobianCovScorer', 'SynFlowScorer', 'SNIPScorer',
           'GradNormScorer', 'FLOPsScorer', 'ParamsScorer', 'ZERO_COST_SCORERS',
           'network_output']
