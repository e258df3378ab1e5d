"""tools/model_converters: timm resnest50d and the Pi-NAS authors' formats -> our keys.

Nothing can be downloaded, so the sources are built here: timm's ``resnest50d`` with
random weights and perturbed BN statistics (compared numerically), and checkpoints in the
authors' naming made from our own tiny supernet / subnet by the naming rules written out
below (independently of the converter's tables), converted back and compared tensor by
tensor and output by output.
"""
import pytest
import torch

from pinas_mm.models import PiNASResNeSt, PiNASSuperNet
from pinas_mm.models.converters import (convert_pinas_authors, convert_timm_resnest,
                                        load_state_dict_file)

CLS_ARCH = '3013231203213032'  # Pi-NAS-cls


def perturb(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random BN affine parameters and running statistics (timm zero-inits bn3)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=g) * 0.5 + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=g)))
            elif isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model.eval()


# ---- timm resnest50d ------------------------------------------------------------------
@pytest.fixture(scope='module')
def timm_model():
    timm = pytest.importorskip('timm')
    torch.manual_seed(0)
    return perturb(timm.create_model('resnest50d', pretrained=False), seed=1)


@pytest.fixture(scope='module')
def image():
    return torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))


def test_timm_features_match(timm_model, image):
    state, meta = convert_timm_resnest(timm_model.state_dict())
    assert meta['arch'] == '1' * 16 and meta['dropped'] == {'fc.': 2}
    assert not any(k.startswith(('fc.', 'head.')) for k in state)
    ours = PiNASResNeSt(arch='resnest50', out_indices=(3,)).eval()
    ours.load_state_dict(state, strict=True)
    with torch.no_grad():
        ref = timm_model.forward_features(image)
        out = ours(image)[0]
    assert out.shape == ref.shape == (1, 2048, 2, 2)
    diff = (out - ref).abs().max().item()
    print(f'timm resnest50d features: max abs diff {diff:.3g} (max |feature| '
          f'{ref.abs().max().item():.3g})')
    assert diff < 1e-4


def test_timm_classifier_logits_match(timm_model, image):
    from mmpretrain.models import ImageClassifier
    state, meta = convert_timm_resnest(timm_model.state_dict(), out_prefix='backbone.')
    assert meta['head'] == ['head.fc.bias', 'head.fc.weight']
    assert all(k.startswith('backbone.') for k in state if not k.startswith('head.fc.'))
    clf = ImageClassifier(
        backbone=dict(type='pinas_mm.PiNASResNeSt', arch='resnest50', out_indices=(3,)),
        neck=dict(type='mmpretrain.GlobalAveragePooling'),
        head=dict(type='mmpretrain.LinearClsHead', num_classes=1000, in_channels=2048)).eval()
    clf.load_state_dict(state, strict=True)
    with torch.no_grad():
        ref = timm_model(image)
        out = clf(image, mode='tensor')
    diff = (out - ref).abs().max().item()
    print(f'timm resnest50d logits: max abs diff {diff:.3g} (max |logit| '
          f'{ref.abs().max().item():.3g})')
    assert out.shape == (1, 1000) and diff < 1e-4
    # --drop-head: backbone keys only, under the prefix
    state, meta = convert_timm_resnest(timm_model.state_dict(), out_prefix='backbone.',
                                       drop_head=True, verify=False)
    assert 'head.fc.weight' not in state and meta['dropped'] == {'fc.': 2}


def test_timm_cli_and_checkpoint_forms(timm_model, tmp_path):
    from pinas_mm.cli import timm_resnest_to_pinas
    src = tmp_path / 'timm.pth'
    # a training checkpoint of a DataParallel model: {'model': {'module.' + key}}
    torch.save({'model': {f'module.{k}': v for k, v in timm_model.state_dict().items()},
                'epoch': 3}, src)
    dst = tmp_path / 'out' / 'pinas.pth'
    timm_resnest_to_pinas.main([str(src), str(dst), '--prefix', 'backbone.'])
    ckpt = torch.load(dst, map_location='cpu', weights_only=True)  # plain types only
    assert set(ckpt) == {'state_dict', 'meta'}
    assert ckpt['meta']['arch'] == '1' * 16 and ckpt['meta']['source'] == str(src)
    ref = timm_model.state_dict()
    assert torch.equal(ckpt['state_dict']['backbone.stem.2.bn.running_var'],
                       ref['bn1.running_var'])
    assert torch.equal(ckpt['state_dict']['head.fc.weight'], ref['fc.weight'])
    assert torch.equal(ckpt['state_dict']['backbone.layer1.0.downsample.0.weight'],
                       ref['layer1.0.downsample.1.weight'])
    assert torch.equal(ckpt['state_dict']['backbone.layer3.0.downsample.2.running_mean'],
                       ref['layer3.0.downsample.2.running_mean'])


