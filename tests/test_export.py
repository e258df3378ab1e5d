import os.path as osp

import pytest
import torch

from pinas_mm.export import export_subnet
from pinas_mm.models import PiNASSuperNet
from pinas_mm.space import Arch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SEARCH_CFG = osp.join(
    ROOT, 'configs/search/search-evolution_pinas-tiny-supernet_linear-probe_tiny-in.py')


def test_export_recalibrates_the_path_bn(tiny_data, tmp_path):
    torch.manual_seed(0)
    supernet = PiNASSuperNet(space='tiny')
    for m in supernet.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # stale statistics, as after training
            m.running_mean.fill_(3.0)
            m.running_var.fill_(7.0)
    ckpt = tmp_path / 'supernet.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in supernet.state_dict().items()}},
               ckpt)
    arch = Arch.parse('pinas-trans')
    raw = export_subnet(str(ckpt), arch, out_dir=str(tmp_path / 'raw'), space='tiny')
    opts = {'train_dataloader.dataset.data_root': f'{tiny_data}/imagenet/'}
    rec = export_subnet(str(ckpt), arch, out_dir=str(tmp_path / 'rec'), space='tiny',
                        recal_cfg=SEARCH_CFG, recal_batches=2, recal_cfg_options=opts)
    raw_sd = torch.load(raw['checkpoint'], weights_only=True)['state_dict']
    rec_sd = torch.load(rec['checkpoint'], weights_only=True)['state_dict']
    key = 'backbone.stem.0.bn.running_mean'
    assert torch.equal(raw_sd[key], torch.full_like(raw_sd[key], 3.0))
    assert not torch.allclose(rec_sd[key], raw_sd[key])
    # weights are inherited unchanged; only BN statistics of the path are recomputed
    for k in raw_sd:
        if 'running' not in k and 'num_batches' not in k:
            assert torch.equal(raw_sd[k], rec_sd[k]), k
    import yaml
    meta = yaml.safe_load(open(rec['arch_file']))
    assert meta['bn_recalibrated'] is True and meta['arch'] == str(arch)


def test_export_nb201_subnet_equals_the_supernet_path(tmp_path):
    """An NB201 supernet checkpoint exports like a ResNeSt one (space inferred from the
    keys): files named by export_paths, and the exported NB201Net computes the path."""
    import yaml

    from pinas_mm.export import export_paths
    from pinas_mm.models import NB201Net, NB201SuperNet
    torch.manual_seed(0)
    supernet = NB201SuperNet(space='nb201-tiny')
    for m in supernet.modules():  # non-trivial BN statistics: they must be inherited too
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    ckpt = tmp_path / 'supernet.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in supernet.state_dict().items()}},
               ckpt)
    arch_text = '|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|' \
        'nor_conv_3x3~2|'
    paths = export_subnet(str(ckpt), arch_text, out_dir=str(tmp_path / 'out'))
    arch = supernet.space.arch(arch_text)
    assert paths == export_paths(str(tmp_path / 'out'), arch, 'nb201-tiny')
    meta = yaml.safe_load(open(paths['arch_file']))
    assert meta['arch'] == str(arch) == '342103' and meta['space'] == 'nb201-tiny'
    assert meta['bn_recalibrated'] is False and meta['flops_224'] > 0
    sd = torch.load(paths['checkpoint'], weights_only=True)['state_dict']
    subnet = NB201Net(arch, space='nb201-tiny')
    subnet.load_state_dict({k[len('backbone.'):]: v for k, v in sd.items()}, strict=True)
    supernet.set_arch(arch)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(subnet.eval()(x)[-1], supernet.eval()(x)[-1])


def test_infer_space_tries_every_preset():
    from pinas_mm.export import infer_space
    with pytest.raises(ValueError, match='not a supernet of any known space') as err:
        infer_space({'backbone.foo': torch.zeros(1)}, 'backbone.')
    for name in ('resnest50', 'tiny', 'nb201', 'nb201-tiny'):
        assert f'\n  {name}: ' in str(err.value)
