"""Faults users hit at scale (issue 10), algorithm side: activation checkpointing under
DDP (2), a ring-buffer queue for any batch size (3), a single-process substitute for
shuffle-BN (4), and GroupNorm widths checked before the backbone is built (9)."""
import json
import logging
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from test_pinas import build_pinas, views

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def env():
    e = dict(os.environ)
    e['PYTHONPATH'] = ROOT + os.pathsep + e.get('PYTHONPATH', '')
    e.setdefault('OMP_NUM_THREADS', '1')
    return e


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# ------------------------------------------------------------ fault 2: with_cp under DDP
RANK_SCRIPT = r'''
import copy, json, os, sys
import torch
import torch.distributed as dist
dist.init_process_group('gloo')
rank = dist.get_rank()
import pinas_mm  # noqa: F401
from mmengine.config import Config
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmpretrain.structures import DataSample

ROOT, OUT = sys.argv[1], sys.argv[2]
init_default_scope('mmpretrain')


def views(step, n=4):
    g = torch.Generator().manual_seed(100 * rank + step)
    return [torch.rand(n, 3, 32, 32, generator=g) * 255 for _ in range(4)]


def labelled(step, n=4):
    g = torch.Generator().manual_seed(100 * rank + step)
    labels = torch.randint(0, 8, (n, ), generator=g)
    return dict(inputs=torch.rand(n, 3, 32, 32, generator=g) * 255,
                data_samples=[DataSample().set_gt_label(int(y)) for y in labels])


def build(registry, cfg, with_cp):
    cfg = copy.deepcopy(cfg)
    backbone = cfg['backbone'] if 'backbone' in cfg else cfg
    backbone['with_cp'] = with_cp
    backbone['init_cfg'] = None
    torch.manual_seed(0)
    model = registry.build(cfg)
    model.init_weights()
    return model


def run(registry, cfg, with_cp, data, loss_fn=None, steps=3):
    model = build(registry, cfg, with_cp)
    ddp = MMDistributedDataParallel(module=model, device_ids=None,
                                    find_unused_parameters=True)
    params = [p for p in model.parameters() if p.requires_grad]
    optim = OptimWrapper(torch.optim.SGD(params, lr=0.05, momentum=0.9))
    torch.manual_seed(1)
    losses = []
    for step in range(steps):
        if loss_fn is None:
            losses.append(float(ddp.train_step(data(step), optim)['loss']))
        else:  # a bare backbone, as mmdet / mmseg models use it
            loss = loss_fn(ddp(data(step)))
            optim.update_params(loss)
            losses.append(float(loss))
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return losses, state, model


def compare(name, registry, cfg, data, loss_fn=None):
    ref_losses, ref, _ = run(registry, cfg, False, data, loss_fn)
    cp_losses, got, model = run(registry, cfg, True, data, loss_fn)
    uses_cp = any(getattr(m, 'with_cp', False) for m in model.modules())
    diff = max((ref[k].double() - got[k].double()).abs().max().item() for k in ref
               if ref[k].numel())
    return dict(losses=ref_losses, cp_losses=cp_losses, max_state_diff=diff,
                uses_cp=uses_cp, keys=sorted(ref) == sorted(got),
                key_bn=getattr(model, '_key_bn_mode', None))


from mmpretrain.registry import MODELS as CLS  # noqa: E402
results = {}
pinas = Config.fromfile(os.path.join(
    ROOT, 'configs/pinas/pinas_tiny-space_1xb16-coslr-16e_tiny-in.py')).model
results['pinas'] = compare('pinas', CLS, pinas.to_dict(),
                           lambda s: dict(inputs=views(s), data_samples=None))
spos = Config.fromfile(os.path.join(
    ROOT, 'configs/spos/spos_tiny-space_1xb32-coslr-8e_tiny-in.py')).model
results['spos'] = compare('spos', CLS, spos.to_dict(), labelled)
probe = Config.fromfile(os.path.join(
    ROOT, 'configs/linear_probe/linear-probe_pinas-tiny-supernet_1xb32-steplr-6e_tiny-in.py'
)).model
results['probe'] = compare('probe', CLS, probe.to_dict(), labelled)
from mmdet.registry import MODELS as DET  # noqa: E402
det = Config.fromfile(os.path.join(
    ROOT, 'configs/mask_rcnn/mask-rcnn_pinas-trans-tiny-fpn_1xb2-ms-4e_tiny-coco.py'
)).model.backbone.to_dict()
results['det_backbone'] = compare(
    'det', DET, det, lambda s: views(s)[0] / 255,
    loss_fn=lambda outs: sum(o.square().mean() for o in outs))
if rank == 0:
    with open(OUT, 'w') as f:
        json.dump(results, f)
dist.barrier()
dist.destroy_process_group()
'''


