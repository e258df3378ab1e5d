"""The NAS-Bench-201 space: archs, the cell network, its supernet, and the training-free
scorers (usable on both spaces)."""
import os
import os.path as osp

import numpy as np
import pytest
import torch

from pinas_mm.models.backbones.nb201 import NB201Net, NB201SuperNet, inherit_nb201_state
from pinas_mm.registry import MODELS, SCORERS
from pinas_mm.space import Arch, NB201Space, SearchSpace, get_space
from pinas_mm.search.zero_cost import ZERO_COST_SCORERS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CIFAR = osp.abspath(os.environ.get('PINAS_REAL_DATA', osp.join(ROOT, '..', 'shared', 'data')))
CIFAR = osp.join(CIFAR, 'cifar10', 'train')

BEST_STR = ('|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|'
            'nor_conv_1x1~1|nor_conv_3x3~2|')
ALL_NONE, ALL_CONV3 = '000000', '333333'


# ------------------------------------------------------------------------------- archs
def test_nb201_arch_forms():
    space = get_space('nb201')
    assert isinstance(space, NB201Space) and (space.num_blocks, space.num_choices) == (6, 5)
    best = space.arch(BEST_STR)
    assert best == Arch((3, 3, 3, 1, 2, 3), 6, 5) == space.arch('333123')
    assert space.arch('3 3 3 1 2 3') == space.arch([3, 3, 3, 1, 2, 3]) == best
    assert space.arch_string(best) == BEST_STR and str(best) == '333123'
    assert space.op_of(best, 3, 0) == 'skip_connect'
    # the same digits are valid for the generic code (history, strategies)
    assert Arch.parse('333123', space.num_blocks, space.num_choices) == best


def test_arch_of_any_size_copies():
    import copy
    import pickle
    arch = get_space('nb201').arch(BEST_STR)
    assert copy.deepcopy(arch) == arch and pickle.loads(pickle.dumps(arch)) == arch
    assert type(copy.copy(arch)) is Arch
    supernet = NB201SuperNet(space='nb201-tiny')
    assert copy.deepcopy(supernet).arch == supernet.arch  # scorers copy models


def test_nb201_arch_files(tmp_path):
    space = get_space('nb201')
    path = str(tmp_path / 'a.yaml')
    space.arch(BEST_STR).dump(path)
    assert space.arch(path) == space.arch(BEST_STR)
    (tmp_path / 'b.json').write_text('{"arch": "%s"}' % BEST_STR)
    assert space.arch(str(tmp_path / 'b.json')) == space.arch(BEST_STR)


@pytest.mark.parametrize('value, fragment', [
    ('33312', 'has 5 indices, not 6'),
    ('3331234', 'has 7 indices, not 6'),
    ('333125', 'index 5 at block 5 is not an int in 0..4'),
    ('pinas-cls', 'not a named arch'),
    (BEST_STR.replace('nor_conv_1x1', 'conv_1x1'), "unknown op 'conv_1x1'"),
    ('|none~0|+|none~0|none~1|', 'it has 2 nodes'),
    ('|none~0|+|none~0|none~0|+|none~0|none~1|none~2|', 'edge 0->2 is given twice'),
    ('|none~0|+|none~0|+|none~0|none~1|none~2|', 'missing edges 1->2'),
    ('|none~1|+|none~0|none~1|+|none~0|none~1|none~2|', 'cannot take input from node 1'),
    ('|none 0|+|none~0|none~1|+|none~0|none~1|none~2|', 'is not "op~source"'),
])
def test_nb201_bad_archs(value, fragment):
    with pytest.raises(ValueError) as e:
        get_space('nb201').arch(value)
    msg = str(e.value)
    assert fragment in msg
    assert 'nor_conv_3x3~0' in msg  # names the NB201 string form
    if '|' not in value:
        assert "e.g. '333123'" in msg and '6 digits in 0..4' in msg


def test_get_space():
    assert get_space('tiny') is SearchSpace.get('tiny')
    assert get_space('nb201-tiny').cells_per_stage == 1
    assert get_space(dict(type='nb201', channels=4)).channels == 4
    assert get_space(get_space('nb201').to_dict()) == get_space('nb201')
    with pytest.raises(ValueError, match="Unknown search space 'huge'.*nb201"):
        get_space('huge')
    with pytest.raises(ValueError, match='must list every'):
        NB201Space(edges=((1, 0), (2, 0)))


# ---------------------------------------------------------------------- known cells
def test_known_cells_map_to_table_values():
    from pinas_mm.search.nb201_table import arch_to_str, load_nb201_table
    table = load_nb201_table()
    space = get_space('nb201')
    assert table.query(space.arch(ALL_NONE)) == 10.0
    best_arch, best = table.best()
    assert round(best, 2) == 94.07 and best_arch == space.arch(BEST_STR)
    assert table.query(space.arch(BEST_STR)) == best
    # our arch string and the table module's agree on every op and edge
    rng = np.random.default_rng(0)
    for a in rng.integers(0, 5, size=(50, 6)):
        arch = space.arch([int(v) for v in a])
        assert space.arch_string(arch) == arch_to_str(arch)
        assert table.query(space.arch_string(arch)) == table.query(arch)


