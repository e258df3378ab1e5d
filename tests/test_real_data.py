"""Real-data configs on the real photos and annotations of ``../shared/data``.

* every real-data config loads its real data, trains 2 iterations through
  ``tools/train.py`` and evaluates with its real metric keys (``accuracy/top1``,
  ``coco/bbox_mAP``, ``coco/segm_mAP``, ``mIoU``); the search config scores candidates;
* ``pinas_mm.CamVidDataset`` has CamVid's 11 classes and keeps void as the ignore index;
* coco128's train photos without objects and its crowd regions load and train;
* the held-out part of the CIFAR-10 train split (search scoring) is disjoint from the
  linear probe's training part, deterministic, and never the val split.

The data is read-only and lies beside the repository (``../shared/data``, see its
README.md); ``PINAS_REAL_DATA`` points the tests at another copy.
"""
import math
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config

from test_downstream import as_argv, cfg_path, load_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA = osp.abspath(os.environ.get('PINAS_REAL_DATA', osp.join(ROOT, '..', 'shared', 'data')))
CONFIG_ROOT = '../shared/data'

REAL = {
    'pinas': 'configs/pinas/pinas_tiny-space_1xb64-coslr-2e_cifar10.py',
    'spos': 'configs/spos/spos_tiny-space_1xb64-coslr-2e_cifar10.py',
    'probe': 'configs/linear_probe/linear-probe_pinas-tiny-supernet_1xb64-steplr-3e_cifar10.py',
    'search': 'configs/search/search-evolution_pinas-tiny-supernet_linear-probe_cifar10.py',
    'det': 'configs/mask_rcnn/mask-rcnn_pinas-trans-tiny-fpn_1xb2-ms-2e_coco128.py',
    'seg': 'configs/deeplabv3/deeplabv3_pinas-trans-tiny-d8_1xb2-120i_camvid-180x240.py',
}
METRICS = {'spos': ('accuracy/top1', ), 'probe': ('accuracy/top1', ),
           'det': ('coco/bbox_mAP', 'coco/segm_mAP'), 'seg': ('mIoU', )}
# coco128 train: the photos without objects and those with crowd (iscrowd=1) regions
COCO128_EMPTY = (250, 508)
COCO128_CROWD = (149, 257, 315, 357, 438)


@pytest.fixture(scope='module', autouse=True)
def real_data():
    missing = [d for d in ('cifar10', 'coco128', 'camvid') if not osp.isdir(osp.join(DATA, d))]
    if missing:
        pytest.fail(f'real data missing: {missing} under {DATA}; expected ../shared/data '
                    '(see its README.md) or PINAS_REAL_DATA=DIR')
    return DATA


def tools_pipeline():
    return load_tool('pipeline')


def data_opts(name):
    """--cfg-options re-rooting a real config at DATA (a no-op on the shared copy)."""
    cfg = Config.fromfile(cfg_path(REAL[name]))
    return dict(o.split('=', 1) for o in
                tools_pipeline().reroot_options(cfg, CONFIG_ROOT, DATA))


def built_dataset(name, loader='train_dataloader'):
    from mmengine.registry import DATASETS, init_default_scope

    import pinas_mm  # noqa: F401
    cfg = Config.fromfile(cfg_path(REAL[name]))
    cfg.merge_from_dict(data_opts(name))
    init_default_scope(cfg.default_scope)
    node = cfg
    for part in loader.split('.'):
        node = node[part]
    return DATASETS.build(node.dataset)


# ------------------------------------------------------------------ configs
def test_real_configs_default_to_the_shared_data():
    for name, rel in REAL.items():
        cfg = Config.fromfile(cfg_path(rel))
        assert tools_pipeline().reroot_options(cfg, CONFIG_ROOT, '/elsewhere'), name
        assert 'data/tiny' not in cfg.pretty_text, name


def test_pipeline_real_preset_uses_these_configs():
    preset = tools_pipeline().PRESETS['real']
    for stage in ('probe', 'search', 'det', 'seg'):
        assert preset[stage] == REAL[stage]
    assert preset['supernet'] == REAL['pinas']