def test_timm_converted_state_loads_into_the_dilated_backbone(timm_model):
    """One conversion serves every stride layout: DeepLabV3's d8 backbone (strides 1, 2,
    1, 1) keeps the downsample key layout, so the converted state loads strictly."""
    state, _ = convert_timm_resnest(timm_model.state_dict())
    d8 = PiNASResNeSt(arch='resnest50', strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4),
                      contract_dilation=True)
    d8.load_state_dict(state, strict=True)
    assert torch.equal(d8.layer4[0].downsample[1].weight,
                       timm_model.state_dict()['layer4.0.downsample.1.weight'])


def test_timm_bad_keys_raise(timm_model):
    state = dict(timm_model.state_dict())
    state['layer2.1.conv2.bogus.weight'] = torch.zeros(1)
    state['global_pool.weight'] = torch.zeros(1)
    with pytest.raises(ValueError, match=r'layer2\.1\.conv2\.bogus\.weight') as e:
        convert_timm_resnest(state, verify=False)
    assert 'global_pool.weight' in str(e.value)
    state = dict(timm_model.state_dict())
    state['layer2.1.downsample.1.weight'] = torch.zeros(1)  # only block 0 downsamples
    with pytest.raises(ValueError, match=r'layer2\.1\.downsample\.1\.weight'):
        convert_timm_resnest(state, verify=False)
    with pytest.raises(ValueError, match='holds arch 1111111111111111'):
        convert_timm_resnest(timm_model.state_dict(), arch=CLS_ARCH, verify=False)


# ---- the authors' naming, written out from their code ---------------------------------
# Deep stem: timm / PyTorch-Encoding `conv1 = Sequential(conv, bn, relu, conv, bn, relu,
# conv)` + `bn1`; ours: mmpretrain `stem = Sequential(ConvModule x 3)`.
STEM_TO_AUTHORS = {'stem.0.conv': 'conv1.0', 'stem.0.bn': 'conv1.1', 'stem.1.conv': 'conv1.3',
                   'stem.1.bn': 'conv1.4', 'stem.2.conv': 'conv1.6', 'stem.2.bn': 'bn1'}


def authors_downsample_index(stage: str, idx: int) -> int:
    # theirs: Sequential(pool or Identity, conv, bn) everywhere; ours (mmpretrain) has no
    # pool where the stage does not stride (layer1 with the default strides).
    return idx + 1 if stage == 'layer1' else idx


def to_authors(state, supernet: bool, num_choices: int = 4):
    """Our PiNASSuperNet / PiNASResNeSt keys -> SuperResNet / alone_resnest50 keys."""
    out = {}
    for key, value in state.items():
        parts = key.split('.')
        if parts[0] == 'stem':
            out[STEM_TO_AUTHORS['.'.join(parts[:3])] + '.' + '.'.join(parts[3:])] = value
        elif parts[2] == 'downsample':
            stage, b, idx, rest = parts[0], parts[1], int(parts[3]), '.'.join(parts[4:])
            j = authors_downsample_index(stage, idx)
            if supernet:  # one module shared by the candidates: a copy under each
                for c in range(num_choices):
                    out[f'{stage}.{b}.{c}.downsample.{j}.{rest}'] = value.clone()
            else:
                out[f'{stage}.{b}.downsample.{j}.{rest}'] = value
        elif supernet:
            assert parts[2] == 'candidates', key  # layerS.B.candidates.C.rest -> layerS.B.C.rest
            out['.'.join(parts[:2] + parts[3:])] = value
        else:
            out[key] = value
    return out


def moco_checkpoint(student, teacher, seed=3):
    """An OpenSelfSup PiNAS(MOCO) checkpoint: encoder_q/k = Sequential(backbone, neck)."""
    g = torch.Generator().manual_seed(seed)
    q, k = to_authors(student, True), to_authors(teacher, True)
    neck = {'mlp.0.weight': (32, 512), 'mlp.0.bias': (32,), 'mlp.2.weight': (16, 32),
            'mlp.2.bias': (16,)}
    state = {}
    state.update({f'encoder_q.0.{n}': v for n, v in q.items()})
    state.update({f'encoder_q.1.{n}': torch.randn(s, generator=g) for n, s in neck.items()})
    state.update({f'encoder_k.0.{n}': v for n, v in k.items()})
    state.update({f'encoder_k.1.{n}': torch.randn(s, generator=g) for n, s in neck.items()})
    state.update({f'backbone.{n}': v for n, v in q.items()})  # self.backbone = encoder_q[0]
    state['queue'] = torch.randn(16, 64, generator=g)
    state['queue_ptr'] = torch.zeros(1, dtype=torch.long)
    return {'meta': {'epoch': 100, 'iter': 5}, 'state_dict': state}


