import os.path as osp

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
