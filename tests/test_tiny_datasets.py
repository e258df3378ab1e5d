"""Tests of the built-in tiny datasets (pinas_mm.datasets.tiny).

The format checks at the bottom build the real OpenMMLab dataset classes (mmpretrain
ImageNet/CustomDataset, mmdet CocoDataset, mmseg ADE20KDataset/CityscapesDataset); they are
skipped while mmcv is not importable.
"""
import glob
import importlib
import importlib.util
import json
import os
import os.path as osp
import re
import time

import cv2
import numpy as np
import pytest

_REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _load_tiny():
    try:
        return importlib.import_module('pinas_mm.datasets.tiny')
    except ImportError:
        # ``import pinas_mm`` pulls in torch/mmcv/mmpretrain; the generator itself needs
        # neither, so test it from its file when that stack is not importable yet.
        spec = importlib.util.spec_from_file_location(
            '_pinas_mm_tiny_datasets', osp.join(_REPO, 'pinas_mm', 'datasets', 'tiny.py'))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


tiny = _load_tiny()
ALL = ('imagenet', 'coco', 'ade20k', 'cityscapes')


def _require(module):
    """Skip unless ``module`` (and mmcv with its compiled ops) can be imported."""
    pytest.importorskip('mmcv')
    pytest.importorskip('mmcv.ops')
    return pytest.importorskip(module)


def _files(top):
    out = {}
    for dirpath, _, filenames in os.walk(top):
        for fn in filenames:
            p = osp.join(dirpath, fn)
            out[osp.relpath(p, top)] = p
    return out


@pytest.fixture(scope='module')
def tiny_out(tmp_path_factory):
    out = tmp_path_factory.mktemp('tiny')
    t0 = time.time()
    roots = tiny.make_tiny_datasets(out, seed=0)
    elapsed = time.time() - t0
    assert elapsed < 15, f'generation took {elapsed:.1f}s'
    return str(out), roots


# --------------------------------------------------------------------------- generator
def test_layout_counts_and_stamps(tiny_out):
    out, roots = tiny_out
    assert roots == {
        'imagenet': osp.join(out, 'imagenet'),
        'coco': osp.join(out, 'coco'),
        'ade20k': osp.join(out, 'ade', 'ADEChallengeData2016'),
        'cityscapes': osp.join(out, 'cityscapes'),
    }
    assert sorted(os.listdir(out)) == ['ade', 'cityscapes', 'coco', 'imagenet']  # no leftovers
    im = roots['imagenet']
    for split, n in (('train', 40), ('val', 12)):
        assert sorted(os.listdir(osp.join(im, split))) == list(tiny.TINY_IMAGENET_CLASSES)
        for c in tiny.TINY_IMAGENET_CLASSES:
            assert len(glob.glob(osp.join(im, split, c, '*.JPEG'))) == n
    assert sorted(os.listdir(osp.join(im, 'meta'))) == ['classes.txt', 'train.txt', 'val.txt']
    co = roots['coco']
    assert len(glob.glob(osp.join(co, 'train2017', '*.jpg'))) == 80
    assert len(glob.glob(osp.join(co, 'val2017', '*.jpg'))) == 24
    assert sorted(os.listdir(osp.join(co, 'annotations'))) == [
        'instances_train2017.json', 'instances_val2017.json']
    ade = roots['ade20k']
    for split, tag, n in (('training', 'train', 48), ('validation', 'val', 16)):
        imgs = sorted(os.listdir(osp.join(ade, 'images', split)))
        anns = sorted(os.listdir(osp.join(ade, 'annotations', split)))
        assert len(imgs) == n
        assert imgs[0] == f'ADE_{tag}_00000001.jpg'
        assert [f[:-4] for f in imgs] == [f[:-4] for f in anns]
        assert all(f.endswith('.png') for f in anns)
    cs = roots['cityscapes']
    for split, cities in (('train', {'aachen': 20, 'bremen': 20}), ('val', {'frankfurt': 12})):
        assert sorted(os.listdir(osp.join(cs, 'leftImg8bit', split))) == sorted(cities)
        assert sorted(os.listdir(osp.join(cs, 'gtFine', split))) == sorted(cities)
        for city, n in cities.items():
            imgs = sorted(os.listdir(osp.join(cs, 'leftImg8bit', split, city)))
            gts = sorted(os.listdir(osp.join(cs, 'gtFine', split, city)))
            assert len(imgs) == len(gts) == n
            assert all(re.fullmatch(rf'{city}_000000_\d{{6}}_leftImg8bit\.png', f) for f in imgs)
            assert [f.replace('_leftImg8bit.png', '_gtFine_labelTrainIds.png')
                    for f in imgs] == gts
    for name in ALL:
        top = osp.join(out, 'ade' if name == 'ade20k' else name)
        with open(osp.join(top, tiny.STAMP_NAME)) as f:
            stamp = json.load(f)
        assert stamp['seed'] == 0 and stamp['version'] == tiny.TINY_VERSION
        assert stamp['dataset'] == name


