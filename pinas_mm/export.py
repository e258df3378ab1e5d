"""Export a subnet of a trained supernet: arch file + backbone checkpoint."""
import os
import os.path as osp
from typing import Dict, Optional

import torch

from pinas_mm.models import (PiNASResNeSt, PiNASSuperNet, check_state_matches,
                             inherit_subnet_state, load_subnet_state)
from pinas_mm.engine.checkpoint import read_state_dict
from pinas_mm.space import SPACE_PRESETS, SearchSpace


def infer_space(state, prefix: str) -> SearchSpace:
    """The preset whose supernet has exactly these backbone keys and shapes."""
    backbone = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    errors = []
    for name in SPACE_PRESETS:
        try:
            check_state_matches(PiNASSuperNet(space=name), backbone, 'supernet state')
            return SearchSpace.get(name)
        except ValueError as e:
            errors.append(f'{name}: {str(e)[:300]}')
    raise ValueError('The checkpoint is not a supernet of any known space (prefix '
                     f'{prefix!r}):\n  ' + '\n  '.join(errors))


class _BackboneHolder(torch.nn.Module):
    """Just enough of a model for :func:`recalibrate_bn`: backbone + preprocessor."""

    def __init__(self, backbone, data_preprocessor):
        super().__init__()
        self.backbone = backbone
        self.data_preprocessor = data_preprocessor


def recalibrated_state(state, arch, space, prefix, recal_cfg, recal_batches: int,
                       cfg_options: Optional[dict] = None) -> Dict[str, torch.Tensor]:
    """The supernet state with the path's BN statistics recomputed (precise BN) on the
    ``train_dataloader`` of ``recal_cfg`` (e.g. the search config)."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS

    from pinas_mm.search.evaluator import recalibrate_bn
    cfg = Config.fromfile(recal_cfg) if isinstance(recal_cfg, str) else recal_cfg
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmpretrain')):
        loader = Runner.build_dataloader(cfg.train_dataloader)
        pre = dict(cfg.model.get('data_preprocessor') or {})
        pre.setdefault('type', 'mmpretrain.ClsDataPreprocessor')
        preprocessor = MMPRETRAIN_MODELS.build(pre)
    supernet = PiNASSuperNet(space=space)
    supernet.load_state_dict({k[len(prefix):]: v for k, v in state.items()
                              if k.startswith(prefix)})
    recalibrate_bn(_BackboneHolder(supernet, preprocessor), arch, loader, recal_batches)
    return {prefix + k: v for k, v in supernet.state_dict().items()}


def export_subnet(supernet_path: str, arch, out_dir: Optional[str] = None,
                  space=None, prefix: Optional[str] = None, recal_cfg=None,
                  recal_batches: int = 20, recal_cfg_options: Optional[dict] = None
                  ) -> Dict[str, str]:
    """Write ``ARCH.yaml`` and a ``backbone.*`` checkpoint of the arch's inherited weights.

    A supernet's BN statistics are a mixture over the paths it ran; with ``recal_cfg``
    (a config whose ``train_dataloader`` gives held-out images, e.g. the search config)
    the path's statistics are first recomputed over ``recal_batches`` batches, as the
    search did when it scored the arch. Fine-tuning configs that keep BN in eval mode
    (mmdet's ``norm_eval=True``, frozen stages) rely on them.
    """
    state = read_state_dict(supernet_path)  # CheckpointError: one line naming the file
    if prefix is None:
        prefix = 'backbone.' if any(k.startswith('backbone.') for k in state) else ''
    meta = {}
    if isinstance(arch, str) and arch.endswith(('.yaml', '.yml', '.json')) and osp.isfile(arch):
        import yaml
        with open(arch) as f:
            meta = {k: v for k, v in (yaml.safe_load(f) or {}).items() if k != 'arch'}
    if space is None:
        space = infer_space(state, prefix)
    else:
        space = SearchSpace.get(space)
        backbone = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        check_state_matches(PiNASSuperNet(space=space), backbone, 'supernet state')
    arch = space.arch(arch)
    if recal_cfg is not None:
        state = recalibrated_state(state, arch, space, prefix, recal_cfg, recal_batches,
                                   recal_cfg_options)
    sub_state = inherit_subnet_state(state, arch, space, prefix=prefix)
    load_subnet_state(PiNASResNeSt(arch=arch, space=space), sub_state)  # strict check
    out_dir = out_dir or osp.dirname(osp.abspath(supernet_path))
    os.makedirs(out_dir, exist_ok=True)
    from pinas_mm.models.complexity import arch_complexity
    flops, params = arch_complexity(arch, space)
    info = dict(space=space.name, supernet=osp.abspath(supernet_path),
                flops_224=flops, params_1000cls=params,
                bn_recalibrated=recal_cfg is not None)
    info.update({k: v for k, v in meta.items() if k in ('score', 'evaluations')})
    arch_file = osp.join(out_dir, f'{arch}.yaml')
    arch.dump(arch_file, **info)
    ckpt_file = osp.join(out_dir, f'pinas_{space.name}_{arch}_backbone.pth')
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in sub_state.items()},
                    meta=dict(arch=str(arch), **info)), ckpt_file)
    return dict(arch_file=arch_file, checkpoint=ckpt_file)
