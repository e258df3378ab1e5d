"""Export a subnet of a trained supernet: arch file + backbone checkpoint.

The command line is ``tools/export_subnet.py`` (:func:`main`). The names of the two
files are fixed here (:data:`ARCH_FILE`, :data:`CHECKPOINT_FILE`, :func:`export_paths`);
flows that wait for or read an export ask :func:`export_paths` / :func:`find_exports`.
"""
import fnmatch
import os
import os.path as osp
from typing import Dict, Optional, Union

import torch

from pinas_mm.models import check_state_matches, load_subnet_state
from pinas_mm.models.inherit import inherit_state
from pinas_mm.engine.checkpoint import read_state_dict
from pinas_mm.space import NB201_PRESETS, SPACE_PRESETS, NB201Space, SearchSpace, get_space

#: the files :func:`export_subnet` writes into its ``out_dir``, formatted with the arch's
#: 16 digits (``arch``) and the space's name (``space``)
ARCH_FILE = '{arch}.yaml'
CHECKPOINT_FILE = 'pinas_{space}_{arch}_backbone.pth'


def export_paths(out_dir: str, arch, space) -> Dict[str, str]:
    """The paths :func:`export_subnet` writes for ``arch`` of ``space`` into ``out_dir``.

    Args:
        out_dir (str): the export folder.
        arch (str | Arch): the arch (its 16-digit form names the files).
        space (str | SearchSpace): the space, by name or object.

    Returns:
        dict: ``arch_file`` (``<arch>.yaml``) and ``checkpoint``
        (``pinas_<space>_<arch>_backbone.pth``), as :func:`export_subnet` returns them.
    """
    space = getattr(space, 'name', space)
    return dict(arch_file=osp.join(out_dir, ARCH_FILE.format(arch=arch)),
                checkpoint=osp.join(out_dir, CHECKPOINT_FILE.format(space=space, arch=arch)))


def find_exports(out_dir: str) -> Dict[str, str]:
    """The one export in ``out_dir`` when its arch and space are not known beforehand.

    Returns:
        dict: ``arch_file`` and ``checkpoint`` as :func:`export_paths`.

    Raises:
        RuntimeError: ``out_dir`` does not hold exactly one arch file and one backbone
            checkpoint.
    """
    names = os.listdir(out_dir)
    arch_files = [f for f in names if fnmatch.fnmatch(f, ARCH_FILE.format(arch='*'))]
    ckpts = [f for f in names if fnmatch.fnmatch(f, CHECKPOINT_FILE.format(space='*', arch='*'))]
    if len(arch_files) != 1 or len(ckpts) != 1:
        raise RuntimeError(f'Expected one arch file and one backbone checkpoint in '
                           f'{out_dir}, found {arch_files} and {ckpts}.')
    return dict(arch_file=osp.join(out_dir, arch_files[0]),
                checkpoint=osp.join(out_dir, ckpts[0]))


def infer_space(state, prefix: str) -> Union[SearchSpace, NB201Space]:
    """The preset (ResNeSt presets, then NAS-Bench-201 presets) whose supernet has
    exactly these backbone keys and shapes; ``ValueError`` lists why each one failed."""
    backbone = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    errors = []
    for name in list(SPACE_PRESETS) + list(NB201_PRESETS):
        space = get_space(name)
        supernet_cls, _ = space.backbone_classes()
        try:
            check_state_matches(supernet_cls(space=space), backbone, 'supernet state')
            return space
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
    space = get_space(space)
    supernet = space.backbone_classes()[0](space=space)
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

    Any space works (``space``: a ResNeSt or NAS-Bench-201 preset, dict or space object;
    None: the preset whose supernet fits the checkpoint keys, :func:`infer_space`): the
    space's supernet class maps the state (:func:`~pinas_mm.models.inherit.inherit_state`)
    and its subnet class checks it strictly.
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
        space = get_space(space)
        backbone = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        check_state_matches(space.backbone_classes()[0](space=space), backbone,
                            'supernet state')
    subnet_cls = space.backbone_classes()[1]
    arch = space.arch(arch)
    if recal_cfg is not None:
        state = recalibrated_state(state, arch, space, prefix, recal_cfg, recal_batches,
                                   recal_cfg_options)
    sub_state = inherit_state(state, arch, space, prefix=prefix)
    load_subnet_state(subnet_cls(arch=arch, space=space), sub_state)  # strict check
    out_dir = out_dir or osp.dirname(osp.abspath(supernet_path))
    os.makedirs(out_dir, exist_ok=True)
    from pinas_mm.models.complexity import arch_complexity
    flops, params = arch_complexity(arch, space)
    info = dict(space=space.name, supernet=osp.abspath(supernet_path),
                flops_224=flops, params_1000cls=params,
                bn_recalibrated=recal_cfg is not None)
    info.update({k: v for k, v in meta.items() if k in ('score', 'evaluations')})
    paths = export_paths(out_dir, arch, space)
    arch_file, ckpt_file = paths['arch_file'], paths['checkpoint']
    arch.dump(arch_file, **info)
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in sub_state.items()},
                    meta=dict(arch=str(arch), **info)), ckpt_file)
    return dict(arch_file=arch_file, checkpoint=ckpt_file)


def main(argv=None):
    """``tools/export_subnet.py``: prints ``arch_file: PATH`` and ``checkpoint: PATH``."""
    import argparse

    from mmengine.config import DictAction

    from pinas_mm.engine.checkpoint import exit_on_checkpoint_error
    parser = argparse.ArgumentParser(description='Export a searched subnet: ARCH.yaml + a '
                                     'backbone checkpoint with inherited weights.')
    parser.add_argument('supernet', help='supernet checkpoint (Pi-NAS, SPOS or probe)')
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument('--arch', help='an arch in any form (digits, name, arch file)')
    src.add_argument('--from-search', metavar='WORK_DIR',
                     help='take best_arch.yaml of a finished search')
    parser.add_argument('--space', default=None,
                        help='search space (default: read from the checkpoint keys)')
    parser.add_argument('--prefix', default=None,
                        help="supernet key prefix (default: 'backbone.' when present)")
    parser.add_argument('--out-dir', default=None, help='default: next to the supernet')
    parser.add_argument('--recalibrate', metavar='CONFIG', default=None,
                        help="recompute the path's BN statistics (precise BN) on this "
                        "config's train_dataloader first, e.g. the search config")
    parser.add_argument('--recal-batches', type=int, default=20)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='overrides for the --recalibrate config')
    args = parser.parse_args(argv)
    arch = args.arch or osp.join(args.from_search, 'best_arch.yaml')
    with exit_on_checkpoint_error():  # a missing / broken checkpoint: one line
        paths = export_subnet(args.supernet, arch, out_dir=args.out_dir, space=args.space,
                              prefix=args.prefix, recal_cfg=args.recalibrate,
                              recal_batches=args.recal_batches,
                              recal_cfg_options=args.cfg_options)
    for key, path in paths.items():
        print(f'{key}: {path}')
