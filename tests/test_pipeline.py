"""tools/pipeline.py (the main job): its stage configs, its data re-rooting and its
inherited-vs-random report over seeds.

The pipeline itself runs end to end in CI (`.ci/run` runs the tiny and the real preset);
these tests check the parts that decide what the report says, without training anything."""
import importlib
import json
import os
import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='module')
def pipeline():
    return importlib.import_module('pinas_mm.orchestration.pipeline')


@pytest.mark.parametrize('data', ['tiny', 'real'])
@pytest.mark.parametrize('stage', ['supernet', 'probe', 'det', 'seg'])
def test_stage_schedules_end_with_the_run(pipeline, data, stage):
    """Every lr schedule of a stage ends where its run ends, and the stage waits for the
    checkpoint of that last epoch/iteration."""
    from mmengine.config import Config
    config = pipeline.PRESETS[data][stage]
    cfg = Config.fromfile(osp.join(ROOT, config), import_custom_modules=False)
    by_epoch = 'max_epochs' in cfg.train_cfg
    length = cfg.train_cfg.max_epochs if by_epoch else cfg.train_cfg.max_iters
    for sched in cfg.param_scheduler:
        if sched.get('by_epoch', True) == by_epoch and 'end' in sched and \
                sched['end'] > length:
            pytest.fail(f'{config}: {sched["type"]} ends at {sched["end"]}, '
                        f'after the run ({length})')
    unit = 'epoch' if by_epoch else 'iter'
    assert pipeline.last_checkpoint(config) == f'{unit}_{length}.pth'
    if stage in ('det', 'seg'):  # validated at the end: the report reads that metric
        assert cfg.train_cfg.val_interval == length


@pytest.mark.parametrize('data', ['tiny', 'real'])
def test_every_data_path_of_a_preset_is_rerooted(pipeline, data):
    """--data-root moves every path the stage configs name under their data root, and
    nothing else: after re-rooting no config path points at the old root."""
    from mmengine.config import Config
    preset = pipeline.PRESETS[data]
    for stage in ('supernet', 'probe', 'search', 'det', 'seg'):
        cfg = Config.fromfile(osp.join(ROOT, preset[stage]), import_custom_modules=False)
        opts = pipeline.reroot_options(cfg, preset['config_root'], '/data/copy')
        assert opts, stage
        cfg.merge_from_dict(dict(o.split('=', 1) for o in opts))
        assert pipeline.reroot_options(cfg, preset['config_root'], '/x') == [], stage
        for o in opts:
            assert o.split('=', 1)[1].startswith('/data/copy/'), o


def test_reroot_options_keeps_trailing_slashes_and_walks_lists(pipeline):
    cfg = {'a': {'data_root': '../shared/data/coco128/', 'ann_file': 'annotations/x.json'},
           'ev': [{'ann_file': '../shared/data/coco128/annotations/v.json'}],
           'other': '../shared/database/x', 'n': 3}
    assert sorted(pipeline.reroot_options(cfg, '../shared/data', '/d')) == [
        'a.data_root=/d/coco128/', 'ev.0.ann_file=/d/coco128/annotations/v.json']


def test_summarize_and_compare(pipeline):
    mean, std, n = pipeline.summarize([1.0, 2.0, 3.0])
    assert (mean, std, n) == (2.0, 1.0, 3)
    assert pipeline.summarize([5.0]) == (5.0, None, 1)
    with pytest.raises(ValueError):
        pipeline.summarize([])
    c = pipeline.compare([10.0, 11.0, 12.0], [1.0, 2.0, 3.0])
    assert c['diff'] == 9.0 and c['spread'] == 2.0 and c['exceeds'] is True
    assert 0 < c['p'] < 0.01  # Welch's t-test, scipy
    c = pipeline.compare([1.0, 2.0, 3.0], [1.5, 2.5, 3.5])
    assert c['diff'] == -0.5 and c['exceeds'] is False and c['p'] > 0.5
    c = pipeline.compare([1.0], [2.0])
    assert c['exceeds'] is None and c['p'] is None and c['spread'] is None
    assert 'no spread' in pipeline.verdict('det', 'm', c)
    assert 'more than the seed spread' in pipeline.verdict(
        'det', 'm', pipeline.compare([10.0, 11.0, 12.0], [1.0, 2.0, 3.0]))
    assert 'no conclusion' in pipeline.verdict(
        'seg', 'mIoU', pipeline.compare([1.0, 2.0, 3.0], [1.5, 2.5, 3.5]))


def _scalars(work_dir, stage, *records):
    run = osp.join(work_dir, stage, '20261123_000000', 'vis_data')
    os.makedirs(run)
    with open(osp.join(run, 'scalars.json'), 'w') as f:
        for rec in records:
            f.write(json.dumps(rec) + '\n')