@pytest.fixture(scope='module')
def two_rank_with_cp(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('with_cp')
    script, out = tmp / 'rank.py', tmp / 'results.json'
    script.write_text(RANK_SCRIPT)
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
           f'--master_port={free_port()}', str(script), ROOT, str(out)]
    proc = subprocess.run(cmd, env=env(), cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    return proc, out


@pytest.mark.parametrize('model', ['pinas', 'spos', 'probe', 'det_backbone'])
def test_with_cp_under_two_gloo_ranks_equals_the_plain_run(two_rank_with_cp, model):
    """with_cp=True under DDP (find_unused_parameters=True, as every supernet config)
    trains and gives the plain run's losses, parameters and BN buffers."""
    proc, out = two_rank_with_cp
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    res = json.loads(out.read_text())[model]
    assert res['uses_cp'] and res['keys']
    assert len(res['losses']) == 3
    torch.testing.assert_close(res['cp_losses'], res['losses'], rtol=1e-6, atol=1e-7)
    assert res['max_state_diff'] < 1e-6
    if model == 'pinas':  # several ranks: MoCo's shuffle-BN is in effect
        assert res['key_bn'] == 'shuffle'


def test_with_cp_keeps_bn_running_stats_and_grads_of_the_plain_run():
    """One process: the recomputation in backward must not count a batch twice in BN."""
    from pinas_mm.models import PiNASSuperNet
    results = []
    for with_cp in (False, True):
        torch.manual_seed(0)
        net = PiNASSuperNet(space='tiny', with_cp=with_cp)
        net.train()
        x = torch.randn(4, 3, 32, 32)
        for arch in ('0123012301230123', '3210321032103210'):  # shared downsample: twice
            net.set_arch(arch)
            net(x)[-1].square().mean().backward()
        results.append(dict(net.named_buffers()) | {
            f'grad.{k}': p.grad for k, p in net.named_parameters() if p.grad is not None})
    plain, cp = results
    assert plain.keys() == cp.keys()
    for k in plain:
        torch.testing.assert_close(cp[k], plain[k], rtol=1e-6, atol=1e-7, msg=k)
    from pinas_mm.models.backbones.resnest_space import Bottleneck
    assert all(isinstance(c, Bottleneck)
               for _, b in net.named_blocks() for c in b.candidates)


# ----------------------------------------------------------- fault 3: any batch size
def _sequential_queue(queue, ptr, keys):
    """Reference: write keys one at a time into a ring buffer."""
    queue = queue.clone()
    for k in keys:
        queue[:, ptr] = k
        ptr = (ptr + 1) % queue.shape[1]
    return queue, ptr


def test_queue_is_a_ring_buffer_for_any_batch_size():
    model = build_pinas(queue_len=256, feat_dim=16)
    g = torch.Generator().manual_seed(0)
    queue, ptr = model.queue.clone(), 0
    # the example: a short batch of 8, then batches of 16 past the end; then
    # sizes that divide nothing, and one batch larger than the queue
    for n in [8] + [16] * 17 + [3, 250, 300, 1]:
        keys = F.normalize(torch.randn(n, 16, generator=g), dim=1)
        model.enqueue(keys)
        queue, ptr = _sequential_queue(queue, ptr, keys)
        assert int(model.queue_ptr) == ptr
        assert torch.equal(model.queue, queue)


def test_a_short_last_batch_trains_through_the_step():
    model = build_pinas(queue_len=32)
    model.train()
    for n in (4, 3, 4):  # 3: the last batch of an epoch with drop_last=False
        assert torch.isfinite(model.loss(views(n=n, seed=n))['loss'])
    assert int(model.queue_ptr) == 11


# ------------------------------------------------- fault 4: split-BN in one process
class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def log_records():
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    handler = _Records()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def test_split_bn_normalises_each_group_of_keys_with_its_own_statistics(log_records):
    model = build_pinas(key_bn_groups=2)  # default key_bn='auto': split in one process
    plain = build_pinas(key_bn='none')
    plain.load_state_dict(model.state_dict())
    # float64: tiny BN groups amplify float32 rounding (1e-4) of the batch-8 vs batch-4
    # convolutions, which would hide a real difference of the same size
    model.train().double()
    plain.train().double()
    arch = model.backbone.space.arch('3302332321121021')
    img = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(3),
                      dtype=torch.float64)
    torch.manual_seed(7)
    keys = model.teacher_embed(img, arch)
    assert model.key_bn_mode() == 'split'
    torch.manual_seed(7)
    perm = torch.randperm(8)  # the shuffle teacher_embed drew
    whole = plain.teacher_embed(img, arch)  # one BN over the whole key batch
    # the grouping changes the keys by far more than float noise (it was 1e-7 before)
    assert (keys - whole).abs().max() > 0.1
    for group in perm.tensor_split(2):  # each group, alone through a plain-BN teacher
        alone = plain.teacher_embed(img[group], arch)
        torch.testing.assert_close(keys[group], alone, rtol=1e-9, atol=1e-10)
    # the mode is said once, however many steps run
    model.loss([v.double() for v in views(n=8)])
    model.loss([v.double() for v in views(n=8, seed=1)])
    said = [m for m in log_records if "PiNAS key_bn='auto'" in m]  # (not `plain`'s)
    assert len(said) == 1 and "'auto' -> split-BN (one process)" in said[0], said
    assert '2 groups' in said[0]