def test_deterministic_idempotent_and_safe(tiny_out, tmp_path):
    out, roots = tiny_out
    # same seed, fresh folder -> byte-identical files (images, annotations, stamps)
    other = tmp_path / 'again'
    tiny.make_tiny_datasets(other, seed=0)
    a, b = _files(out), _files(str(other))
    assert sorted(a) == sorted(b) and len(a) > 700
    for rel in a:
        with open(a[rel], 'rb') as fa, open(b[rel], 'rb') as fb:
            assert fa.read() == fb.read(), rel
    # idempotent: the stamp short-circuits, nothing is rewritten
    probe = osp.join(roots['coco'], 'annotations', 'instances_val2017.json')
    mtime = os.stat(probe).st_mtime_ns
    t0 = time.time()
    assert tiny.make_tiny_datasets(out, seed=0) == roots
    assert time.time() - t0 < 0.5
    assert os.stat(probe).st_mtime_ns == mtime
    # 'ade' alias, subset, string argument
    assert tiny.make_tiny_datasets(out, which='ade') == {'ade20k': roots['ade20k']}
    # another seed: refused without overwrite, different data with it
    with pytest.raises(FileExistsError):
        tiny.make_tiny_datasets(other, seed=1, which=('coco', ))
    tiny.make_tiny_datasets(other, seed=1, which=('coco', ), overwrite=True)
    with open(probe, 'rb') as f0, \
            open(osp.join(other, 'coco', 'annotations', 'instances_val2017.json'), 'rb') as f1:
        assert f0.read() != f1.read()
    assert not [p for p in os.listdir(other) if 'partial' in p]
    # a folder that the generator did not make is never touched, even with overwrite
    foreign = tmp_path / 'foreign'
    (foreign / 'coco').mkdir(parents=True)
    (foreign / 'coco' / 'keep.txt').write_text('real data')
    with pytest.raises(FileExistsError):
        tiny.make_tiny_datasets(foreign, which=('coco', ), overwrite=True)
    assert (foreign / 'coco' / 'keep.txt').read_text() == 'real data'
    with pytest.raises(ValueError):
        tiny.make_tiny_datasets(tmp_path, which=('voc', ))


def test_imagenet_meta_and_images(tiny_out):
    root = tiny_out[1]['imagenet']
    classes = tiny.TINY_IMAGENET_CLASSES
    assert len(classes) == 8 and list(classes) == sorted(classes)
    with open(osp.join(root, 'meta', 'classes.txt')) as f:
        assert f.read().splitlines() == list(classes)
    for split, n in (('train', 320), ('val', 96)):
        with open(osp.join(root, 'meta', f'{split}.txt')) as f:
            lines = f.read().splitlines()
        assert len(lines) == n
        for line in lines:
            rel, label = line.split(' ')
            cls = rel.split('/')[0]
            assert classes.index(cls) == int(label)
            assert osp.isfile(osp.join(root, split, rel))
        img = cv2.imread(osp.join(root, split, lines[-1].split(' ')[0]), cv2.IMREAD_UNCHANGED)
        assert img.shape == (64, 64, 3) and img.dtype == np.uint8