@pytest.fixture(scope='module')
def supernets():
    torch.manual_seed(10)
    student = perturb(PiNASSuperNet(space='tiny'), seed=11)
    torch.manual_seed(12)
    teacher = perturb(PiNASSuperNet(space='tiny'), seed=13)
    return student, teacher


def assert_same_state(converted, model):
    ref = model.state_dict()
    assert set(converted) == set(ref)
    bad = [k for k in ref if not torch.equal(converted[k], ref[k])]
    assert not bad, bad[:5]


def test_authors_supernet_round_trip(supernets, tmp_path):
    from pinas_mm.cli import pinas_authors_to_pinas
    student, teacher = supernets
    src = tmp_path / 'pinas_epoch_100.pth'
    torch.save(moco_checkpoint(student.state_dict(), teacher.state_dict()), src)
    dst = tmp_path / 'supernet.pth'
    pinas_authors_to_pinas.main([str(src), str(dst)])
    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    meta = ckpt['meta']
    assert meta['kind'] == 'supernet' and meta['space'] == 'tiny'
    assert meta['source_prefix'] == 'encoder_q.0.'
    assert meta['dropped'] == {'encoder_q.1.': 4, 'encoder_k.0.': len(
        to_authors(teacher.state_dict(), True)), 'encoder_k.1.': 4,
        'backbone.': len(to_authors(student.state_dict(), True)), 'queue': 1, 'queue_ptr': 1}
    assert_same_state(ckpt['state_dict'], student)

    model = PiNASSuperNet(space='tiny').eval()
    model.load_state_dict(ckpt['state_dict'], strict=True)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    for arch in ('0' * 16, '3' * 16, CLS_ARCH, '3333113330011021'):
        student.set_arch(arch)
        model.set_arch(arch)
        with torch.no_grad():
            for a, b in zip(student(x), model(x)):
                assert torch.equal(a, b), arch

    # the key encoder (teacher) on request
    state, meta = convert_pinas_authors(load_state_dict_file(str(src)), encoder='k')
    assert meta['source_prefix'] == 'encoder_k.0.'
    assert_same_state(state, teacher)
    # extract_backbone_weights.py output, written under backbone. for our algorithms
    extracted = {'state_dict': to_authors(student.state_dict(), True), 'author': 'OpenSelfSup'}
    state, meta = convert_pinas_authors(extracted['state_dict'], out_prefix='backbone.')
    assert meta['source_prefix'] == '' and meta['dropped'] == {}
    assert_same_state({k[len('backbone.'):]: v for k, v in state.items()}, student)


def test_authors_supernet_downsample_copies(supernets):
    student, _ = supernets
    src = to_authors(student.state_dict(), True)
    src['layer3.0.2.downsample.1.weight'] = src['layer3.0.2.downsample.1.weight'] + 1
    with pytest.raises(ValueError, match=r'layer3\.0\.2\.downsample\.1\.weight'):
        convert_pinas_authors(src, verify=False)
    state, _ = convert_pinas_authors(src, downsample_from=2)
    assert torch.equal(state['layer3.0.downsample.1.weight'],
                       src['layer3.0.2.downsample.1.weight'])


def test_authors_bad_keys_raise(supernets):
    student, _ = supernets
    ckpt = moco_checkpoint(student.state_dict(), student.state_dict())
    state = dict(ckpt['state_dict'])
    state['encoder_q.0.layer1.0.1.conv2.bogus.weight'] = torch.zeros(1)
    with pytest.raises(ValueError, match=r'encoder_q\.0\.layer1\.0\.1\.conv2\.bogus\.weight'):
        convert_pinas_authors(state, verify=False)
    state = dict(ckpt['state_dict'])
    state['encoder_q.0.layer4.3.0.conv1.weight'] = torch.zeros(1)  # no 4th block in stage 4
    with pytest.raises(ValueError, match=r'encoder_q\.0\.layer4\.3\.0\.conv1\.weight'):
        convert_pinas_authors(state, verify=False)
    state = dict(ckpt['state_dict'])
    state['predictor.fc.weight'] = torch.zeros(1)  # no known part of their checkpoints
    with pytest.raises(ValueError, match=r'predictor\.fc\.weight'):
        convert_pinas_authors(state, verify=False)
    state = dict(ckpt['state_dict'])
    del state['encoder_q.0.layer2.1.3.conv3.weight']  # missing: caught by the check
    with pytest.raises(ValueError, match=r'layer2\.1\.candidates\.3\.conv3\.weight'):
        convert_pinas_authors(state)
    with pytest.raises(ValueError, match='arch= is for subnet'):
        convert_pinas_authors(ckpt['state_dict'], arch=CLS_ARCH, verify=False)


