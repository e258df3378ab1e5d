import copy

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from pinas_mm.models import (PiNASResNeSt, PiNASSuperNet, arch_complexity,
                             inherit_subnet_state, load_subnet_state)
from pinas_mm.space import NAMED_ARCHS, Arch


def _randomize_bn(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)


def test_published_complexity():
    flops, params = arch_complexity('pinas-cls')
    assert abs(params - 27.1e6) <= 0.1e6, params
    assert abs(flops - 5.38e9) / 5.38e9 <= 0.01, flops
    flops_r, params_r = arch_complexity('resnest50')
    assert params_r == 27_483_240  # timm resnest50d / PAPERS.md
    assert abs(flops_r - 5.4e9) / 5.4e9 <= 0.01
    # the cache returns the same numbers without rebuilding
    assert arch_complexity(Arch.parse('pinas-cls')) == (flops, params)


def test_complexity_table_equals_a_direct_count():
    from mmengine.analysis import get_model_complexity_info

    from pinas_mm.models.complexity import _Classifier
    arch = '0123012301230123'
    model = _Classifier(PiNASResNeSt(arch=arch, space='tiny'), 10).eval()
    info = get_model_complexity_info(model, input_shape=(3, 64, 64), show_table=False,
                                     show_arch=False)
    assert arch_complexity(arch, 'tiny', 64, 10) == (info['flops'], info['params'])


def test_complexity_cache_tells_spaces_with_other_candidates_apart():
    """A space built from a dict with its own candidates is costed with those candidates,
    not with a cached table of the preset that shares its other fields."""
    from mmengine.analysis import get_model_complexity_info

    from pinas_mm.models.complexity import _Classifier
    from pinas_mm.space import SearchSpace
    tiny = SearchSpace.get('tiny')
    wide = [dict(radix=2, groups=2, base_width=40)] * 4  # candidate 3 in every slot
    other = SearchSpace.get(dict(tiny.to_dict(), candidates=wide))
    arch = '0' * 16
    arch_complexity(arch, tiny, 64, 10)  # fills the cache for the preset first
    model = _Classifier(PiNASResNeSt(arch=arch, space=other), 10).eval()
    info = get_model_complexity_info(model, input_shape=(3, 64, 64), show_table=False,
                                     show_arch=False)
    assert arch_complexity(arch, other, 64, 10) == (info['flops'], info['params'])
    assert arch_complexity(arch, other, 64, 10) != arch_complexity(arch, tiny, 64, 10)


def test_resnest50_equals_mmpretrain_params():
    from mmpretrain.models.backbones import ResNeSt
    ours = PiNASResNeSt(arch='resnest50')
    ref = ResNeSt(depth=50)
    assert sum(p.numel() for p in ours.parameters()) == \
        sum(p.numel() for p in ref.parameters())
    # same key names and shapes: mmpretrain ResNeSt-50 checkpoints load unchanged
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: v.shape for k, v in ref.state_dict().items()}
    ours.load_state_dict(ref.state_dict())
    ours.eval(), ref.eval()
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(ours(x), ref(x))


@pytest.mark.parametrize('arch', ['pinas-cls', 'pinas-trans', '0123012301230123'])
def test_supernet_path_equals_inherited_subnet(arch):
    torch.manual_seed(0)
    supernet = PiNASSuperNet(space='tiny', out_indices=(0, 1, 2, 3))
    supernet.init_weights()
    _randomize_bn(supernet)
    supernet.eval()
    supernet.set_arch(arch)
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        expected = supernet(x)
    state = inherit_subnet_state(supernet.state_dict(), arch, space='tiny')
    subnet = load_subnet_state(
        PiNASResNeSt(arch=arch, space='tiny', out_indices=(0, 1, 2, 3)), state).eval()
    with torch.no_grad():
        got = subnet(x)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # a whole-model state dict with a prefix works the same way
    full = {f'backbone.{k}': v for k, v in supernet.state_dict().items()}
    full['neck.fc.weight'] = torch.zeros(1)
    assert inherit_subnet_state(full, arch, 'tiny', prefix='backbone.').keys() == state.keys()


def test_supernet_shares_downsample_and_sampling():
    net = PiNASSuperNet(space='tiny')
    keys = list(net.state_dict())
    assert 'layer1.0.downsample.1.weight' in keys
    assert not any('candidates.0.downsample' in k for k in keys)
    block = net.layer2[0]
    assert all(c.downsample is block.downsample for c in block.candidates)
    import random
    rng = random.Random(0)
    for _ in range(50):
        a, b = net.sample_disjoint_archs(rng)
        assert all(x != y for x, y in zip(a, b))
    a = net.sample_arch(rng, allowed=[[2]] * 16)
    assert a == Arch([2] * 16)
    # the path's modules and keys cover exactly the chosen candidates
    arch = Arch.parse('0123012301230123')
    keys = net.path_state_keys(arch)
    assert any(k.startswith('layer1.0.candidates.0.') for k in keys)
    assert not any(k.startswith('layer1.0.candidates.1.') for k in keys)
    assert any(k.startswith('layer1.0.downsample.') for k in keys)
    assert len(net.path_modules(arch)) == 1 + 16 + 4


