"""Downstream transfer configs: Mask R-CNN (COCO), DeepLabV3 (ADE20K, Cityscapes), ImageNet
scratch training and linear evaluation with the searched ``pinas_mm.PiNASResNeSt``.

* the FULL model-zoo configs parse and carry the paper's settings (SyncBN, multi-scale
  640-800, d8 dilation, frozen linear eval) and build a backbone with the right strides;
* every TINY config trains a few iterations through ``tools/train.py`` on the built-in tiny
  datasets and evaluates with the real evaluator (CocoMetric bbox+segm, IoUMetric,
  Accuracy); ``tools/test.py`` evaluates a saved checkpoint;
* a backbone exported by ``pinas_mm.export.export_subnet`` loads into each family's model
  with no missing key: checked by comparing tensors after ``init_weights()``.
"""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from pinas_mm.cli import tool_module as load_tool  # tools/X.py -> its package module
from pinas_mm.datasets.tiny import (TINY_ADE_CLASSES, TINY_COCO_CLASSES,
                                    TINY_DATASET_ROOTS, TINY_IMAGENET_CLASSES)
from pinas_mm.space import NAMED_ARCHS, SearchSpace

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

FULL = {
    'det-trans': 'configs/mask_rcnn/mask-rcnn_pinas-trans-fpn-syncbn_8xb2-ms-1x_coco.py',
    'det-resnest50': 'configs/mask_rcnn/mask-rcnn_resnest50-fpn-syncbn_8xb2-ms-1x_coco.py',
    'ade-trans': 'configs/deeplabv3/deeplabv3_pinas-trans-d8_4xb4-80k_ade20k-512x512.py',
    'ade-resnest50': 'configs/deeplabv3/deeplabv3_resnest50-d8_4xb4-80k_ade20k-512x512.py',
    'city-trans': 'configs/deeplabv3/deeplabv3_pinas-trans-d8_4xb2-80k_cityscapes-512x1024.py',
    'city-resnest50':
        'configs/deeplabv3/deeplabv3_resnest50-d8_4xb2-80k_cityscapes-512x1024.py',
    'cls-scratch': 'configs/imagenet/scratch_pinas-cls_32xb64-coslr-270e_in1k.py',
    'cls-linear': 'configs/imagenet/linear-eval_pinas-cls_8xb32-steplr-100e_in1k.py',
}

# family -> (tiny config, tiny dataset, default scope, arch, metric keys)
TINY = {
    'det': ('configs/mask_rcnn/mask-rcnn_pinas-trans-tiny-fpn_1xb2-ms-4e_tiny-coco.py',
            'coco', 'mmdet', 'pinas-trans', ('coco/bbox_mAP', 'coco/segm_mAP')),
    'seg-ade20k': (
        'configs/deeplabv3/deeplabv3_pinas-trans-tiny-d8_1xb4-400i_tiny-ade20k-128x128.py',
        'ade20k', 'mmseg', 'pinas-trans', ('mIoU', )),
    'seg-cityscapes': (
        'configs/deeplabv3/deeplabv3_pinas-trans-tiny-d8_1xb2-200i_tiny-cityscapes-128x256.py',
        'cityscapes', 'mmseg', 'pinas-trans', ('mIoU', )),
    'cls-scratch': ('configs/imagenet/scratch_pinas-cls-tiny_1xb16-coslr-8e_tiny-in.py',
                    'imagenet', 'mmpretrain', 'pinas-cls', ('accuracy/top1', )),
    'cls-linear': ('configs/imagenet/linear-eval_pinas-cls-tiny_1xb32-steplr-6e_tiny-in.py',
                   'imagenet', 'mmpretrain', 'pinas-cls', ('accuracy/top1', )),
}


def cfg_path(rel):
    return osp.join(ROOT, rel)