# ------------------------------------------------------------------ train + evaluate
def _train_and_val(name, tmp_path, opts):
    train = load_tool('train')
    opts = {**data_opts(name), 'default_hooks.logger.interval': 1, **opts}
    runner = train.main([cfg_path(REAL[name]), '--work-dir', str(tmp_path)] + as_argv(opts))
    assert runner.train_loop.iter == 2, runner.train_loop.iter
    if name not in METRICS:
        return runner, {}
    metrics = runner.val()
    print(f'\n{name}: {dict(sorted(metrics.items()))}')
    for key in METRICS[name]:
        assert key in metrics, (key, sorted(metrics))
        assert isinstance(metrics[key], float) and math.isfinite(metrics[key]), metrics
    return runner, metrics


# classification: val on 2 photos per class
CLS_VAL = [c * 200 + i for c in range(10) for i in range(2)]


def test_pinas_real_trains_on_unlabelled_photos(tmp_path):
    runner, _ = _train_and_val('pinas', tmp_path, {
        'train_dataloader.batch_size': 8, 'train_dataloader.dataset.indices': 16,
        'train_cfg.max_epochs': 1, 'model.queue_len': 16})
    assert len(runner.train_dataloader.dataset.get_data_info(0).get('gt_label', [])) == 0
    assert runner.train_dataloader.dataset.data_prefix['img_path'].endswith('cifar10/train')


def test_spos_real_trains_and_evaluates(tmp_path):
    _train_and_val('spos', tmp_path, {
        'train_dataloader.batch_size': 8, 'train_dataloader.dataset.indices': 16,
        'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 10**6,
        'val_dataloader.dataset.indices': CLS_VAL})


def test_probe_real_trains_and_evaluates(tmp_path):
    from pinas_mm.models import PiNASSuperNet
    import torch
    ckpt = tmp_path / 'supernet.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in
                               PiNASSuperNet(space='tiny').state_dict().items()}}, ckpt)
    runner, _ = _train_and_val('probe', tmp_path, {
        # 10 photos of 2 classes, 20% held out: 16 photos, 2 batches of 8
        'train_dataloader.batch_size': 8,
        'train_dataloader.dataset.dataset.indices': list(range(10)) + list(range(1000, 1010)),
        'train_dataloader.dataset.fraction': 0.2, 'train_cfg.max_epochs': 1,
        'train_cfg.val_interval': 10**6, 'val_dataloader.dataset.indices': CLS_VAL,
        'model.backbone.init_cfg.checkpoint': str(ckpt)})
    assert runner.train_loop.max_iters == 2


def test_det_real_trains_on_empty_and_crowd_photos_and_evaluates(tmp_path):
    """2 iterations of batch 2 on exactly coco128's photos without objects and two with
    crowd regions; COCO bbox + segm evaluation on 4 val photos with the 80-class head."""
    dataset = built_dataset('det')
    ids = [dataset.get_data_info(i)['img_id'] for i in range(len(dataset))]
    pick = [ids.index(i) for i in (COCO128_EMPTY[0], COCO128_CROWD[0], COCO128_EMPTY[1],
                                   COCO128_CROWD[1])]
    runner, metrics = _train_and_val('det', tmp_path, {
        'train_dataloader.dataset.indices': pick, 'train_cfg.max_epochs': 1,
        'train_cfg.val_begin': 10**6, 'val_dataloader.dataset.indices': 4,
        'model.backbone.init_cfg': None,
        # after 2 iterations no score reaches the config's threshold: keep every box
        'model.test_cfg.rcnn.score_thr': 0.0})
    assert runner.model.roi_head.bbox_head.num_classes == 80
    assert len(runner.train_dataloader.dataset.metainfo['classes']) == 80
    train_log = runner.message_hub.get_scalar('train/loss').data[0]
    assert all(math.isfinite(v) for v in train_log), train_log