def test_wrong_arch_or_space_state_is_rejected():
    supernet = PiNASSuperNet(space='tiny')
    state = inherit_subnet_state(supernet.state_dict(), 'pinas-cls', space='tiny')
    with pytest.raises(ValueError, match='shape mismatch|missing keys') as e:
        load_subnet_state(PiNASResNeSt(arch='pinas-trans', space='tiny'), state)
    assert 'layer' in str(e.value) and 'pinas' not in str(e.value).split(':')[0] or True
    with pytest.raises(ValueError, match='shape mismatch.*layer1.0'):
        load_subnet_state(PiNASResNeSt(arch='pinas-cls', space='resnest50'), state)
    with pytest.raises(ValueError, match='No backbone keys'):
        inherit_subnet_state({'neck.fc.weight': torch.zeros(1)}, 'pinas-cls', 'tiny')
    with pytest.raises(ValueError, match='fixes .depth.'):
        PiNASResNeSt(arch='pinas-cls', depth=50)
    with pytest.raises(ValueError, match='Invalid arch'):
        PiNASResNeSt(arch='12')


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmdet', 'mmseg'])
@pytest.mark.parametrize('arch', sorted(NAMED_ARCHS))
def test_builds_from_every_registry(scope, arch):
    import importlib
    registry = importlib.import_module(f'{scope}.registry').MODELS
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(dict(type='pinas_mm.PiNASResNeSt', arch=arch, space='tiny',
                                    out_indices=(0, 1, 2, 3)))
    assert isinstance(model, PiNASResNeSt) and model.arch == Arch.parse(arch)
    outs = model(torch.randn(2, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [64, 128, 256, 512]


def test_frozen_stages_and_norm_eval():
    model = PiNASResNeSt(arch='pinas-trans', space='tiny', frozen_stages=2, norm_eval=True)
    model.train()
    for p in model.stem.parameters():
        assert not p.requires_grad
    for i in (1, 2):
        layer = getattr(model, f'layer{i}')
        assert not layer.training
        assert all(not p.requires_grad for p in layer.parameters())
    assert all(p.requires_grad for p in model.layer3.parameters())
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            assert not m.training  # norm_eval keeps every BN in eval mode
    model = PiNASResNeSt(arch='pinas-trans', space='tiny', norm_eval=False)
    model.train()
    assert all(m.training for m in model.modules() if isinstance(m, _BatchNorm))


def test_with_cp():
    model = PiNASResNeSt(arch='pinas-trans', space='tiny', with_cp=True)
    assert all(block.with_cp for _, block in model.named_blocks())
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    model(x)[-1].sum().backward()
    assert x.grad is not None
    net = PiNASSuperNet(space='tiny', with_cp=True)
    assert all(c.with_cp for _, b in net.named_blocks() for c in b.candidates)


def test_out_indices_and_d8_shapes():
    model = PiNASResNeSt(arch='pinas-trans', space='tiny', out_indices=(0, 1, 2, 3))
    outs = model(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [
        (2, 64, 16, 16), (2, 128, 8, 8), (2, 256, 4, 4), (2, 512, 2, 2)]
    model = PiNASResNeSt(arch='pinas-trans', space='tiny', out_indices=(1, 3))
    assert len(model(torch.randn(2, 3, 64, 64))) == 2
    # DeepLabV3 d8: strides (1, 2, 1, 1), dilations (1, 1, 2, 4), contract_dilation
    d8 = PiNASResNeSt(arch='pinas-trans', space='tiny', out_indices=(0, 1, 2, 3),
                      strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), contract_dilation=True)
    outs = d8(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [
        (2, 64, 16, 16), (2, 128, 8, 8), (2, 256, 8, 8), (2, 512, 8, 8)]
    assert d8.layer3[0].conv2.conv.dilation == (1, 1)  # contracted first block
    assert d8.layer3[1].conv2.conv.dilation == (2, 2)
    assert d8.layer4[0].conv2.conv.dilation == (2, 2)
    assert d8.layer4[1].conv2.conv.dilation == (4, 4)
    # the same keys as with the default strides: one checkpoint fits both
    plain = PiNASResNeSt(arch='pinas-trans', space='tiny')
    assert {k: v.shape for k, v in d8.state_dict().items()} == \
        {k: v.shape for k, v in plain.state_dict().items()}
    # avd only where the block strides
    assert not d8.layer3[0].avg_down_stride and d8.layer2[0].avg_down_stride


def test_pretrained_init_with_prefix(tmp_path):
    supernet = PiNASSuperNet(space='tiny')
    _randomize_bn(supernet)
    state = inherit_subnet_state(supernet.state_dict(), 'pinas-trans', 'tiny')
    ckpt = tmp_path / 'backbone.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in state.items()}}, ckpt)
    model = PiNASResNeSt(arch='pinas-trans', space='tiny', init_cfg=dict(
        type='Pretrained', checkpoint=str(ckpt), prefix='backbone.'))
    model.init_weights()
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, state[k])