def data_opts(family, tiny_data):
    """--cfg-options pointing every dataloader (and COCO's evaluator) at the tiny data."""
    dataset = TINY[family][1]
    root = osp.join(tiny_data, TINY_DATASET_ROOTS[dataset]) + '/'
    opts = {f'{loader}.dataset.data_root': root
            for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')}
    if dataset == 'coco':
        for ev in ('val_evaluator', 'test_evaluator'):
            opts[f'{ev}.ann_file'] = root + 'annotations/instances_val2017.json'
    return opts


def short_opts(family):
    """A few iterations, no validation during training, a few validation images."""
    if family == 'det':  # 4 images, batch 2: 2 iterations
        return {'train_dataloader.dataset.indices': 4, 'train_cfg.max_epochs': 1,
                'train_cfg.val_begin': 10**6, 'val_dataloader.dataset.indices': 4}
    if family.startswith('seg'):
        return {'train_cfg.max_iters': 2, 'train_cfg.val_begin': 10**6,
                'val_dataloader.dataset.indices': 4, 'param_scheduler.0.end': 2}
    # classification: 32 images (all 8 classes: the lists are sorted by class), batch 16 /
    # 32: 1-2 iterations; validation on 32 images, 4 per class
    return {'train_dataloader.dataset.indices': list(range(0, 320, 10)),
            'train_cfg.max_epochs': 1, 'train_cfg.val_begin': 10**6,
            'val_dataloader.dataset.indices': list(range(0, 96, 3))}


def as_argv(opts):
    def fmt(v):
        return '[' + ','.join(map(str, v)) + ']' if isinstance(v, list) else str(v)
    return ['--cfg-options'] + [f'{k}={fmt(v)}' for k, v in opts.items()]


def conv_dilation(block):
    return block.conv2.conv.dilation[0]


# ------------------------------------------------------------------------- full configs
@pytest.mark.parametrize('name', sorted(FULL))
def test_full_config_parses(name):
    cfg = Config.fromfile(cfg_path(FULL[name]))
    bb = cfg.model.backbone
    assert bb.type == 'pinas_mm.PiNASResNeSt'
    assert bb.space == 'resnest50'
    expected_arch = {'trans': 'pinas-trans', 'resnest50': 'resnest50'}.get(
        name.split('-', 1)[1], 'pinas-cls')
    assert bb.arch == expected_arch
    # _delete_ dropped every key of the base's ResNet/ResNeSt backbone
    for key in ('depth', 'radix', 'stem_channels', 'num_stages', 'avg_down_stride',
                'reduction_factor', 'deep_stem', 'pretrained'):
        assert key not in bb, key
    assert 'pinas_mm' in cfg.custom_imports['imports']
    if name.startswith('det'):
        assert cfg.default_scope == 'mmdet'
        syncbn = dict(type='SyncBN', requires_grad=True)
        assert bb.norm_cfg == syncbn and bb.norm_eval is False
        assert cfg.model.roi_head.bbox_head.norm_cfg == syncbn
        assert cfg.model.roi_head.mask_head.norm_cfg == syncbn
        assert cfg.model.roi_head.bbox_head.type == 'Shared4Conv1FCBBoxHead'
        resize = [t for t in cfg.train_dataloader.dataset.pipeline
                  if t.type == 'RandomChoiceResize']
        assert len(resize) == 1
        assert [s[1] for s in resize[0].scales] == list(range(640, 801, 32))
        assert cfg.train_cfg.max_epochs == 12  # 1x
        assert cfg.model.roi_head.bbox_head.num_classes == 80
        assert cfg.val_evaluator.metric == ['bbox', 'segm']
    elif name.startswith(('ade', 'city')):
        assert cfg.default_scope == 'mmseg'
        assert cfg.model.get('pretrained') is None
        assert bb.strides == (1, 2, 1, 1) and bb.dilations == (1, 1, 2, 4)
        assert bb.contract_dilation is True
        assert bb.norm_cfg.type == 'SyncBN'
        assert cfg.model.decode_head.norm_cfg.type == 'SyncBN'
        assert cfg.model.decode_head.type == 'ASPPHead'
        assert cfg.model.auxiliary_head.type == 'FCNHead'
        assert cfg.train_cfg.max_iters == 80000
        if name.startswith('ade'):
            assert cfg.crop_size == (512, 512)
            assert cfg.model.decode_head.num_classes == 150
        else:
            assert cfg.crop_size == (512, 1024)
            assert cfg.model.decode_head.num_classes == 19
    else:
        assert cfg.default_scope == 'mmpretrain'
        if name == 'cls-scratch':
            assert cfg.train_cfg.max_epochs == 270
            assert cfg.model.train_cfg.augments.type == 'Mixup'
            assert 'val_cfg' in cfg and 'test_cfg' in cfg
        else:
            assert bb.frozen_stages == 4
            assert cfg.optim_wrapper.optimizer.lr == 30.
    if name != 'cls-scratch':
        assert bb.init_cfg.type == 'Pretrained' and bb.init_cfg.prefix == 'backbone.'
        assert osp.basename(bb.init_cfg.checkpoint) == \
            f'pinas_resnest50_{NAMED_ARCHS[expected_arch]}_backbone.pth'


@pytest.mark.parametrize('name', ['det-trans', 'ade-trans', 'cls-scratch'])
def test_full_backbone_builds_with_strides(name):
    """The full-size backbone builds from the config (SyncBN included) and has the
    detection (4..32) / d8 (4, 8, 8, 8) output strides."""
    from mmengine.registry import MODELS, init_default_scope

    import pinas_mm  # noqa: F401
    cfg = Config.fromfile(cfg_path(FULL[name]))
    init_default_scope(cfg.default_scope)
    bb_cfg = cfg.model.backbone.copy()
    bb_cfg.pop('init_cfg', None)
    bb_cfg['out_indices'] = (0, 1, 2, 3)
    backbone = MODELS.build(bb_cfg).eval()
    with torch.no_grad():
        outs = backbone(torch.zeros(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [256, 512, 1024, 2048]
    strides = [64 // o.shape[-1] for o in outs]
    if name.startswith('ade'):
        assert strides == [4, 8, 8, 8]
        # contract_dilation: the first block of a dilated stage uses half the dilation
        assert [conv_dilation(b) for b in backbone.layer3] == [1] + [2] * 5
        assert [conv_dilation(b) for b in backbone.layer4] == [2, 4, 4]
    else:
        assert strides == [4, 8, 16, 32]
    if name.startswith('det'):
        assert type(backbone.layer1[0].bn1).__name__ == 'SyncBatchNorm'


# ------------------------------------------------------------------------- tiny configs
@pytest.mark.parametrize('family', sorted(TINY))
def test_tiny_config_matches_full(family):
    rel, dataset, scope, arch, _ = TINY[family]
    cfg = Config.fromfile(cfg_path(rel))
    assert cfg.default_scope == scope
    bb = cfg.model.backbone
    assert bb.type == 'pinas_mm.PiNASResNeSt' and bb.space == 'tiny' and bb.arch == arch
    assert cfg.stage_channels == list(SearchSpace.get('tiny').out_channels)
    assert 'SyncBN' not in cfg.pretty_text  # one CPU process
    assert cfg.train_dataloader.num_workers == 0
    assert cfg.train_dataloader.dataset.data_root.startswith('data/tiny/')
    assert 2 <= cfg.train_dataloader.batch_size <= 32
    if family == 'det':
        assert tuple(cfg.train_dataloader.dataset.metainfo.classes) == TINY_COCO_CLASSES
        assert cfg.model.roi_head.bbox_head.num_classes == len(TINY_COCO_CLASSES)
        assert cfg.model.roi_head.mask_head.num_classes == len(TINY_COCO_CLASSES)
        assert cfg.model.neck.in_channels == cfg.stage_channels
    elif family == 'seg-ade20k':
        assert tuple(cfg.train_dataloader.dataset.metainfo.classes) == TINY_ADE_CLASSES
        assert cfg.model.decode_head.num_classes == len(TINY_ADE_CLASSES)
        assert cfg.model.auxiliary_head.num_classes == len(TINY_ADE_CLASSES)
    elif family == 'seg-cityscapes':
        assert 'metainfo' not in cfg.train_dataloader.dataset  # real 19 classes
        assert cfg.model.decode_head.num_classes == 19
    else:
        assert tuple(cfg.train_dataloader.dataset.metainfo.classes) == TINY_IMAGENET_CLASSES
        assert cfg.model.head.num_classes == len(TINY_IMAGENET_CLASSES)
        assert cfg.data_preprocessor.num_classes == len(TINY_IMAGENET_CLASSES)
    if family.startswith('seg'):
        assert bb.strides == (1, 2, 1, 1) and bb.dilations == (1, 1, 2, 4)
        assert bb.contract_dilation is True
    if family == 'cls-scratch':
        assert bb.get('init_cfg') is None
    else:  # transfer: a tiny-space export, loaded like the full configs' checkpoints
        assert bb.init_cfg.type == 'Pretrained' and bb.init_cfg.prefix == 'backbone.'
        assert osp.basename(bb.init_cfg.checkpoint) == \
            f'pinas_tiny_{NAMED_ARCHS[arch]}_backbone.pth'


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """Backbone checkpoints exported from a randomly initialised tiny supernet whose every
    tensor (BN statistics and counters included) is perturbed at random, so any key that is
    not loaded differs from a fresh initialisation."""
    from pinas_mm.export import export_subnet
    from pinas_mm.models import PiNASSuperNet
    out = tmp_path_factory.mktemp('export')
    torch.manual_seed(0)
    supernet = PiNASSuperNet(space='tiny')
    state = {}
    for k, v in supernet.state_dict().items():
        if k.endswith('running_var'):
            v = v * (0.5 + torch.rand_like(v))
        elif v.is_floating_point():  # keeps the scale: a sane network, distinct values
            v = v * (0.9 + 0.2 * torch.rand_like(v)) + 0.01 * torch.randn_like(v)
        else:
            v = torch.randint_like(v, 1, 1000)
        state['backbone.' + k] = v
    supernet_path = str(out / 'supernet.pth')
    torch.save({'state_dict': state}, supernet_path)
    return {arch: export_subnet(supernet_path, arch, out_dir=str(out / arch), space='tiny')
            for arch in ('pinas-trans', 'pinas-cls')}


@pytest.mark.parametrize('family', sorted(TINY))
def test_exported_backbone_loads_without_missing_keys(family, exported):
    from mmengine.registry import MODELS, init_default_scope

    import pinas_mm  # noqa: F401
    rel, _, scope, arch, _ = TINY[family]
    ckpt_path = exported[arch]['checkpoint']
    cfg = Config.fromfile(cfg_path(rel))
    if cfg.model.backbone.get('init_cfg'):  # the config's own Pretrained init_cfg
        cfg.model.backbone.init_cfg.checkpoint = ckpt_path
    else:  # scratch config: as a user would fine-tune from an export
        cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=ckpt_path,
                                           prefix='backbone.')
    init_default_scope(scope)
    model = MODELS.build(cfg.model)
    model.init_weights()
    ckpt = torch.load(ckpt_path, map_location='cpu', weights_only=True)['state_dict']
    assert ckpt and all(k.startswith('backbone.') for k in ckpt)
    expected = {k[len('backbone.'):]: v for k, v in ckpt.items()}
    got = model.backbone.state_dict()
    assert sorted(set(got) - set(expected)) == [], 'backbone keys missing in the checkpoint'
    assert sorted(set(expected) - set(got)) == [], 'checkpoint keys unused by the backbone'
    differ = [k for k in got if not torch.equal(got[k], expected[k])]
    assert differ == [], f'not loaded: {differ[:10]}'


# ------------------------------------------------------------------------- tiny runs
def _train_and_val(family, tiny_data, work_dir, extra=None):
    train = load_tool('train')
    opts = {**data_opts(family, tiny_data), **short_opts(family),
            'default_hooks.logger.interval': 1, **(extra or {})}
    runner = train.main([cfg_path(TINY[family][0]), '--work-dir', str(work_dir)]
                        + as_argv(opts))
    assert runner.cfg.default_scope == TINY[family][2]
    assert runner.train_loop.iter >= 1
    metrics = runner.val()
    print(f'\n{family}: {dict(sorted(metrics.items()))}')
    for key in TINY[family][4]:
        assert key in metrics, (key, sorted(metrics))
        assert isinstance(metrics[key], float) and math.isfinite(metrics[key]), metrics
    return runner, metrics


@pytest.mark.parametrize('family', ['det', 'seg-ade20k', 'seg-cityscapes'])
def test_tiny_downstream_train_and_eval(family, tiny_data, tmp_path, exported):
    # transfer as in the full configs: the backbone comes from an exported checkpoint
    ckpt_path = exported[TINY[family][3]]['checkpoint']
    _train_and_val(family, tiny_data, tmp_path,
                   {'model.backbone.init_cfg.checkpoint': ckpt_path})


def test_tiny_cls_scratch_train_eval_and_test_tool(tiny_data, tmp_path):
    runner, val_metrics = _train_and_val('cls-scratch', tiny_data, tmp_path / 'train')
    ckpt = tmp_path / 'train' / 'epoch_1.pth'
    assert ckpt.is_file()
    test = load_tool('test')
    opts = {**data_opts('cls-scratch', tiny_data),
            'test_dataloader.dataset.indices': list(range(0, 96, 3))}
    metrics = test.main([cfg_path(TINY['cls-scratch'][0]), str(ckpt), '--work-dir',
                         str(tmp_path / 'test')] + as_argv(opts))
    assert 'accuracy/top1' in metrics, metrics
    # the same images through test_dataloader: the checkpoint was loaded, not a fresh init
    assert metrics['accuracy/top1'] == pytest.approx(val_metrics['accuracy/top1'])


def test_tiny_linear_eval_keeps_backbone_frozen(tiny_data, tmp_path, exported):
    ckpt_path = exported['pinas-cls']['checkpoint']
    runner, _ = _train_and_val('cls-linear', tiny_data, tmp_path,
                               {'model.backbone.init_cfg.checkpoint': ckpt_path})
    ckpt = torch.load(ckpt_path, map_location='cpu', weights_only=True)['state_dict']
    got = runner.model.backbone.state_dict()
    assert set(got) == {k[len('backbone.'):] for k in ckpt}
    # frozen_stages=4: weights AND BN statistics are those of the exported backbone
    changed = [k for k, v in got.items() if not torch.equal(v, ckpt['backbone.' + k])]
    assert changed == [], changed[:10]