def test_seg_real_trains_and_evaluates(tmp_path):
    runner, metrics = _train_and_val('seg', tmp_path, {
        'train_cfg.max_iters': 2, 'train_cfg.val_begin': 10**6,
        'param_scheduler.0.end': 2, 'val_dataloader.dataset.indices': 4,
        'model.backbone.init_cfg': None})
    assert runner.model.decode_head.num_classes == 11
    assert 0 <= metrics['mIoU'] <= 100


def test_search_real_scores_on_the_held_out_part(tmp_path):
    """Two candidates, precise BN on the probe's training part, linear-probe top-1 on a
    held-out part (smaller sets here: 20 photos per class, 20% held out)."""
    from pinas_mm.models import PiNASSuperNet
    import torch
    ckpt = tmp_path / 'probe.pth'
    state = {f'backbone.{k}': v for k, v in PiNASSuperNet(space='tiny').state_dict().items()}
    state['head.fc.weight'] = torch.randn(10, 512) * 0.01
    state['head.fc.bias'] = torch.zeros(10)
    state['step'] = torch.zeros(1, dtype=torch.long)  # SupernetClassifier's counter
    torch.save({'state_dict': state}, ckpt)
    subset = [c * 1000 + i for c in range(10) for i in range(20)]
    search = load_tool('search')
    opts = {**data_opts('search'), 'train_dataloader.dataset.dataset.indices': subset,
            'train_dataloader.dataset.fraction': 0.2,
            'train_cfg.scorer.dataloader.dataset.dataset.indices': subset,
            'train_cfg.scorer.dataloader.dataset.fraction': 0.2,
            'train_cfg.num_candidates': 2, 'train_cfg.recal_batches': 1,
            'train_cfg.strategy.population_size': 2, 'train_cfg.strategy.top_k': 1,
            'train_cfg.strategy.num_mutation': 1, 'train_cfg.strategy.num_crossover': 1,
            'train_cfg.topk': 1}
    search.main([cfg_path(REAL['search']), '--checkpoint', str(ckpt), '--work-dir',
                 str(tmp_path / 'search')] + as_argv(opts))
    import json
    results = json.load(open(tmp_path / 'search' / 'results.json'))
    assert len(results) == 2 and all(0 <= r['score'] <= 100 for r in results)
    assert (tmp_path / 'search' / 'best_arch.yaml').is_file()


# ------------------------------------------------------------------ datasets
def test_camvid_has_11_classes_and_keeps_void_as_ignore_index():
    from pinas_mm.datasets.camvid import CAMVID_CLASSES, CamVidDataset
    train = built_dataset('seg')
    val = built_dataset('seg', 'val_dataloader')
    assert isinstance(train, CamVidDataset)
    assert len(train) == 367 and len(val) == 101
    assert train.metainfo['classes'] == CAMVID_CLASSES and len(CAMVID_CLASSES) == 11
    assert len(train.metainfo['palette']) == 11
    assert train.ignore_index == 255 and train.reduce_zero_label is False
    assert train.metainfo['reduce_zero_label'] is False
    # label_map stays None: the PNG indices are the class indices, void stays 255
    assert train.metainfo.get('label_map') is None
    found = set()
    for i in range(0, 101, 10):  # the test pipeline: resized labels, nearest neighbour
        seg = val[i]['data_samples'].gt_sem_seg.data.numpy()
        found |= set(np.unique(seg).tolist())
    assert 255 in found and found <= set(range(11)) | {255}, found
    assert len(found - {255}) >= 8, found