def test_network_matches_the_benchmark_sizes():
    # NAS-Bench-201's parameter counts with the 10-class classifier (650 params):
    # largest cell (all conv3x3) 1.531546 M, smallest 0.073306 M, as in its API
    def params(arch):
        return sum(p.numel() for p in NB201Net(arch).parameters()) + 64 * 10 + 10
    assert params(ALL_CONV3) == 1531546
    assert params(ALL_NONE) == 73306
    net = NB201Net(BEST_STR, out_indices=(0, 1, 2)).eval()
    outs = net(torch.zeros(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 32, 32), (2, 32, 16, 16),
                                              (2, 64, 8, 8)]
    assert len(net.cells) == 17  # 5 cells, reduction, 5 cells, reduction, 5 cells


# ----------------------------------------------------------------- supernet & subnet
def _randomise_bn(model):
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=g) - 0.5)


@torch.no_grad()
def test_supernet_path_equals_inherited_subnet():
    torch.manual_seed(0)
    supernet = NB201SuperNet(space='nb201-tiny', out_indices=(0, 1, 2))
    _randomise_bn(supernet)
    supernet.eval()
    x = torch.randn(2, 3, 16, 16)
    rng = __import__('random').Random(0)
    a, b = supernet.sample_disjoint_archs(rng)
    assert all(i != j for i, j in zip(a, b))
    for arch in (a, b, BEST_STR):
        supernet.set_arch(arch)
        state = inherit_nb201_state({f'backbone.{k}': v
                                     for k, v in supernet.state_dict().items()},
                                    arch, 'nb201-tiny', prefix='backbone.')
        subnet = NB201Net(arch, space='nb201-tiny', out_indices=(0, 1, 2))
        subnet.load_state_dict(state, strict=True)
        subnet.eval()
        for got, want in zip(supernet(x), subnet(x)):
            torch.testing.assert_close(got, want, rtol=0, atol=0)
        assert set(supernet.path_state_keys(arch)) <= set(supernet.state_dict())
        n_path = sum(p.numel() for m in supernet.path_modules(arch) for p in m.parameters())
        assert n_path == sum(p.numel() for p in subnet.parameters())



def test_generic_interface_takes_the_nb201_space():
    """backbone_classes / inherit_state / position_modules: the hooks the generic code
    (export, complexity tables) uses, for both kinds of space."""
    from pinas_mm.models import PiNASResNeSt, PiNASSuperNet
    from pinas_mm.models.inherit import inherit_state, inherit_subnet_state
    assert get_space('nb201-tiny').backbone_classes() == (NB201SuperNet, NB201Net)
    assert get_space('tiny').backbone_classes() == (PiNASSuperNet, PiNASResNeSt)
    supernet = NB201SuperNet(space='nb201-tiny')
    state = {f'backbone.{k}': v for k, v in supernet.state_dict().items()}
    got = inherit_state(state, BEST_STR, 'nb201-tiny', prefix='backbone.')
    want = inherit_nb201_state(state, BEST_STR, 'nb201-tiny', prefix='backbone.')
    assert list(got) == list(want) and all(got[k] is want[k] for k in want)
    net = NB201Net(BEST_STR, space='nb201')  # 3 stages x 5 cells: 15 modules per edge
    positions = net.position_modules()
    assert len(positions) == 6 and all(len(p) == 15 for p in positions)
    assert positions[2][0] == 'cells.0.edges.2' and positions[2][5] == 'cells.6.edges.2'
    modules = dict(net.named_modules())
    assert all(name in modules for p in positions for name in p)
    res = PiNASSuperNet(space='tiny')
    res_state = res.state_dict()
    got = inherit_state(res_state, 'pinas-cls', 'tiny')
    want = inherit_subnet_state(res_state, 'pinas-cls', 'tiny')
    assert list(got) == list(want) and all(got[k] is want[k] for k in want)
    assert PiNASResNeSt('pinas-cls', space='tiny').position_modules()[4] == ['layer2.1']


def test_complexity_table_is_additive_on_nb201():
    """The per-edge table prices NB201 archs exactly as mmengine's counter does on the
    whole network (random archs, every op on some edge)."""
    from mmengine.analysis import get_model_complexity_info

    from pinas_mm.models import arch_complexity, complexity_table
    from pinas_mm.models.complexity import _Classifier
    rng = np.random.default_rng(0)
    archs = [BEST_STR, '000000', '444444'] + [''.join(map(str, rng.integers(0, 5, 6)))
                                              for _ in range(3)]
    for arch in archs:
        model = _Classifier(NB201Net(arch, space='nb201-tiny'), 10).eval()
        info = get_model_complexity_info(model, input_shape=(3, 32, 32), show_table=False,
                                         show_arch=False)
        assert arch_complexity(arch, 'nb201-tiny', 32, 10) == (info['flops'], info['params'])
    bounds = complexity_table('nb201-tiny', 32, 10).bounds()
    assert bounds['flops'][0] == arch_complexity('000000', 'nb201-tiny', 32, 10)[0]
    assert bounds['params'][1] == arch_complexity('333333', 'nb201-tiny', 32, 10)[1]