def test_report_gives_mean_std_over_seeds_and_says_whether_it_exceeds_the_spread(
        pipeline, tmp_path):
    work = str(tmp_path)
    pl = pipeline.Pipeline(work, work, baseline=True, data='real', seeds=3)
    det_in, det_rand = [0.5, 0.6, 0.7], [0.1, 0.2, 0.3]
    seg_in, seg_rand = [80.0, 81.0, 82.0], [80.5, 81.5, 82.5]
    for seed in range(3):
        # an earlier validation first: the report must take the last value of each metric
        _scalars(work, pl.fine_tune_name('det', 'inherited', seed),
                 {'coco/bbox_mAP': 0.9, 'step': 2}, {'loss': 1.0, 'step': 3},
                 {'coco/bbox_mAP': det_in[seed], 'coco/segm_mAP': det_in[seed], 'step': 4})
        _scalars(work, pl.fine_tune_name('det', 'random-init', seed),
                 {'coco/bbox_mAP': det_rand[seed], 'coco/segm_mAP': det_rand[seed],
                  'step': 4})
        _scalars(work, pl.fine_tune_name('seg', 'inherited', seed),
                 {'mIoU': seg_in[seed], 'aAcc': 90.0, 'step': 120})
        _scalars(work, pl.fine_tune_name('seg', 'random-init', seed),
                 {'mIoU': seg_rand[seed], 'aAcc': 90.0, 'step': 120})
    os.makedirs(osp.join(work, '4_search'))
    with open(osp.join(work, '4_search', 'results.json'), 'w') as f:
        json.dump([{'score': 50.0}, {'score': 61.5}, {'score': 42.0}], f)
    pl.rows = [dict(stage=s, command=f'tools/train.py {s}', seconds=7)
               for s in ('4_search', '6_det_inherited_seed0', '7_seg_random-init_seed2')]
    pl.report('0' * 16, 'arch.yaml', 'backbone.pth', 1.0)
    report = open(osp.join(work, 'report.md')).read()
    assert '| det | coco/bbox_mAP | 0.6 ± 0.1 (n=3) | 0.2 ± 0.1 (n=3) | +0.4 | 0.2 | yes |' \
        in report
    assert '| seg | mIoU | 81 ± 1 (n=3) | 81.5 ± 1 (n=3) | -0.5 | 2 | no |' in report
    assert 'det coco/bbox_mAP: inherited is higher by 0.4, more than the seed spread' in report
    assert 'seg mIoU: random init is higher by 0.5, within the seed spread' in report
    assert '| 6_det_inherited_seed0 | coco/bbox_mAP 0.5' in report  # the last value
    assert '3 archs evaluated, best linear-probe top-1 61.5 (held-out part' in report
    assert 'Chosen arch: `0000000000000000`' in report
    for key in ('- torch: ', '- torch.get_num_threads(): ', '- OMP_NUM_THREADS: ',
                '- CPU model: ', 'load average (1 min) at start / end'):
        assert key in report, key


def test_report_with_one_seed_has_no_spread(pipeline, tmp_path):
    work = str(tmp_path)
    pl = pipeline.Pipeline(work, work, data='tiny', seeds=1)
    for init, v in (('inherited', 0.5), ('random-init', 0.4)):
        _scalars(work, pl.fine_tune_name('det', init, 0), {'coco/bbox_mAP': v, 'step': 4})
    pl.rows = []
    pl.report('0' * 16, 'arch.yaml', 'backbone.pth', 1.0)
    report = open(osp.join(work, 'report.md')).read()
    assert '| det | coco/bbox_mAP | 0.5 (n=1) | 0.4 (n=1) | +0.1 | - | - | - |' in report
    assert 'one seed per side' in report


def test_bad_arguments_name_the_value(pipeline, tmp_path):
    with pytest.raises(ValueError, match='--data'):
        pipeline.Pipeline(str(tmp_path), data='imagenet')
    with pytest.raises(ValueError, match='--seeds 0'):
        pipeline.Pipeline(str(tmp_path), seeds=0)
    with pytest.raises(SystemExit, match='no cifar10, coco128, camvid under'):
        pipeline.Pipeline(str(tmp_path), str(tmp_path), data='real').check_data()


def test_threads_split_the_cores_between_parallel_fine_tunes(pipeline, tmp_path, monkeypatch):
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    pl = pipeline.Pipeline(str(tmp_path), jobs=2)
    monkeypatch.setattr(pl, 'cores', lambda: 4)
    assert pl.threads(parallel=True) == '2'
    assert pl.threads(parallel=False) is None  # alone: torch's default, all cores
    assert 'OMP_NUM_THREADS' not in pl.env() and pl.env(True)['OMP_NUM_THREADS'] == '2'
    monkeypatch.setenv('OMP_NUM_THREADS', '1')  # the user's setting wins
    assert pl.threads(parallel=True) == pl.threads(parallel=False) == '1'