def test_coco_json_is_valid_for_pycocotools(tiny_out):
    COCO = pytest.importorskip('pycocotools.coco').COCO
    root = tiny_out[1]['coco']
    main_channel = {1: 2, 2: 1, 3: 0}  # BGR channel dominating circle/square/triangle
    for split, n_img in (('train2017', 80), ('val2017', 24)):
        path = osp.join(root, 'annotations', f'instances_{split}.json')
        with open(path) as f:
            raw = json.load(f)
        assert set(raw) == {'info', 'licenses', 'images', 'annotations', 'categories'}
        coco = COCO(path)
        cats = coco.loadCats(coco.getCatIds())
        assert [(c['id'], c['name']) for c in cats] == [(1, 'circle'), (2, 'square'),
                                                        (3, 'triangle')]
        assert coco.getCatIds(catNms=list(tiny.TINY_COCO_CLASSES)) == [1, 2, 3]
        assert len(coco.getImgIds()) == n_img
        ann_ids = [a['id'] for a in raw['annotations']]
        assert len(set(ann_ids)) == len(ann_ids)
        for img_id in coco.getImgIds():
            info = coco.loadImgs(img_id)[0]
            w, h = info['width'], info['height']
            assert 128 <= w <= 160 and 128 <= h <= 160
            img = cv2.imread(osp.join(root, split, info['file_name']))
            assert img.shape == (h, w, 3)
            anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id))
            assert 1 <= len(anns) <= 3
            for ann in anns:
                assert ann['iscrowd'] == 0 and ann['category_id'] in (1, 2, 3)
                (poly, ) = ann['segmentation']
                assert len(poly) >= 6 and len(poly) % 2 == 0
                assert all(isinstance(v, float) for v in poly)
                pts = np.asarray(poly).reshape(-1, 2)
                x, y, bw, bh = ann['bbox']
                assert np.allclose([x, y], pts.min(0), atol=0.011)
                assert np.allclose([x + bw, y + bh], pts.max(0), atol=0.011)
                assert x >= 0 and y >= 0 and x + bw <= w and y + bh <= h
                assert 24 - 0.1 <= max(bw, bh) <= 64 + 0.1
                mask = coco.annToMask(ann)
                assert mask.shape == (h, w)
                assert abs(int(mask.sum()) - ann['area']) <= 0.12 * ann['area'] + 4
                ys, xs = np.nonzero(mask)
                assert xs.min() >= int(x) - 1 and xs.max() <= x + bw + 1
                assert ys.min() >= int(y) - 1 and ys.max() <= y + bh + 1
                # the object really is drawn there, in its class colour
                colour = img[mask.astype(bool)].mean(0)
                assert int(np.argmax(colour)) == main_channel[ann['category_id']]


def test_segmentation_label_maps(tiny_out):
    roots = tiny_out[1]
    ade = roots['ade20k']
    seen = set()
    for png in sorted(glob.glob(osp.join(ade, 'annotations', '*', '*.png'))):
        lab = cv2.imread(png, cv2.IMREAD_UNCHANGED)
        assert lab.shape == (128, 128) and lab.dtype == np.uint8
        seen |= set(np.unique(lab).tolist())
        img = cv2.imread(png.replace('annotations', 'images').replace('.png', '.jpg'))
        assert img.shape == (128, 128, 3)
    assert seen == {0, 1, 2, 3, 4}
    assert len(tiny.TINY_ADE_CLASSES) == 4
    cs = roots['cityscapes']
    seen = set()
    for png in sorted(glob.glob(osp.join(cs, 'gtFine', '*', '*', '*_labelTrainIds.png'))):
        lab = cv2.imread(png, cv2.IMREAD_UNCHANGED)
        assert lab.shape == (128, 256) and lab.dtype == np.uint8
        seen |= set(np.unique(lab).tolist())
        img = cv2.imread(png.replace('_gtFine_labelTrainIds.png', '_leftImg8bit.png').replace(
            osp.join(cs, 'gtFine'), osp.join(cs, 'leftImg8bit')), cv2.IMREAD_UNCHANGED)
        assert img.shape == (128, 256, 3)
    assert seen == {0, 2, 8, 10, 13, 255}
    assert len(tiny.TINY_CITYSCAPES_CLASSES) == 19
    for tid, name in tiny.TINY_CITYSCAPES_TRAIN_IDS.items():
        assert tiny.TINY_CITYSCAPES_CLASSES[tid] == name


# --------------------------------------------------------------------------- OpenMMLab
def test_mmpretrain_imagenet_and_custom_dataset(tiny_out):
    datasets = _require('mmpretrain.datasets')
    root = tiny_out[1]['imagenet']
    classes = tiny.TINY_IMAGENET_CLASSES
    train = datasets.ImageNet(data_root=root, split='train', metainfo=dict(classes=classes))
    assert len(train) == 320 and train.CLASSES == classes
    assert sorted(set(train.get_gt_labels().tolist())) == list(range(8))
    val = datasets.CustomDataset(data_root=root, data_prefix='val', ann_file='meta/val.txt',
                                 classes=osp.join(root, 'meta', 'classes.txt'))
    assert len(val) == 96 and tuple(val.CLASSES) == classes
    info = val.get_data_info(0)
    assert osp.isfile(info['img_path'])
    assert info['gt_label'] == classes.index(osp.basename(osp.dirname(info['img_path'])))
    # folder scanning (no ann_file) gives the same class order and labels
    scan = datasets.CustomDataset(data_root=root, data_prefix='val')
    assert tuple(scan.CLASSES) == classes
    assert sorted((osp.relpath(d['img_path'], root), int(d['gt_label']))
                  for d in scan.load_data_list()) == \
        sorted((osp.relpath(d['img_path'], root), int(d['gt_label']))
               for d in val.load_data_list())
    # unlabelled (self-supervised) use: scan the folder, no ann_file
    unlabelled = datasets.CustomDataset(data_root=root, data_prefix='train', with_label=False)
    assert len(unlabelled) == 320
    assert all(osp.isfile(d['img_path']) for d in unlabelled.load_data_list())


