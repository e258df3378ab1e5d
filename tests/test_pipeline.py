"""tools/pipeline.py (the main job): its stage configs and its inherited-vs-random report.

The pipeline itself runs end to end in CI (`.ci/run` runs `tools/run_demo.sh`); these tests
check the parts that decide what the report says, without training anything."""
import importlib.util
import json
import os
import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='module')
def pipeline():
    spec = importlib.util.spec_from_file_location('pinas_pipeline',
                                                  osp.join(ROOT, 'tools', 'pipeline.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('stage', ['supernet', 'probe', 'det', 'seg'])
def test_stage_schedules_end_with_the_run(pipeline, stage):
    """Every lr schedule of a stage ends where its run ends, and the stage waits for the
    checkpoint of that last epoch/iteration."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, pipeline.CFG[stage]))
    by_epoch = 'max_epochs' in cfg.train_cfg
    length = cfg.train_cfg.max_epochs if by_epoch else cfg.train_cfg.max_iters
    for sched in cfg.param_scheduler:
        if sched.get('by_epoch', True) == by_epoch and 'end' in sched and \
                sched['end'] > length:
            pytest.fail(f'{pipeline.CFG[stage]}: {sched["type"]} ends at {sched["end"]}, '
                        f'after the run ({length})')
    unit = 'epoch' if by_epoch else 'iter'
    assert pipeline.last_checkpoint(pipeline.CFG[stage]) == f'{unit}_{length}.pth'


def _scalars(work_dir, stage, *records):
    run = osp.join(work_dir, stage, '20261123_000000', 'vis_data')
    os.makedirs(run)
    with open(osp.join(run, 'scalars.json'), 'w') as f:
        for rec in records:
            f.write(json.dumps(rec) + '\n')


def test_report_compares_the_last_metrics_of_inherited_and_random_runs(pipeline, tmp_path):
    work = str(tmp_path)
    # an earlier validation first: the report must take the last value of each metric
    _scalars(work, '6_det', {'coco/bbox_mAP': 0.9, 'step': 2},
             {'loss': 1.0, 'step': 3}, {'coco/bbox_mAP': 0.5, 'coco/segm_mAP': 0.6, 'step': 4})
    _scalars(work, '6_det_random-init', {'coco/bbox_mAP': 0.4, 'coco/segm_mAP': 0.7, 'step': 4})
    _scalars(work, '7_seg', {'mIoU': 80.0, 'aAcc': 90.0, 'step': 200})
    _scalars(work, '7_seg_random-init', {'mIoU': 70.0, 'aAcc': 91.0, 'step': 200})
    os.makedirs(osp.join(work, '4_search'))
    with open(osp.join(work, '4_search', 'results.json'), 'w') as f:
        json.dump([{'score': 50.0}, {'score': 61.5}, {'score': 42.0}], f)
    pl = pipeline.Pipeline(work, work, baseline=True)
    pl.rows = [dict(stage=s, command=f'tools/train.py {s}', seconds=1)
               for s in ('4_search', '6_det', '7_seg', '6_det_random-init',
                         '7_seg_random-init')]
    pl.report('0' * 16, 'arch.yaml', 'backbone.pth', 1.0)
    report = open(osp.join(work, 'report.md')).read()
    assert '| det | coco/bbox_mAP | 0.5 | 0.4 | +0.1 |' in report
    assert '| det | coco/segm_mAP | 0.6 | 0.7 | -0.1 |' in report
    assert '| seg | mIoU | 80 | 70 | +10 |' in report
    assert '| seg | aAcc | 90 | 91 | -1 |' in report
    assert '3 archs evaluated, best linear-probe top-1 61.5' in report
    assert 'Chosen arch: `0000000000000000`' in report