def test_split_batch_norm_updates_running_stats_once_with_the_group_mean():
    import torch.nn as nn

    from pinas_mm.models.algorithms.split_bn import convert_split_bn
    bn = nn.Sequential(nn.BatchNorm2d(5, momentum=0.1))
    ref = nn.BatchNorm2d(5, momentum=0.1)
    weight = bn[0].weight
    [split] = convert_split_bn(bn)
    assert split is bn[0] and split.weight is weight  # same objects, same keys
    split.num_splits = 3
    x = torch.randn(9, 5, 4, 4) * 3 + 1
    y = split(x)
    groups = x.tensor_split(3)
    torch.testing.assert_close(y, torch.cat([ref(g) for g in groups]))
    mean = torch.stack([g.mean((0, 2, 3)) for g in groups]).mean(0)
    var = torch.stack([g.var((0, 2, 3), unbiased=True) for g in groups]).mean(0)
    torch.testing.assert_close(split.running_mean, 0.1 * mean)
    torch.testing.assert_close(split.running_var, 0.9 + 0.1 * var)
    assert int(split.num_batches_tracked) == 1
    # groups keep at least 2 samples; eval mode is plain BN with the running stats
    assert torch.allclose(split(x[:3]), nn.functional.batch_norm(
        x[:3], None, None, split.weight, split.bias, True))
    split.eval()
    torch.testing.assert_close(split(x), nn.functional.batch_norm(
        x, split.running_mean, split.running_var, split.weight, split.bias, False))


def test_key_bn_options_are_checked(log_records):
    with pytest.raises(ValueError, match=r"key_bn='shufle' is not one of"):
        build_pinas(key_bn='shufle')
    with pytest.raises(ValueError, match='key_bn_groups=1 must be an int >= 2'):
        build_pinas(key_bn_groups=1)
    model = build_pinas(key_bn='shuffle')
    model.train()
    with pytest.raises(ValueError, match="key_bn='shuffle' needs several ranks"):
        model.loss(views())
    model = build_pinas(key_bn='none')
    model.train()
    model.loss(views())
    assert any("key_bn='none' -> none" in m for m in log_records)


# ------------------------------------------------------ fault 9: GroupNorm widths
def test_group_norm_widths_are_checked_before_building():
    from pinas_mm.models import PiNASResNeSt, PiNASSuperNet
    gn32 = dict(type='GN', num_groups=32, requires_grad=True)
    with pytest.raises(ValueError) as err:
        PiNASSuperNet(space='resnest50', norm_cfg=gn32)
    msg = str(err.value)
    assert 'PiNASSuperNet: norm_cfg GN num_groups=32' in msg
    # the 84 and 80 (grouped convs of layer1), and every other failing width
    assert ('candidate 2 (radix 1, cardinality 2, base width 42): width 42 in layer2.0-3, '
            'width 84 in layer1.0-2, layer3.0-5, width 168 in layer2.0-3, layer4.0-2, '
            'width 336 in layer3.0-5; ' in msg)
    assert ('candidate 3 (radix 2, cardinality 2, base width 40): width 40 in layer1.0-2, '
            'width 80 in layer1.0-2, layer2.0-3.' in msg)
    assert 'candidate 0' not in msg and 'candidate 1' not in msg
    assert 'num_groups values that divide every width: [1, 2]' in msg
    # a subnet names only the candidates its arch uses
    with pytest.raises(ValueError, match=r'PiNASResNeSt: .*candidate 3 \(radix 2'):
        PiNASResNeSt(arch='pinas-trans', space='resnest50', norm_cfg=gn32)
    PiNASResNeSt(arch='resnest50', space='resnest50', norm_cfg=gn32)  # all divisible
    with pytest.raises(ValueError, match='needs num_groups, a positive int'):
        PiNASSuperNet(space='tiny', norm_cfg=dict(type='GN'))
    with pytest.raises(ValueError, match=r'stem: width 8, width 16; candidate 0 '):
        PiNASSuperNet(space='tiny', norm_cfg=dict(type='GN', num_groups=32))
    # a group count the message offers builds and runs
    net = PiNASSuperNet(space='tiny', norm_cfg=dict(type='GN', num_groups=2))
    assert net(torch.randn(2, 3, 32, 32))[-1].shape == (2, 512, 1, 1)
