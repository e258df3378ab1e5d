"""Pi-NAS and SPOS on the NAS-Bench-201 supernet (issue 12, item 2; the CI smoke test).

* Pi-NAS steps on ``NB201SuperNet`` (synthetic 32 px views, tiny preset): the two paths
  differ on every edge, the loss is finite, and the path-wise mean teacher moves only the
  sampled paths' parameters (the MoCo-style whole-encoder EMA moves all of them);
* the teacher's path parameters are exactly those of the backbone's ``path_modules``;
* SPOS steps: a new path per step, finite loss, gradients only on the sampled ops;
* the NB201 configs (Pi-NAS, SPOS, the no-cross-path and full-EMA ablations) carry the
  same schedule and seed, and train 2 iterations through ``tools/train.py`` on the real
  CIFAR-10 photos of ``../shared/data/cifar10`` (``PINAS_REAL_DATA`` for another copy).
"""
import math
import random
import os
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config

from test_downstream import cfg_path, load_tool
from test_pinas import build_pinas as build_resnest_pinas, perturb_student, views

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA = osp.abspath(os.environ.get('PINAS_REAL_DATA', osp.join(ROOT, '..', 'shared', 'data')))
CONFIGS = {
    'pinas': 'configs/pinas/pinas_nb201-space_1xb64-coslr-2e_cifar10.py',
    'no-cross-path': 'configs/pinas/pinas-no-cross-path_nb201-space_1xb64-coslr-2e_cifar10.py',
    'full-ema': 'configs/pinas/pinas-full-ema_nb201-space_1xb64-coslr-2e_cifar10.py',
    'spos': 'configs/spos/spos_nb201-space_1xb64-coslr-2e_cifar10.py',
}


def build_pinas(**kwargs):
    """test_pinas's tiny Pi-NAS with the NB201 supernet (``nb201-tiny``: 32 output channels)."""
    cfg = dict(backbone=dict(type='pinas_mm.NB201SuperNet', space='nb201-tiny'),
               neck=dict(type='MoCoV2Neck', in_channels=32, hid_channels=32, out_channels=16,
                         with_avg_pool=True),
               queue_len=16)
    cfg.update(kwargs)
    model = build_resnest_pinas(**cfg)
    model.init_weights()
    return model


def named(module):
    return {k: v.detach().clone() for k, v in module.named_parameters()}


@pytest.mark.parametrize('path_ema', [True, False])
@pytest.mark.parametrize('cross_path', [True, False])
def test_pinas_steps_on_nb201(path_ema, cross_path):
    model = build_pinas(path_ema=path_ema, cross_path=cross_path)
    model.train()
    m = model.teacher.momentum
    for step in range(3):
        perturb_student(model, seed=step)
        t0 = named(model.teacher.module)
        s0 = named(nn.Sequential(model.backbone, model.neck))
        loss = model.loss(views(seed=step))['loss']
        assert torch.isfinite(loss) and loss.item() > 0
        a, b = model.last_paths
        assert len(a) == len(b) == 6
        assert all(x != y for x, y in zip(a, b)), (a, b)  # differ on every edge
        keys_a, keys_b = set(model.path_keys(a)), set(model.path_keys(b))
        t1 = named(model.teacher.module)
        untouched = 0
        for k, before in t0.items():
            s = s0[k]
            if not path_ema:
                expected = (1 - m) * before + m * s
            elif k in keys_a and k in keys_b:  # stem, reduction blocks, lastact, neck
                expected = (1 - m) * ((1 - m) * before + m * s) + m * s
            elif k in keys_a or k in keys_b:
                expected = (1 - m) * before + m * s
            else:  # an op on neither path: bit-identical
                assert torch.equal(t1[k], before), f'step {step}: unsampled {k} changed'
                assert '.candidates.' in k
                untouched += 1
                continue
            torch.testing.assert_close(t1[k], expected, rtol=1e-6, atol=1e-7)
            assert not torch.equal(t1[k], before), k
        # 3 of 5 ops per edge are on neither path; those with parameters (convs) exist
        assert (untouched > 0) == path_ema
    assert int(model.step) == 3 and int(model.queue_ptr) == 12


