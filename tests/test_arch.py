import json

import pytest

from pinas_mm.space import NAMED_ARCHS, Arch, SearchSpace

CLS = '3013231203213032'


@pytest.mark.parametrize('value', [
    CLS, '3 0 1 3 2 3 1 2 0 3 2 1 3 0 3 2', '3,0,1,3,2,3,1,2,0,3,2,1,3,0,3,2',
    [3, 0, 1, 3, 2, 3, 1, 2, 0, 3, 2, 1, 3, 0, 3, 2], 'pinas-cls', ' PiNAS-CLS '])
def test_parse_forms(value):
    arch = Arch.parse(value)
    assert str(arch) == CLS
    assert arch.spaced == '3 0 1 3 2 3 1 2 0 3 2 1 3 0 3 2'
    assert Arch.parse(str(arch)) == arch and hash(arch) == hash(Arch.parse(CLS))


def test_int_from_cfg_options():
    # mmengine's --cfg-options turns digit strings into ints and drops leading zeros
    assert str(Arch.parse(3013231203213032)) == CLS
    assert str(Arch.parse(123012301230123)) == '0123012301230123'


def test_named_archs():
    assert str(Arch.parse('pinas-trans')) == '3333113330011021'
    assert Arch.parse('resnest50') == Arch([1] * 16)
    assert set(NAMED_ARCHS) == {'pinas-cls', 'pinas-trans', 'resnest50'}


@pytest.mark.parametrize('ext', ['yaml', 'yml', 'json'])
def test_file_round_trip(tmp_path, ext):
    path = str(tmp_path / f'a.{ext}')
    Arch.parse('pinas-trans').dump(path, score=0.5)
    assert Arch.parse(path) == Arch.parse('pinas-trans')
    assert Arch.from_file(path) == Arch.parse('pinas-trans')


def test_file_with_leading_zero(tmp_path):
    path = tmp_path / 'z.json'
    path.write_text(json.dumps({'arch': '0' * 15 + '1'}))
    assert str(Arch.parse(str(path))) == '0' * 15 + '1'


@pytest.mark.parametrize('value, fragment', [
    ('301323120321303', 'has 15 indices'),
    ('30132312032130322', 'has 17 indices'),
    ('3013231203213034', "index 4 at block 15"),
    ('301323120321303x', 'not a named arch'),
    ('pinas-foo', 'not a named arch'),
    ('', 'not a named arch'),
    ([3] * 15 + [-1], 'index -1 at block 15'),
    ([3] * 15 + [1.0], 'index 1.0 at block 15'),
    (30132312032130322, 'of type int'),
    (-1, 'of type int'),
    ('missing_file.yaml', 'arch file not found'),
])
def test_bad_input(value, fragment):
    with pytest.raises(ValueError) as e:
        Arch.parse(value)
    msg = str(e.value)
    assert fragment in msg
    assert repr(value)[:10] in msg or str(value)[:10] in msg  # names the value
    if 'arch file' not in fragment:
        assert 'Valid forms' in msg and 'pinas-cls' in msg  # names the valid forms


def test_bad_files(tmp_path):
    broken = tmp_path / 'broken.yaml'
    broken.write_text('arch: [1, 2\n')
    with pytest.raises(ValueError, match='cannot be read'):
        Arch.parse(str(broken))
    nokey = tmp_path / 'nokey.json'
    nokey.write_text('{"choices": "1111111111111111"}')
    with pytest.raises(ValueError, match='no key "arch"'):
        Arch.parse(str(nokey))
    wrong = tmp_path / 'wrong.json'
    wrong.write_text('{"arch": "12"}')
    with pytest.raises(ValueError, match='wrong.json.*has 2 indices'):
        Arch.parse(str(wrong))


def test_space_presets():
    assert SearchSpace.get('resnest50').num_blocks == 16
    tiny = SearchSpace.get('tiny')
    assert tiny.num_blocks == 16 and tiny.out_channels == (64, 128, 256, 512)
    assert SearchSpace.get('resnest50').out_channels == (256, 512, 1024, 2048)
    assert tiny.stage_of(0) == (0, 0) and tiny.stage_of(3) == (1, 0)
    assert tiny.stage_of(15) == (3, 2)
    with pytest.raises(ValueError, match="Unknown search space 'huge'.*resnest50"):
        SearchSpace.get('huge')
    with pytest.raises(ValueError, match='Invalid search space'):
        SearchSpace.get(dict(wrong_field=1))