@pytest.fixture(scope='module')
def subnet():
    torch.manual_seed(20)
    return perturb(PiNASResNeSt(arch='pinas-cls', space='tiny', out_indices=(0, 1, 2, 3)),
                   seed=21)


def authors_subnet_state(subnet, seed=22):
    g = torch.Generator().manual_seed(seed)
    state = to_authors(subnet.state_dict(), supernet=False)
    state['fc.weight'] = torch.randn(1000, 512, generator=g)
    state['fc.bias'] = torch.randn(1000, generator=g)
    return state


def test_authors_subnet_round_trip(subnet, tmp_path):
    from pinas_mm.cli import pinas_authors_to_pinas
    src_state = authors_subnet_state(subnet)
    # PyTorch-Encoding's training checkpoint (PiNAS_cls.pth.tar) as verify.py reads it
    src = tmp_path / 'PiNAS_cls.pth.tar'
    torch.save({'epoch': 270, 'state_dict': src_state, 'best_pred': 81.6}, src)
    dst = tmp_path / 'subnet.pth'
    pinas_authors_to_pinas.main([str(src), str(dst)])
    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    assert ckpt['meta']['kind'] == 'subnet' and ckpt['meta']['arch'] == CLS_ARCH
    assert ckpt['meta']['dropped'] == {'fc.': 2}
    assert_same_state(ckpt['state_dict'], subnet)
    model = PiNASResNeSt(arch=CLS_ARCH, space='tiny', out_indices=(0, 1, 2, 3)).eval()
    model.load_state_dict(ckpt['state_dict'], strict=True)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        for a, b in zip(subnet(x), model(x)):
            assert torch.equal(a, b)

    # a classifier checkpoint: fc -> head.fc
    state, meta = convert_pinas_authors(src_state, out_prefix='backbone.', arch=CLS_ARCH)
    assert torch.equal(state['head.fc.weight'], src_state['fc.weight'])
    assert meta['head'] == ['head.fc.bias', 'head.fc.weight']
    # a wrong --arch is refused, naming both
    with pytest.raises(ValueError, match=f'{"1" * 16}.*{CLS_ARCH}'):
        convert_pinas_authors(src_state, arch='resnest50', verify=False)
    # a segmentation model (PyTorch-Encoding DeepLabV3: self.pretrained, head, auxlayer)
    seg = {f'pretrained.{k}': v for k, v in src_state.items() if not k.startswith('fc.')}
    seg.update({'head.block.0.weight': torch.zeros(2), 'auxlayer.conv5.0.weight':
                torch.zeros(2)})
    state, meta = convert_pinas_authors({f'module.{k}': v for k, v in seg.items()})
    assert meta['source_prefix'] == 'pretrained.' and meta['arch'] == CLS_ARCH
    assert meta['dropped'] == {'head.': 1, 'auxlayer.': 1}
    assert_same_state(state, subnet)


def test_authors_subnet_missing_num_batches_tracked(subnet):
    src = {k: v for k, v in authors_subnet_state(subnet).items()
           if not k.endswith('num_batches_tracked')}
    state, meta = convert_pinas_authors(src)
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in subnet.modules())
    assert meta['filled_num_batches_tracked'] == n_bn
    model = PiNASResNeSt(arch=CLS_ARCH, space='tiny').eval()
    model.load_state_dict(state, strict=True)


def test_authors_subnet_bad_key_raises(subnet):
    src = authors_subnet_state(subnet)
    src['layer3.2.conv2.fc3.weight'] = torch.zeros(1)
    with pytest.raises(ValueError, match=r'layer3\.2\.conv2\.fc3\.weight'):
        convert_pinas_authors(src, verify=False)
    src = authors_subnet_state(subnet)
    src['layer3.2.conv2.weight'] = src.pop('layer3.2.conv2.conv.weight')  # radix-0 block
    with pytest.raises(ValueError, match=r'layer3\.2\.conv2\.weight'):
        convert_pinas_authors(src, verify=False)


def test_cli_reports_bad_keys(supernets, tmp_path):
    from pinas_mm.cli import pinas_authors_to_pinas
    student, _ = supernets
    state = to_authors(student.state_dict(), True)
    state['layer1.0.1.conv2.fc1.scale'] = torch.zeros(1)
    src = tmp_path / 'bad.pth'
    torch.save({'state_dict': state}, src)
    with pytest.raises(SystemExit, match=r'layer1\.0\.1\.conv2\.fc1\.scale'):
        pinas_authors_to_pinas.main([str(src), str(tmp_path / 'out.pth')])
    assert not (tmp_path / 'out.pth').exists()