def test_teacher_path_parameters_are_the_path_modules():
    model = build_pinas()
    backbone_params = {id(p): k for k, p in model.backbone.named_parameters()}
    for seed in range(5):
        arch = model.backbone.sample_arch(random.Random(seed))
        pairs = model.path_pairs(arch)
        student = {id(s) for _, s in pairs}
        assert len(student) == len(pairs)  # every parameter once
        on_path = {id(p) for mod in model.backbone.path_modules(arch)
                   for p in mod.parameters()}
        neck = {id(p) for p in model.neck.parameters()}
        assert student == on_path | neck, sorted(backbone_params[i] for i in student ^ on_path
                                                 if i in backbone_params)
        teacher = {id(p) for p in model.teacher.module.parameters()}
        assert all(id(t) in teacher for t, _ in pairs)


def test_pinas_rejects_a_plain_backbone():
    with pytest.raises(TypeError, match='NB201SuperNet'):
        build_pinas(backbone=dict(type='pinas_mm.NB201Net', arch='333333',
                                  space='nb201-tiny'))


def test_spos_steps_on_nb201():
    import pinas_mm  # noqa: F401
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    model = MODELS.build(dict(
        type='pinas_mm.SupernetClassifier',
        backbone=dict(type='pinas_mm.NB201SuperNet', space='nb201-tiny'),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=32,
                  loss=dict(type='CrossEntropyLoss'))))
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(0)
    archs = []
    for step in range(3):
        x = torch.randn(4, 3, 32, 32, generator=g)
        labels = [DataSample().set_gt_label(int(c)) for c in torch.randint(10, (4, ),
                                                                        generator=g)]
        opt.zero_grad()
        loss = model.loss(x, labels)['loss']
        assert torch.isfinite(loss)
        loss.backward()
        arch = model.backbone.arch
        archs.append(arch)
        on_path = {id(p) for mod in model.backbone.path_modules(arch)
                   for p in mod.parameters()}
        for k, p in model.backbone.named_parameters():
            if id(p) not in on_path:  # an op not on the sampled path gets no gradient
                assert p.grad is None or not p.grad.any(), k
        opt.step()
    assert int(model.step) == 3 and len(set(archs)) > 1


def test_nb201_configs_share_schedule_and_seed():
    cfgs = {n: Config.fromfile(cfg_path(rel)) for n, rel in CONFIGS.items()}
    for name, cfg in cfgs.items():
        assert cfg.model.backbone.type == 'pinas_mm.NB201SuperNet', name
        assert cfg.model.backbone.space['channels'] == 16, name
        assert cfg.train_dataloader.batch_size == 64, name
        assert cfg.train_cfg.max_epochs == cfgs['pinas'].train_cfg.max_epochs, name
        assert cfg.randomness == dict(seed=0, deterministic=True), name
        assert cfg.train_dataloader.dataset.data_root == '../shared/data/cifar10/', name
    switches = {n: (c.model.cross_path, c.model.path_ema) for n, c in cfgs.items()
                if n != 'spos'}
    assert switches == {'pinas': (True, True), 'no-cross-path': (False, True),
                        'full-ema': (True, False)}
    assert cfgs['spos'].model.sample_path is True


def _opts(name, loaders):
    opts = [f'{loader}.dataset.data_root={DATA}/cifar10/' for loader in loaders]
    return opts + ['train_dataloader.batch_size=8', 'train_dataloader.dataset.indices=16',
                   'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1']


@pytest.mark.parametrize('name', ['pinas', 'spos'])
def test_nb201_config_trains_two_iterations(name, tmp_path):
    if not osp.isdir(osp.join(DATA, 'cifar10')):
        pytest.fail(f'real data missing: cifar10 under {DATA}; expected ../shared/data '
                    '(see its README.md) or PINAS_REAL_DATA=DIR')
    if name == 'pinas':
        opts = _opts(name, ['train_dataloader']) + ['model.queue_len=16']
    else:
        opts = _opts(name, ['train_dataloader', 'val_dataloader', 'test_dataloader']) + [
            'train_cfg.val_interval=1000000',
            'val_dataloader.dataset.indices=20']  # the last epoch validates anyway
    train = load_tool('train')
    runner = train.main([cfg_path(CONFIGS[name]), '--work-dir', str(tmp_path),
                         '--cfg-options', *opts])
    assert runner.train_loop.iter == 2
    assert osp.exists(tmp_path / 'epoch_1.pth')
    scalars = runner.message_hub.log_scalars
    assert math.isfinite(scalars['train/loss'].current())
