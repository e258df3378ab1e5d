"""Deterministic built-in TINY datasets, written in the REAL on-disk formats.

``make_tiny_datasets(out_dir)`` writes four small synthetic datasets whose folder layout,
file naming and annotation encoding are exactly those of ImageNet (mmpretrain), COCO 2017
instances (mmdet), ADE20K (mmseg) and Cityscapes (mmseg). A model-zoo config therefore
works on them with only ``data_root`` changed (plus ``metainfo`` where the class set is
smaller than the real one), and a tiny model learns them within a minute on a CPU.

Only numpy and OpenCV are used (no torch, no OpenMMLab import), every random number comes
from ``numpy.random.RandomState``, JPEGs are written at a fixed quality and PNGs carry no
metadata, so the same seed gives byte-identical files. Generating all four takes a couple of
seconds.

Layout under ``out_dir`` (counts for the default sizes)::

    imagenet/                                   <- data_root for mmpretrain ImageNet / CustomDataset
        train/<class_name>/<class_name>_%04d.JPEG       8 classes x 40, 64x64 RGB
        val/<class_name>/<class_name>_val_%04d.JPEG     8 classes x 12
        meta/train.txt   meta/val.txt                   "<class_name>/<file> <label>"
        meta/classes.txt                                one class name per line
    coco/                                       <- data_root for mmdet CocoDataset
        train2017/%012d.jpg                             80 images, 128..160 px per side
        val2017/%012d.jpg                               24 images
        annotations/instances_train2017.json            polygons, bbox, area, iscrowd=0
        annotations/instances_val2017.json
    ade/ADEChallengeData2016/                   <- data_root for mmseg ADE20KDataset
        images/training/ADE_train_%08d.jpg              48 images, 128x128
        images/validation/ADE_val_%08d.jpg              16 images
        annotations/training/ADE_train_%08d.png         uint8, 0 = other, 1..4 = classes
        annotations/validation/ADE_val_%08d.png
    cityscapes/                                 <- data_root for mmseg CityscapesDataset
        leftImg8bit/{train,val}/<city>/<city>_000000_%06d_leftImg8bit.png         128x256 RGB
        gtFine/{train,val}/<city>/<city>_000000_%06d_gtFine_labelTrainIds.png     uint8 trainIds
            train: aachen (20) + bremen (20); val: frankfurt (12)

Each dataset folder also holds a small stamp file (``.pinas_tiny_stamp.json``) recording
the generator version and seed; a later call with the same seed/version returns at once.

Class encodings (see the constants below):

* ImageNet: 8 classes, a shape x colour combination; each shape comes in two colours and each
  colour on two shapes, so both cues are needed. Names are sorted alphabetically, so the
  label indices of ``meta/*.txt`` equal those mmpretrain derives from folder scanning.
* COCO: categories ``circle``, ``square``, ``triangle`` with ids 1, 2, 3.
* ADE20K: the on-disk values 1..4 are ``wall``, ``building``, ``sky``, ``floor`` - the first
  four ADE20K-150 classes, with their real ADE values - and 0 is "other". With
  ``metainfo=dict(classes=TINY_ADE_CLASSES)`` mmseg's label_map is the identity on 0..3
  (after ``reduce_zero_label``), so a 4-class head works; without metainfo the 150-class
  setup works too (absent classes are NaN in mIoU).
* Cityscapes: real trainIds 0 road, 2 building, 8 vegetation, 10 sky, 13 car; 255 = ignore
  (sidewalk, tree trunks, ...). Configs keep the 19 Cityscapes classes
  (``TINY_CITYSCAPES_CLASSES``); passing ``TINY_CITYSCAPES_PRESENT_CLASSES`` as metainfo
  instead makes mmseg remap to a 5-class problem.
"""
import json
import os
import os.path as osp
import shutil
import tempfile

import cv2
import numpy as np