def test_mmdet_coco_dataset_with_masks(tiny_out):
    mmdet_datasets = _require('mmdet.datasets')
    from mmcv.transforms import LoadImageFromFile
    from mmdet.datasets.transforms import LoadAnnotations
    from mmdet.structures.mask import BitmapMasks
    root = tiny_out[1]['coco'] + '/'
    for split, n in (('train2017', 80), ('val2017', 24)):
        ds = mmdet_datasets.CocoDataset(
            data_root=root,
            ann_file=f'annotations/instances_{split}.json',
            data_prefix=dict(img=f'{split}/'),
            metainfo=dict(classes=tiny.TINY_COCO_CLASSES),
            filter_cfg=dict(filter_empty_gt=True, min_size=32),
            pipeline=[LoadImageFromFile(),
                      LoadAnnotations(with_bbox=True, with_mask=True)],
            test_mode=split == 'val2017')
        assert len(ds) == n
        assert ds.metainfo['classes'] == tiny.TINY_COCO_CLASSES
        labels = set()
        for i in range(len(ds)):
            info = ds.get_data_info(i)
            assert 1 <= len(info['instances']) <= 3
            for inst in info['instances']:
                assert inst['ignore_flag'] == 0 and len(inst['mask'][0]) >= 6
                labels.add(inst['bbox_label'])
        assert labels == {0, 1, 2}
        sample = ds[0]
        masks = sample['gt_masks']
        assert isinstance(masks, BitmapMasks)  # poly2mask=True, as in the model-zoo configs
        assert len(masks) == len(sample['gt_bboxes']) == len(sample['gt_bboxes_labels'])
        bitmaps = masks.to_ndarray()
        assert bitmaps.shape[1:] == sample['img'].shape[:2]
        assert (bitmaps.reshape(len(masks), -1).sum(1) > 100).all()


def test_mmseg_ade20k_and_cityscapes(tiny_out):
    seg = _require('mmseg.datasets')
    from mmcv.transforms import LoadImageFromFile
    from mmseg.datasets.transforms import LoadAnnotations
    roots = tiny_out[1]

    def pipeline():  # LoadAnnotations caches reduce_zero_label: one per dataset
        return [LoadImageFromFile(), LoadAnnotations()]
    for split, n in (('training', 48), ('validation', 16)):
        ds = seg.ADE20KDataset(
            data_root=roots['ade20k'],
            data_prefix=dict(img_path=f'images/{split}', seg_map_path=f'annotations/{split}'),
            metainfo=dict(classes=tiny.TINY_ADE_CLASSES), pipeline=pipeline())
        assert len(ds) == n and ds.metainfo['classes'] == tiny.TINY_ADE_CLASSES
        # the 4 tiny classes are the first 4 ADE20K classes: label_map is identity on them
        assert {k: v for k, v in ds.label_map.items() if v != 255} == {0: 0, 1: 1, 2: 2, 3: 3}
        info = ds.get_data_info(0)
        assert info['reduce_zero_label'] and osp.isfile(info['seg_map_path'])
        assert osp.basename(info['img_path'])[:-4] == osp.basename(info['seg_map_path'])[:-4]
        gt = ds[0]['gt_seg_map']
        assert gt.shape == (128, 128)
        assert set(np.unique(gt).tolist()) <= {0, 1, 2, 3, 255}
    full = seg.ADE20KDataset(  # unchanged 150-class setup also loads
        data_root=roots['ade20k'],
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'))
    assert len(full) == 16 and full.label_map is None
    for split, n in (('train', 40), ('val', 12)):
        ds = seg.CityscapesDataset(
            data_root=roots['cityscapes'],
            data_prefix=dict(img_path=f'leftImg8bit/{split}', seg_map_path=f'gtFine/{split}'),
            pipeline=pipeline())
        assert len(ds) == n and ds.label_map is None
        assert tuple(ds.metainfo['classes']) == tiny.TINY_CITYSCAPES_CLASSES
        sample = ds[0]
        assert sample['img'].shape == (128, 256, 3)
        assert set(np.unique(sample['gt_seg_map']).tolist()) <= {0, 2, 8, 10, 13, 255}
    five = seg.CityscapesDataset(
        data_root=roots['cityscapes'],
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        metainfo=dict(classes=tiny.TINY_CITYSCAPES_PRESENT_CLASSES), pipeline=pipeline())
    assert {k: v for k, v in five.label_map.items() if v != 255} == \
        {0: 0, 2: 1, 8: 2, 10: 3, 13: 4}
    assert set(np.unique(five[0]['gt_seg_map']).tolist()) <= {0, 1, 2, 3, 4, 255}
