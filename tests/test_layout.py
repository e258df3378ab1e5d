"""The supernet key layout is the single source of every key name.

``layout_for(space)`` (no model built) must name exactly the modules of the built
supernet and subnet; ``path_modules`` / ``path_state_keys`` / ``position_modules`` /
inheritance / the converters' targets / ``infer_space`` all read it.
"""
import pytest
import torch

from pinas_mm.models.backbones import NB201Net, NB201SuperNet, PiNASResNeSt, PiNASSuperNet
from pinas_mm.models.backbones.layout import (ChoiceSlot, infer_space, iter_state_names,
                                              layout_of)
from pinas_mm.models.inherit import inherit_state
from pinas_mm.space import NB201Space, SearchSpace

NB201_C16_N1 = NB201Space(name='nb201-c16-n1', channels=16, cells_per_stage=1)
# layer1's first block keeps its width (a 64-channel stem): no downsample there
SAME_WIDTH = SearchSpace(name='same-width', widen=0.25, stem_channels=256)
CASES = [(PiNASSuperNet, PiNASResNeSt, 'tiny', '3013231203213032'),
         (PiNASSuperNet, PiNASResNeSt, SAME_WIDTH, '0123012301230123'),
         (NB201SuperNet, NB201Net, 'nb201-tiny', '333123'),
         (NB201SuperNet, NB201Net, NB201_C16_N1, '012340')]


def _keys(model, names):
    return [f'{n}.{k}' for n in names for k in model.get_submodule(n).state_dict()]


@pytest.mark.parametrize('super_cls,sub_cls,space,arch', CASES)
def test_layout_names_every_key_of_supernet_and_subnet(super_cls, sub_cls, space, arch):
    torch.manual_seed(0)
    supernet = super_cls(space=space)
    layout = super_cls.layout_for(space)
    assert layout == supernet.layout() == layout_of(supernet.space)
    # the supernet's state is exactly the layout's modules (fixed, candidates, shared)
    assert sorted(_keys(supernet, iter_state_names(layout))) == sorted(supernet.state_dict())
    # the subnet's: fixed modules as they are, each slot (with its shared modules, e.g.
    # layer1.0.downsample inside block layer1.0) under the slot's name
    subnet = sub_cls(arch=arch, space=space)
    names = [m if isinstance(m, str) else m.name for m in layout.modules]
    assert sorted(_keys(subnet, names)) == sorted(subnet.state_dict())
    assert all(n.startswith(s.name + '.') for s in layout.slots for n in s.shared)
    assert subnet.position_modules() == supernet.position_modules() \
        == layout.position_modules()
    # path_state_keys are the keys of the modules path_modules returns, in order
    where = {id(m): n for n, m in supernet.named_modules()}
    for a in (arch, supernet.sample_arch(__import__('random').Random(1))):
        mods = supernet.path_modules(a)
        assert [where[id(m)] for m in mods] == layout.path_module_names(supernet.space.arch(a))
        assert supernet.path_state_keys(a) == [f'{where[id(m)]}.{k}' for m in mods
                                               for k in m.state_dict()]
    # inheritance keeps exactly the path's tensors, renamed to the subnet's keys
    state = supernet.state_dict()
    inherited = inherit_state(state, arch, supernet.space)
    assert sorted(inherited) == sorted(subnet.state_dict())
    path = supernet.path_state_keys(arch)
    assert sorted(id(v) for v in inherited.values()) == sorted(id(state[k]) for k in path)


def test_layout_shapes():
    res = PiNASSuperNet.layout_for('tiny')
    assert res.modules[0] == 'stem' and len(res.slots) == 16 and res.num_choices == 4
    assert res.slot('layer2.0') == ChoiceSlot(
        'layer2.0', 3, tuple(f'layer2.0.candidates.{c}' for c in range(4)),
        ('layer2.0.downsample', ))
    assert res.slot('layer2.1').shared == ()
    assert PiNASSuperNet.layout_for(SAME_WIDTH).slot('layer1.0').shared == ()
    nb = NB201SuperNet.layout_for(NB201_C16_N1)
    assert nb.modules[0] == 'stem' and nb.modules[-1] == 'lastact'
    assert 'cells.1' in nb.modules and 'cells.3' in nb.modules  # reduction blocks
    assert [s.name for s in nb.slots[:2]] == ['cells.0.edges.0', 'cells.0.edges.1']
    assert nb.position_modules()[5] == ['cells.0.edges.5', 'cells.2.edges.5',
                                        'cells.4.edges.5']


@torch.no_grad()
def test_inherited_nb201_c16_n1_subnet_equals_the_supernet_path():
    torch.manual_seed(0)
    supernet = NB201SuperNet(space=NB201_C16_N1, out_indices=(0, 1, 2)).eval()
    for m in supernet.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    x = torch.randn(2, 3, 16, 16)
    for arch in ('012340', '333123'):
        supernet.set_arch(arch)
        subnet = NB201Net(arch, space=NB201_C16_N1, out_indices=(0, 1, 2)).eval()
        subnet.load_state_dict(inherit_state(supernet.state_dict(), arch, NB201_C16_N1),
                               strict=True)
        for got, want in zip(subnet(x), supernet(x)):
            torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_bad_candidate_keys_are_named():
    state = PiNASSuperNet(space='tiny').state_dict()
    state['layer4.3.candidates.0.conv1.weight'] = torch.zeros(1)  # no 4th block
    with pytest.raises(ValueError, match=r"'backbone\.layer4\.3\.candidates\.0\.conv1"
                                         r"\.weight' has no block/candidate in space tiny"):
        inherit_state({f'backbone.{k}': v for k, v in state.items()}, '0' * 16, 'tiny',
                      prefix='backbone.')
    state = NB201SuperNet(space='nb201-tiny').state_dict()
    state['cells.0.edges.1.candidates.5.op.1.weight'] = torch.zeros(1)  # 5 ops only
    with pytest.raises(ValueError, match=r'cells\.0\.edges\.1\.candidates\.5.*nb201-tiny'):
        inherit_state(state, '0' * 6, 'nb201-tiny')


def test_one_infer_space_for_both_supernets():
    tiny = PiNASSuperNet(space='tiny').state_dict()
    assert infer_space(tiny).name == 'tiny'
    assert infer_space(PiNASResNeSt('pinas-cls', space='tiny').state_dict()).name == 'tiny'
    nb = {f'backbone.{k}': v for k, v in NB201SuperNet(space=NB201_C16_N1).state_dict().items()}
    assert infer_space(nb, 'backbone.') == NB201_C16_N1
    assert infer_space(nb, 'backbone.', space_types=(NB201Space, )) == NB201_C16_N1
    with pytest.raises(ValueError, match='Not a NAS-Bench-201 supernet'):
        infer_space(tiny, space_types=(NB201Space, ))
    with pytest.raises(ValueError, match='no deep-stem key.*Not a NAS-Bench-201'):
        infer_space({'neck.fc.weight': torch.zeros(1)})