__all__ = [
    'make_tiny_datasets', 'TINY_IMAGENET_CLASSES', 'TINY_COCO_CLASSES', 'TINY_ADE_CLASSES',
    'TINY_CITYSCAPES_CLASSES', 'TINY_CITYSCAPES_PRESENT_CLASSES', 'TINY_CITYSCAPES_TRAIN_IDS',
    'TINY_DATASET_ROOTS', 'TINY_DATASETS', 'TINY_VERSION', 'STAMP_NAME'
]

#: bump when the generated content changes; stamps with another version are stale.
TINY_VERSION = 1
STAMP_NAME = '.pinas_tiny_stamp.json'
_GENERATOR_ID = 'pinas_mm.datasets.tiny'  # fixed, whatever name this module is loaded under
JPEG_QUALITY = 90
PNG_COMPRESSION = 6

#: 8 shape x colour classes, alphabetically sorted (= mmpretrain folder-scan order).
TINY_IMAGENET_CLASSES = (
    'blue_circle', 'blue_triangle', 'green_square', 'green_stripes',
    'red_circle', 'red_square', 'yellow_stripes', 'yellow_triangle',
)
#: COCO categories, ids 1..3 in this order.
TINY_COCO_CLASSES = ('circle', 'square', 'triangle')
#: ADE20K classes; on-disk values 1..4 (0 = other), reduced to 0..3 by reduce_zero_label.
TINY_ADE_CLASSES = ('wall', 'building', 'sky', 'floor')
#: the 19 Cityscapes classes (trainIds 0..18), kept by the configs.
TINY_CITYSCAPES_CLASSES = (
    'road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light', 'traffic sign',
    'vegetation', 'terrain', 'sky', 'person', 'rider', 'car', 'truck', 'bus', 'train',
    'motorcycle', 'bicycle',
)
#: trainIds that actually occur in the tiny Cityscapes label maps (the rest is 255).
TINY_CITYSCAPES_TRAIN_IDS = {0: 'road', 2: 'building', 8: 'vegetation', 10: 'sky', 13: 'car'}
TINY_CITYSCAPES_PRESENT_CLASSES = tuple(TINY_CITYSCAPES_TRAIN_IDS.values())

#: dataset name -> data_root relative to ``out_dir`` (what configs put in ``data_root``).
TINY_DATASET_ROOTS = {
    'imagenet': 'imagenet',
    'coco': 'coco',
    'ade20k': 'ade/ADEChallengeData2016',
    'cityscapes': 'cityscapes',
}
TINY_DATASETS = tuple(TINY_DATASET_ROOTS)
# top-level folder (the unit that is generated, stamped and replaced) of each dataset
_TOP = {'imagenet': 'imagenet', 'coco': 'coco', 'ade20k': 'ade', 'cityscapes': 'cityscapes'}
_ALIASES = {'ade': 'ade20k', 'ade20k': 'ade20k', 'imagenet': 'imagenet', 'coco': 'coco',
            'cityscapes': 'cityscapes'}
# independent random stream per dataset, so ``which`` does not change any output
_STREAM = {'imagenet': 1, 'coco': 2, 'ade20k': 3, 'cityscapes': 4}

IMAGENET_SIZE = 64
IMAGENET_PER_CLASS = {'train': 40, 'val': 12}
COCO_NUM_IMAGES = {'train2017': 80, 'val2017': 24}
COCO_VAL_FIRST_ID = 10001
ADE_SIZE = 128
ADE_NUM_IMAGES = {'training': 48, 'validation': 16}
CITYSCAPES_SIZE = (128, 256)  # (h, w)
CITYSCAPES_CITIES = {'train': (('aachen', 20), ('bremen', 20)), 'val': (('frankfurt', 12), )}

_RGB = {  # base colours of the shape classes
    'red': (215, 40, 40),
    'green': (40, 170, 60),
    'blue': (45, 80, 215),
    'yellow': (225, 205, 35),
}
_COCO_COLOUR = {'circle': 'red', 'square': 'green', 'triangle': 'blue'}


