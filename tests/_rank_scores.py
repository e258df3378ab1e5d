"""Every rank-reduced score of the search on tiny splits whose sizes (5, 7) divide by
neither 2 nor 3 ranks: imported by tests/test_search.py for the one-process reference,
run under ``torch.distributed.run`` (gloo) for 2 and 3 ranks:

    python -m torch.distributed.run --nproc_per_node=N tests/_rank_scores.py \\
        TINY_DATA SUPERNET.pth OUT.pth

Rank 0 writes ``OUT.pth``: a dict of scores (floats) and recalibrated BN statistics.
"""
import os
import os.path as osp
import sys

import torch

from _search_setup import ROOT, SEARCH_CFG, tiny_loader, tiny_pinas, two_view_pipeline

VAL5 = [0, 19, 38, 57, 76]  # 5 held-out images of 5 classes
TRAIN7 = [3, 41, 87, 130, 178, 222, 301]  # 7 train images


def _loader(tiny_data, split, indices, batch_size, pipeline, shuffle=False, with_label=True):
    # the stock sampler of every OpenMMLab config: DefaultSampler, round_up=True (pads)
    return tiny_loader(tiny_data, split, batch_size, indices, pipeline, with_label,
                       shuffle=shuffle, seed=0)


def _try(out: dict, key: str, fn) -> None:
    """``out[key] = fn()``, or the error's one-line text (compared like a value: the
    test then shows every differing score, not just the first failure)."""
    try:
        out[key] = fn()
    except Exception as e:  # noqa: BLE001
        out[key] = f'{type(e).__name__}: {e}'


def compute(tiny_data: str, checkpoint: str) -> dict:
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    import pinas_mm  # noqa: F401
    init_default_scope('mmpretrain')
    from mmengine.evaluator import Evaluator
    from mmpretrain.registry import MODELS
    from torch.nn.modules.batchnorm import _BatchNorm

    from pinas_mm.search import (CandidateEvaluator, KNNScorer, LinearProbeScorer,
                                 PerturbationSelector, SelfSupLossScorer)
    cfg = Config.fromfile(SEARCH_CFG)
    test_pipeline = cfg.test_pipeline
    model = MODELS.build(cfg.model.to_dict())
    model.load_state_dict(torch.load(checkpoint, map_location='cpu',
                                     weights_only=True)['state_dict'])
    supernet = model.backbone
    space = supernet.space
    val5 = _loader(tiny_data, 'val', VAL5, 2, test_pipeline)
    train7 = _loader(tiny_data, 'train', TRAIN7, 4, test_pipeline, shuffle=True)
    out = {}

    # scorers alone, on the checkpoint's own BN statistics
    supernet.set_arch(space.arch('0123012301230123'))
    _try(out, 'probe', lambda: LinearProbeScorer(val5)(model))
    knn = KNNScorer(val5, memory_dataloader=_loader(tiny_data, 'train', TRAIN7, 4,
                                                    test_pipeline), k=3)
    _try(out, 'knn', lambda: knn(model))
    from pinas_mm.search.zero_cost import NASWOTScorer  # training-free: one batch
    _try(out, 'naswot', lambda: NASWOTScorer(val5)(model))

    # the full evaluation: recalibration on the 2 batches of 7 shuffled images (4+3)
    arch = space.arch('3210321032103210')
    evaluator = CandidateEvaluator(model, train7, LinearProbeScorer(val5), 2)
    _try(out, 'probe_recal', lambda: evaluator(arch))
    bns = [m for mod in supernet.path_modules(arch) for m in mod.modules()
           if isinstance(m, _BatchNorm)]
    out['bn'] = torch.cat([t.view(-1) for m in bns for t in (m.running_mean, m.running_var)])
    out['bn_tracked'] = int(bns[0].num_batches_tracked)
    # DARTS-PT: one with-removal estimate (2 paths) through the same evaluator
    selector = PerturbationSelector(evaluator, space.num_blocks, space.num_choices,
                                    num_paths=2, seed=0)
    _try(out, 'perturbation', lambda: selector.estimate(
        0, 5, 1, [list(range(space.num_choices))] * space.num_blocks)['score'])
    # the downstream path: mmengine's Evaluator (truncates the sampler's padding itself)
    metric = Evaluator(dict(type='Accuracy', topk=(1, )))
    for data in val5:
        metric.process(model.val_step(data), data)
    out['mmengine_accuracy'] = metric.evaluate(len(val5.dataset))['accuracy/top1']

    # the label-free scorer: a seeded random Pi-NAS model, random two-view crops
    pinas = tiny_pinas(seed=0)
    pinas.backbone.set_arch(space.arch('0123012301230123'))
    _try(out, 'selfsup', lambda: SelfSupLossScorer(
        _loader(tiny_data, 'val', VAL5, 2, two_view_pipeline(), with_label=False))(pinas))
    return out


def main(tiny_data: str, checkpoint: str, out_path: str) -> None:
    import torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group('gloo')
    result = compute(tiny_data, checkpoint)
    result['world_size'] = dist.get_world_size()
    if dist.get_rank() == 0:
        torch.save(result, out_path)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == '__main__':
    sys.path.insert(0, ROOT)
    main(*sys.argv[1:4])
    os._exit(0)