def test_supernet_in_supernet_classifier():
    model = MODELS.build(dict(
        type='pinas_mm.SupernetClassifier',
        backbone=dict(type='pinas_mm.NB201SuperNet', space='nb201-tiny'),
        neck=dict(type='mmpretrain.GlobalAveragePooling'),
        head=dict(type='mmpretrain.LinearClsHead', num_classes=10, in_channels=32,
                  loss=dict(type='mmpretrain.CrossEntropyLoss'))))
    from mmpretrain.structures import DataSample
    x = torch.randn(2, 3, 16, 16)
    losses = model.loss(x, [DataSample().set_gt_label(i) for i in (1, 2)])
    assert torch.isfinite(losses['loss'])
    assert model.backbone.arch == get_space('nb201-tiny').arch(model.backbone.arch)
    assert len(model.backbone.arch) == 6 and int(model.step) == 1


# -------------------------------------------------------------------- zero-cost scorers
@pytest.fixture(scope='module')
def batch():
    from pinas_mm.analysis_zero_cost import load_batch
    return load_batch(CIFAR, num_images=8, seed=0)


def _classifier(arch, space='nb201-tiny'):
    from pinas_mm.analysis_zero_cost import build_classifier
    torch.manual_seed(0)
    return build_classifier(arch, space)


@pytest.mark.parametrize('name', list(ZERO_COST_SCORERS))
def test_zero_cost_scorer(name, batch):
    scorer = SCORERS.build(dict(type=ZERO_COST_SCORERS[name], dataloader=[batch]))
    conv = _classifier(ALL_CONV3)
    conv.eval()
    before = {k: v.clone() for k, v in conv.state_dict().items()}
    s1 = scorer(conv)
    s2 = scorer(conv)
    assert s1 == s2 and np.isfinite(s1)  # deterministic
    assert not conv.training  # mode restored
    for k, v in conv.state_dict().items():  # weights and BN statistics untouched
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in conv.parameters())
    assert scorer(_classifier(ALL_NONE)) < s1


@pytest.mark.parametrize('name', ['naswot', 'synflow', 'params'])
def test_zero_cost_scorer_on_supernet_path(name, batch):
    """On a supernet the scorer sees only the current path: same score as the subnet."""
    scorer = SCORERS.build(dict(type=ZERO_COST_SCORERS[name], dataloader=[batch]))
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='mmpretrain.ImageClassifier',
        backbone=dict(type='pinas_mm.NB201SuperNet', space='nb201-tiny'),
        neck=dict(type='mmpretrain.GlobalAveragePooling'),
        head=dict(type='mmpretrain.LinearClsHead', num_classes=10, in_channels=32),
        data_preprocessor=dict(type='mmpretrain.ClsDataPreprocessor',
                               mean=[125.3, 123.0, 113.9], std=[51.6, 50.8, 51.3])))
    model.backbone.set_arch(BEST_STR)
    sub = _classifier(BEST_STR)
    sub.backbone.load_state_dict(inherit_nb201_state(
        model.backbone.state_dict(), BEST_STR, 'nb201-tiny'))
    sub.head.load_state_dict(model.head.state_dict())
    sub.data_preprocessor = model.data_preprocessor
    assert scorer(model) == pytest.approx(scorer(sub), rel=1e-9)


def test_zero_cost_scorer_on_resnest_space(batch):
    model = MODELS.build(dict(
        type='pinas_mm.SupernetClassifier',
        backbone=dict(type='pinas_mm.PiNASSuperNet', space='tiny'),
        neck=dict(type='mmpretrain.GlobalAveragePooling'),
        head=dict(type='mmpretrain.LinearClsHead', num_classes=10, in_channels=512),
        data_preprocessor=dict(type='mmpretrain.ClsDataPreprocessor',
                               mean=[125.3, 123.0, 113.9], std=[51.6, 50.8, 51.3])))
    model.backbone.set_arch('pinas-cls')
    for name in ('synflow', 'naswot'):
        scorer = SCORERS.build(dict(type=ZERO_COST_SCORERS[name], dataloader=[batch]))
        assert np.isfinite(scorer(model))


def test_study_correlation():
    from pinas_mm.analysis_zero_cost import correlation, sample_archs
    acc = np.arange(30, dtype=float)
    res = correlation(acc, acc ** 2, topk=(5, ), n_boot=50)
    assert res['kendall_tau'] == pytest.approx(1) and res['top5_overlap'] == 1
    assert res['spearman_rho_lo'] <= res['spearman_rho'] <= res['spearman_rho_hi']
    y = acc.copy()
    y[0] = -np.inf  # -inf ranks last
    assert correlation(acc, y, n_boot=20)['kendall_tau'] == pytest.approx(1)
    y = -acc.copy()
    y[-1] = -np.inf
    assert correlation(acc, y, n_boot=20)['kendall_tau'] == pytest.approx(-1)
    archs = sample_archs(20, seed=1)
    assert len(set(archs)) == 20 and archs == sample_archs(20, seed=1)