# --------------------------------------------------------------------------- file output
def _write_jpg(path, rgb):
    ok, buf = cv2.imencode('.jpg', np.ascontiguousarray(rgb[..., ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    assert ok, path
    with open(path, 'wb') as f:
        f.write(buf.tobytes())


def _write_png(path, arr):
    if arr.ndim == 3:
        arr = arr[..., ::-1]
    ok, buf = cv2.imencode('.png', np.ascontiguousarray(arr),
                           [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    assert ok, path
    with open(path, 'wb') as f:
        f.write(buf.tobytes())


def _write_text(path, text):
    with open(path, 'w', encoding='utf-8', newline='\n') as f:
        f.write(text)


def _write_json(path, obj):
    _write_text(path, json.dumps(obj, separators=(',', ':')) + '\n')


# --------------------------------------------------------------------------- drawing helpers
def _grid(h, w):
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return ys, xs


def _smooth_noise(rng, h, w, cells, channels=1):
    """Low-frequency noise in [0, 1], shape (h, w, channels)."""
    small = rng.rand(cells, cells, channels).astype(np.float32)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(big.reshape(h, w, channels), 0, 1)


def _to_u8(img):
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _jitter(rng, rgb, amount=18, bright=(0.8, 1.1)):
    c = np.asarray(rgb, np.float32) * rng.uniform(*bright) + rng.uniform(-amount, amount, 3)
    return np.clip(c, 0, 255)


def _textured_background(rng, h, w):
    """Low-saturation gradient + blotches + a few faint lines (float32 RGB)."""
    ys, xs = _grid(h, w)
    c0 = rng.uniform(70, 190) + rng.uniform(-25, 25, 3)
    c1 = rng.uniform(70, 190) + rng.uniform(-25, 25, 3)
    a = rng.uniform(0, 2 * np.pi)
    t = xs * np.cos(a) + ys * np.sin(a)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
    img = c0 * (1 - t[..., None]) + c1 * t[..., None]
    img += (_smooth_noise(rng, h, w, rng.randint(3, 7)) - 0.5) * rng.uniform(20, 60)
    img = _to_u8(img)
    for _ in range(rng.randint(0, 4)):
        p0 = (int(rng.randint(0, w)), int(rng.randint(0, h)))
        p1 = (int(rng.randint(0, w)), int(rng.randint(0, h)))
        g = float(rng.uniform(60, 200))
        cv2.line(img, p0, p1, (g, g, g), int(rng.randint(1, 3)), cv2.LINE_AA)
    return img


def _add_noise(rng, img, sigma):
    return _to_u8(img.astype(np.float32) + rng.normal(0, sigma, img.shape).astype(np.float32))


def _unit_polygon(rng, kind):
    """Polygon (N, 2) of a randomly rotated shape, scaled so its bbox is 1 on the long side
    and centred on the origin."""
    a = rng.uniform(0, 2 * np.pi)
    if kind == 'circle':
        t = a + np.arange(32) * (2 * np.pi / 32)
    elif kind == 'square':
        t = a + np.pi / 4 + np.arange(4) * (np.pi / 2)
    elif kind == 'triangle':
        t = a + np.arange(3) * (2 * np.pi / 3) + rng.uniform(-0.12, 0.12, 3)
    else:
        raise ValueError(kind)
    pts = np.stack([np.cos(t), np.sin(t)], axis=1)
    lo, hi = pts.min(0), pts.max(0)
    pts = (pts - (lo + hi) / 2) / float((hi - lo).max())
    return pts


def _fill_poly(img, pts, colour, aa=True):
    """Fill a polygon given in COCO pixel coordinates (pixel i spans [i, i+1])."""
    p = np.rint((np.asarray(pts, np.float64) - 0.5) * 16).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(img, [p], tuple(float(c) for c in colour),
                 lineType=cv2.LINE_AA if aa else cv2.LINE_8, shift=4)


def _draw_stripes(rng, img, cx, cy, size, colour):
    h, w = img.shape[:2]
    ys, xs = _grid(h, w)
    r = size / 2.0
    inside = (xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2 <= r * r
    a = rng.uniform(0, np.pi)
    period = rng.uniform(5.0, 8.0)
    phase = ((xs - cx) * np.cos(a) + (ys - cy) * np.sin(a)) / period + rng.uniform(0, 1)
    on = inside & (np.mod(phase, 1.0) < 0.5)
    img[on] = _to_u8(colour)


# --------------------------------------------------------------------------- ImageNet
def _gen_imagenet(root, rng):
    s = IMAGENET_SIZE
    os.makedirs(osp.join(root, 'meta'))
    counts = {}
    for split, per_class in IMAGENET_PER_CLASS.items():
        lines = []
        for label, name in enumerate(TINY_IMAGENET_CLASSES):
            colour_name, kind = name.split('_')
            cls_dir = osp.join(root, split, name)
            os.makedirs(cls_dir)
            for i in range(per_class):
                img = _textured_background(rng, s, s)
                colour = _jitter(rng, _RGB[colour_name])
                size = rng.uniform(22, 44)
                cx = rng.uniform(size / 2 + 2, s - size / 2 - 2)
                cy = rng.uniform(size / 2 + 2, s - size / 2 - 2)
                if kind == 'stripes':
                    _draw_stripes(rng, img, cx, cy, size, colour)
                else:
                    pts = _unit_polygon(rng, kind) * size + (cx, cy)
                    _fill_poly(img, pts, colour)
                img = _add_noise(rng, img, rng.uniform(3, 8))
                fname = f'{name}_{i:04d}.JPEG' if split == 'train' else \
                    f'{name}_val_{i:04d}.JPEG'
                _write_jpg(osp.join(cls_dir, fname), img)
                lines.append(f'{name}/{fname} {label}\n')
        _write_text(osp.join(root, 'meta', f'{split}.txt'), ''.join(lines))
        counts[split] = len(lines)
    _write_text(osp.join(root, 'meta', 'classes.txt'),
                ''.join(c + '\n' for c in TINY_IMAGENET_CLASSES))
    return counts


# --------------------------------------------------------------------------- COCO
def _polygon_area(pts):
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _gen_coco(root, rng):
    os.makedirs(osp.join(root, 'annotations'))
    categories = [dict(id=i + 1, name=c, supercategory='shape')
                  for i, c in enumerate(TINY_COCO_CLASSES)]
    counts = {}
    for split, n_images in COCO_NUM_IMAGES.items():
        img_dir = osp.join(root, split)
        os.makedirs(img_dir)
        first_id = 1 if split == 'train2017' else COCO_VAL_FIRST_ID
        images, anns = [], []
        for k in range(n_images):
            img_id = first_id + k
            w = int(rng.choice([128, 144, 160]))
            h = int(rng.choice([128, 144, 160]))
            img = _textured_background(rng, h, w)
            placed = []
            for _ in range(rng.randint(1, 4)):
                cat = int(rng.randint(len(TINY_COCO_CLASSES)))
                kind = TINY_COCO_CLASSES[cat]
                size = rng.uniform(24, 64)
                unit = _unit_polygon(rng, kind) * size
                bw, bh = unit.max(0) - unit.min(0)
                for _try in range(30):
                    x0 = rng.uniform(1, w - 1 - bw)
                    y0 = rng.uniform(1, h - 1 - bh)
                    box = (x0 - 3, y0 - 3, x0 + bw + 3, y0 + bh + 3)
                    if all(box[0] >= b[2] or box[2] <= b[0] or box[1] >= b[3]
                           or box[3] <= b[1] for b in placed):
                        break
                else:
                    continue
                placed.append(box)
                pts = np.round(unit - unit.min(0) + (x0, y0), 2)
                _fill_poly(img, pts, _jitter(rng, _RGB[_COCO_COLOUR[kind]]))
                lo, hi = pts.min(0), pts.max(0)
                anns.append(dict(
                    id=len(anns) + 1,
                    image_id=img_id,
                    category_id=cat + 1,
                    segmentation=[[round(float(v), 2) for v in pts.reshape(-1)]],
                    area=round(_polygon_area(pts), 2),
                    bbox=[round(float(lo[0]), 2), round(float(lo[1]), 2),
                          round(float(hi[0] - lo[0]), 2), round(float(hi[1] - lo[1]), 2)],
                    iscrowd=0))
            img = _add_noise(rng, img, rng.uniform(3, 8))
            fname = f'{img_id:012d}.jpg'
            _write_jpg(osp.join(img_dir, fname), img)
            images.append(dict(id=img_id, file_name=fname, width=w, height=h, license=1))
        coco = dict(
            info=dict(description='pinas_mm tiny synthetic COCO-format dataset',
                      url='', version=str(TINY_VERSION), year=2024, contributor='pinas_mm',
                      date_created='2024-01-01'),
            licenses=[dict(id=1, name='synthetic data, no restrictions', url='')],
            images=images,
            annotations=anns,
            categories=categories)
        _write_json(osp.join(root, 'annotations', f'instances_{split}.json'), coco)
        counts[split] = dict(images=len(images), annotations=len(anns))
    return counts


# --------------------------------------------------------------------------- ADE20K
def _wavy(rng, w, base, amp):
    xs = np.arange(w, dtype=np.float32)
    return base + amp * np.sin(2 * np.pi * xs / rng.uniform(60, 200) + rng.uniform(0, 6.3))


def _ade_scene(rng, s=ADE_SIZE):
    ys, xs = _grid(s, s)
    label = np.zeros((s, s), np.uint8)
    # "other" (0): blotchy mixture of two random dark colours
    ca, cb = rng.uniform(25, 120, 3), rng.uniform(25, 120, 3)
    m = _smooth_noise(rng, s, s, rng.randint(6, 12))
    img = ca * (1 - m) + cb * m + rng.normal(0, 10, (s, s, 3))
    # sky (3): smooth vertical blue gradient above a wavy horizon
    horizon = _wavy(rng, s, rng.uniform(28, 50), rng.uniform(0, 6))
    sky = ys < horizon[None, :]
    top, bottom = _jitter(rng, (60, 120, 205), 12), _jitter(rng, (175, 210, 240), 10, (0.95, 1.05))
    t = np.clip(ys / horizon.max(), 0, 1)[..., None]
    img[sky] = (top * (1 - t) + bottom * t)[sky] + rng.normal(0, 1.5, (int(sky.sum()), 3))
    label[sky] = 3
    floor_top = rng.uniform(82, 100)
    n_build, n_wall = rng.randint(0, 3), rng.randint(0, 3)
    if n_build + n_wall == 0:
        n_build = 1
    # building (2): grey blocks with a grid of dark windows
    for _ in range(n_build):
        bw = rng.uniform(18, 48)
        x0 = rng.uniform(-8, s - bw + 8)
        y0 = rng.uniform(10, horizon.mean() + 12)
        box = (xs >= x0) & (xs < x0 + bw) & (ys >= y0) & (ys < floor_top + 6)
        grey = rng.uniform(105, 165) + rng.uniform(-8, 8, 3)
        px, py = rng.uniform(7, 10), rng.uniform(9, 12)
        win = (np.mod(xs - x0, px) > px * 0.45) & (np.mod(ys - y0, py) > py * 0.5)
        tex = np.where(win[..., None], _jitter(rng, (55, 65, 90), 10), grey)
        img[box] = tex[box] + rng.normal(0, 4, (int(box.sum()), 3))
        label[box] = 2
    # wall (1): low brick walls standing on the floor
    for _ in range(n_wall):
        ww = rng.uniform(26, 70)
        x0 = rng.uniform(-10, s - ww + 10)
        y0 = floor_top - rng.uniform(14, 32)
        box = (xs >= x0) & (xs < x0 + ww) & (ys >= y0) & (ys < floor_top + 6)
        brick = _jitter(rng, (175, 70, 45), 15)
        row = np.floor((ys - y0) / 6.0)
        mortar = (np.mod(ys - y0, 6.0) < 1.2) | \
            (np.mod(xs - x0 + 6.0 * np.mod(row, 2), 12.0) < 1.2)
        tex = np.where(mortar[..., None], _jitter(rng, (205, 195, 180), 10), brick)
        img[box] = tex[box] + rng.normal(0, 5, (int(box.sum()), 3))
        label[box] = 1
    # floor (4): checkered tan tiles below a gently wavy line
    floor = ys >= _wavy(rng, s, floor_top, rng.uniform(0, 3))[None, :]
    tan = _jitter(rng, (165, 125, 85), 15)
    p = rng.uniform(10, 16)
    checker = (np.mod(np.floor(xs / p) + np.floor(ys / p), 2) * 2 - 1)[..., None]
    tex = tan + checker * rng.uniform(14, 26)
    img[floor] = tex[floor] + rng.normal(0, 6, (int(floor.sum()), 3))
    label[floor] = 4
    return _to_u8(img), label


def _gen_ade20k(root, rng):
    base = osp.join(root, 'ADEChallengeData2016')
    counts = {}
    for split, n in ADE_NUM_IMAGES.items():
        img_dir = osp.join(base, 'images', split)
        ann_dir = osp.join(base, 'annotations', split)
        os.makedirs(img_dir)
        os.makedirs(ann_dir)
        tag = 'train' if split == 'training' else 'val'
        for i in range(1, n + 1):
            img, label = _ade_scene(rng)
            stem = f'ADE_{tag}_{i:08d}'
            _write_jpg(osp.join(img_dir, stem + '.jpg'), img)
            _write_png(osp.join(ann_dir, stem + '.png'), label)
        counts[split] = n
    return counts


# --------------------------------------------------------------------------- Cityscapes
def _cityscapes_scene(rng):
    h, w = CITYSCAPES_SIZE
    ys, xs = _grid(h, w)
    label = np.full((h, w), 255, np.uint8)
    img = np.zeros((h, w, 3), np.float32)
    ground = rng.uniform(62, 76)
    # sky (10)
    top, bottom = _jitter(rng, (70, 130, 180), 12), _jitter(rng, (190, 215, 235), 10)
    t = np.clip(ys / ground, 0, 1)[..., None]
    sky = ys < ground
    img[sky] = (top * (1 - t) + bottom * t)[sky]
    label[sky] = 10
    # buildings (2): blocks along the street with window grids, gaps show sky
    x = rng.uniform(-30, 0)
    while x < w:
        bw = rng.uniform(24, 64)
        if rng.rand() < 0.85:
            y0 = rng.uniform(6, ground - 18)
            box = (xs >= x) & (xs < x + bw) & (ys >= y0) & (ys < ground)
            base = _jitter(rng, [(150, 140, 125), (120, 115, 110), (140, 100, 80),
                                 (175, 165, 145)][rng.randint(4)], 12)
            px, py = rng.uniform(7, 11), rng.uniform(8, 12)
            win = (np.mod(xs - x, px) > px * 0.5) & (np.mod(ys - y0, py) > py * 0.55)
            tex = np.where(win[..., None], _jitter(rng, (50, 60, 75), 10), base)
            img[box] = tex[box]
            label[box] = 2
        x += bw + rng.uniform(0, 14)
    # vegetation (8): tree crowns made of overlapping discs, trunks are ignore (255)
    for _ in range(rng.randint(1, 4)):
        tx, crown_y = rng.uniform(0, w), ground - rng.uniform(14, 30)
        trunk = (np.abs(xs - tx) < 2.0) & (ys >= crown_y) & (ys < ground + 4)
        img[trunk] = _jitter(rng, (90, 65, 40), 8)
        label[trunk] = 255
        crown = np.zeros((h, w), bool)
        for _d in range(rng.randint(3, 6)):
            r = rng.uniform(7, 15)
            cx, cy = tx + rng.uniform(-12, 12), crown_y + rng.uniform(-10, 6)
            crown |= (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r
        leaf = _jitter(rng, (55, 115, 40), 12)
        tex = leaf + (_smooth_noise(rng, h, w, 40) - 0.5) * 70
        img[crown] = tex[crown]
        label[crown] = 8
    # ground: sidewalk (ignore) everywhere, road (0) trapezoid towards a vanishing point
    below = ys >= ground
    img[below] = _jitter(rng, (175, 160, 165), 10)
    vp = w / 2 + rng.uniform(-40, 40)
    half_top, half_bottom = rng.uniform(12, 30), rng.uniform(150, 220)
    frac = np.clip((ys - ground) / (h - ground), 0, 1)
    half = half_top + (half_bottom - half_top) * frac
    road = below & (np.abs(xs - vp - (w / 2 - vp) * frac * 0.3) <= half)
    img[road] = _jitter(rng, (80, 80, 85), 8)
    centre = vp + (w / 2 - vp) * frac * 0.3
    dash = road & (np.abs(xs - centre) <= 0.6 + 2.0 * frac) & \
        (np.mod((ys - ground) / (2 + 10 * frac), 2.0) < 1.0)
    img[dash] = (225, 225, 215)
    label[road] = 0
    # cars (13): far ones first so near ones occlude them
    bottoms = np.sort(rng.uniform(ground + 12, h - 3, rng.randint(1, 4)))
    for yb in bottoms:
        f = (yb - ground) / (h - ground)
        cw = 28 + 62 * f
        c = vp + (w / 2 - vp) * f * 0.3
        hw = half_top + (half_bottom - half_top) * f
        x0 = rng.uniform(max(c - hw, -cw / 3), min(c + hw - cw, w - cw * 2 / 3))
        body = (xs >= x0) & (xs < x0 + cw) & (ys >= yb - 0.34 * cw) & (ys < yb - 0.08 * cw)
        yc = yb - 0.34 * cw - ys  # height above body top
        cab = (yc >= 0) & (yc < 0.2 * cw) & \
            (xs >= x0 + 0.18 * cw + yc * 0.5) & (xs < x0 + 0.82 * cw - yc * 0.5)
        wheels = np.zeros((h, w), bool)
        for wx in (0.22, 0.78):
            wheels |= (xs - x0 - wx * cw) ** 2 + (ys - yb + 0.1 * cw) ** 2 <= (0.1 * cw) ** 2
        paint = _jitter(rng, [(180, 30, 30), (30, 60, 160), (220, 220, 220), (40, 40, 45),
                              (200, 160, 30)][rng.randint(5)], 15)
        img[body] = paint
        img[cab] = _jitter(rng, (60, 80, 100), 10)
        img[wheels] = (20, 20, 20)
        car = body | cab | wheels
        label[car] = 13
    img = img + rng.normal(0, 2.5, img.shape)
    return _to_u8(img), label


def _gen_cityscapes(root, rng):
    counts = {}
    for split, cities in CITYSCAPES_CITIES.items():
        n = 0
        for city, n_frames in cities:
            img_dir = osp.join(root, 'leftImg8bit', split, city)
            gt_dir = osp.join(root, 'gtFine', split, city)
            os.makedirs(img_dir)
            os.makedirs(gt_dir)
            for i in range(n_frames):
                img, label = _cityscapes_scene(rng)
                stem = f'{city}_000000_{i:06d}'
                _write_png(osp.join(img_dir, stem + '_leftImg8bit.png'), img)
                _write_png(osp.join(gt_dir, stem + '_gtFine_labelTrainIds.png'), label)
                n += 1
        counts[split] = n
    return counts


_GENERATORS = {
    'imagenet': _gen_imagenet,
    'coco': _gen_coco,
    'ade20k': _gen_ade20k,
    'cityscapes': _gen_cityscapes,
}


# --------------------------------------------------------------------------- entry point
def _read_stamp(top):
    try:
        with open(osp.join(top, STAMP_NAME), encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _stamp_matches(stamp, name, seed):
    return isinstance(stamp, dict) and stamp.get('generator') == _GENERATOR_ID and \
        stamp.get('version') == TINY_VERSION and stamp.get('seed') == seed and \
        stamp.get('dataset') == name


def make_tiny_datasets(out_dir, seed=0, which=('imagenet', 'coco', 'ade20k', 'cityscapes'),
                       overwrite=False):
    """Generate the tiny datasets under ``out_dir``; return ``{name: data_root}``.

    Args:
        out_dir (str | os.PathLike): parent folder; created if missing.
        seed (int): seed of the ``numpy.random.RandomState`` streams (one per dataset, so
            the content of a dataset does not depend on ``which``).
        which (str | Sequence[str]): any of ``'imagenet'``, ``'coco'``, ``'ade20k'`` (alias
            ``'ade'``), ``'cityscapes'``.
        overwrite (bool): regenerate even when an up-to-date copy exists, and replace a
            copy made with another seed/version. Folders not made by this generator (no
            stamp) are never deleted.

    Returns:
        dict: dataset name -> absolute ``data_root`` path (``.../ade/ADEChallengeData2016``
        for ADE20K), in the order of ``which``.

    A dataset folder whose stamp matches (generator, version, seed) is returned untouched.
    Each dataset is built in a temporary sibling folder and renamed into place, so a crash
    never leaves a half-written dataset behind and concurrent callers do not collide.
    """
    if isinstance(which, str):
        which = (which, )
    names = []
    for w in which:
        if w not in _ALIASES:
            raise ValueError(f'unknown tiny dataset {w!r}; choose from {sorted(_ALIASES)}')
        if _ALIASES[w] not in names:
            names.append(_ALIASES[w])
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise ValueError(f'seed must be in [0, 2**32), got {seed}')
    out_dir = osp.abspath(os.fspath(out_dir))
    os.makedirs(out_dir, exist_ok=True)

    roots = {}
    for name in names:
        top = osp.join(out_dir, _TOP[name])
        roots[name] = osp.join(out_dir, TINY_DATASET_ROOTS[name])
        if osp.lexists(top):
            stamp = _read_stamp(top)
            if _stamp_matches(stamp, name, seed) and not overwrite:
                continue
            if stamp is None or stamp.get('generator') != _GENERATOR_ID:
                raise FileExistsError(
                    f'{top} exists and was not made by make_tiny_datasets (no '
                    f'{STAMP_NAME}); refusing to touch it - choose another out_dir')
            if not overwrite:
                raise FileExistsError(
                    f'{top} holds tiny data of another seed/version '
                    f"(seed={stamp.get('seed')}, version={stamp.get('version')}); "
                    'pass overwrite=True to regenerate it')
        tmp = tempfile.mkdtemp(prefix=f'.{_TOP[name]}.partial-', dir=out_dir)
        try:
            os.chmod(tmp, 0o755)
            rng = np.random.RandomState([seed, _STREAM[name]])
            counts = _GENERATORS[name](tmp, rng)
            _write_json(osp.join(tmp, STAMP_NAME),
                        dict(generator=_GENERATOR_ID, version=TINY_VERSION, seed=seed,
                             dataset=name, data_root=TINY_DATASET_ROOTS[name],
                             counts=counts))
            if osp.lexists(top):  # overwrite=True of our own (stamped) copy
                shutil.rmtree(top)
            try:
                os.rename(tmp, top)
            except OSError:
                # another process finished the same dataset first; keep it if it matches
                if not _stamp_matches(_read_stamp(top), name, seed):
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return {name: roots[name] for name in names}