def test_camvid_errors_name_the_problem(tmp_path):
    from pinas_mm.datasets.camvid import CamVidDataset
    with pytest.raises(FileNotFoundError, match='img_dir'):
        CamVidDataset(data_root=str(tmp_path),
                      data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'))
    with pytest.raises(ValueError, match='reduce_zero_label'):
        CamVidDataset(data_root=osp.join(DATA, 'camvid'), reduce_zero_label=True,
                      data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'))


def test_coco128_keeps_photos_without_objects_and_crowd_regions():
    dataset = built_dataset('det')
    assert len(dataset) == 96  # filter_empty_gt=False: nothing dropped
    by_id = {dataset.get_data_info(i)['img_id']: i for i in range(len(dataset))}
    for img_id in COCO128_EMPTY:
        info = dataset.get_data_info(by_id[img_id])
        assert info['instances'] == []
        sample = dataset[by_id[img_id]]
        assert len(sample['data_samples'].gt_instances) == 0
    crowd = 0
    for img_id in COCO128_CROWD:
        sample = dataset[by_id[img_id]]
        ignored = sample['data_samples'].ignored_instances
        crowd += len(ignored)
        assert len(sample['data_samples'].gt_instances) + len(ignored) == \
            len(dataset.get_data_info(by_id[img_id])['instances'])
    assert crowd >= len(COCO128_CROWD)


def test_held_out_split_is_disjoint_deterministic_and_train_only():
    probe_train = built_dataset('probe')
    search_recal = built_dataset('search')
    search_cfg = Config.fromfile(cfg_path(REAL['search']))
    search_cfg.merge_from_dict(data_opts('search'))
    from mmengine.registry import DATASETS
    held = DATASETS.build(search_cfg.train_cfg.scorer.dataloader.dataset)
    assert type(held).__name__ == 'HeldOutSplit' and held.part == 'held_out'

    def files(ds):
        return [ds.get_data_info(i)['img_path'] for i in range(len(ds))]

    train_files, held_files = files(probe_train), files(held)
    assert len(held_files) == 1000 and len(train_files) == 9000
    assert not set(train_files) & set(held_files)
    assert files(search_recal) == train_files  # precise BN on the probe's part
    assert all('/train/' in f for f in train_files + held_files)
    labels = [held.get_cat_ids(i)[0] for i in range(len(held))]
    assert np.bincount(labels).tolist() == [100] * 10
    # deterministic: a second build holds out exactly the same photos
    assert files(DATASETS.build(search_cfg.train_cfg.scorer.dataloader.dataset)) == held_files


def test_held_out_split_indices_ignore_listing_order():
    from pinas_mm.datasets.split import held_out_split_indices
    paths = [f'c{c}/{i:04d}.jpg' for c in range(3) for i in range(20)]
    labels = [c for c in range(3) for _ in range(20)]
    train, held = held_out_split_indices(labels, paths, 0.25, seed=0)
    assert len(held) == 15 and sorted(train + held) == list(range(60))
    order = np.random.RandomState(0).permutation(60)
    _, held2 = held_out_split_indices([labels[i] for i in order], [paths[i] for i in order],
                                      0.25, seed=0)
    assert sorted(paths[order[i]] for i in held2) == sorted(paths[i] for i in held)
    _, held3 = held_out_split_indices(labels, paths, 0.25, seed=1)
    assert held3 != held
    with pytest.raises(ValueError, match='fraction'):
        held_out_split_indices(labels, paths, 1.5)
    with pytest.raises(ValueError, match='empty part'):
        held_out_split_indices(labels, paths, 0.01)


def test_held_out_split_rejects_unknown_part():
    from pinas_mm.datasets.split import HeldOutSplit
    with pytest.raises(ValueError, match="'held_out', 'train'"):
        HeldOutSplit(dataset=dict(type='mmpretrain.CustomDataset'), part='val')


def test_paper_search_scores_on_held_out_imagenet_train():
    cfg = Config.fromfile(cfg_path(
        'configs/search/search-partition_pinas-supernet_linear-probe_8xb64_in1k.py'))
    probe = Config.fromfile(cfg_path(
        'configs/linear_probe/linear-probe_pinas-supernet_8xb32-steplr-100e_in1k.py'))
    scored = cfg.train_cfg.scorer.dataloader.dataset
    assert scored.type == 'pinas_mm.HeldOutSplit' and scored.part == 'held_out'
    assert scored.dataset.split == 'train'
    trained = probe.train_dataloader.dataset
    assert trained.type == 'pinas_mm.HeldOutSplit' and trained.part == 'train'
    assert (trained.fraction, trained.seed) == (scored.fraction, scored.seed)
    assert cfg.train_dataloader.dataset.part == 'train'
    assert 'val' not in str(scored)
