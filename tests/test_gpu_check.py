"""tools/gpu_check.sh and benchmarks/gpu_check.py: the CPU dry run of every row, and the
one-line failure without a GPU (the GPU run itself needs a device machine)."""
import os
import os.path as osp
import subprocess

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_gpu_check():
    from benchmarks import gpu_check
    return gpu_check


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the no-GPU failure')
def test_without_gpu_the_script_fails_with_one_line():
    out = subprocess.run(['bash', osp.join(ROOT, 'tools', 'gpu_check.sh')],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and out.stdout == ''
    assert out.stderr.count('\n') == 1 and 'no CUDA GPU' in out.stderr
    gc = load_gpu_check()
    with pytest.raises(gc.NoGPUError, match='no CUDA GPU'):
        gc.main(['--device', 'cuda', '--only', 'pinas'])


def test_downstream_options_give_iters_and_an_evaluation():
    gc = load_gpu_check()
    det = gc.downstream_opts('Mask R-CNN', '/d/coco', 20, tiny=False)
    assert det['train_dataloader.dataset.indices'] == 40  # batch 2 x 20 iterations
    assert det['train_cfg.max_epochs'] == det['train_cfg.val_interval'] == 1
    assert det['val_evaluator.ann_file'] == '/d/coco/annotations/instances_val2017.json'
    seg = gc.downstream_opts('DeepLabV3', '/d/cityscapes', 20, tiny=False)
    assert seg['train_cfg.max_iters'] == seg['train_cfg.val_interval'] == 20
    assert seg['train_dataloader.dataset.data_root'] == '/d/cityscapes/'
    with pytest.raises(SystemExit):
        gc.parse_args(['--steps', '0'])


def test_cpu_dry_run_prints_one_table_of_every_row(tmp_path, tiny_data, capsys):
    """Every row of the GPU table through the same code on the CPU: Pi-NAS and MoCo
    steps, Mask R-CNN and DeepLabV3 trained 1 iteration and evaluated, 3 candidates
    searched."""
    gc = load_gpu_check()
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    table = gc.main(['--device', 'cpu', '--tiny', '--steps', '1', '--warmup', '1',
                     '--batch', '4', '--iters', '1', '--candidates', '3',
                     '--work-dir', str(tmp_path / 'work'), '--data-dir', tiny_data])
    assert capsys.readouterr().out.rstrip().endswith(table)
    rows = [line for line in table.splitlines() if line.startswith('| ')][1:]
    checks = [r.split(' | ')[0].lstrip('| ') for r in rows]
    assert checks == ['MoCo v2 (path A subnet)', 'Pi-NAS (supernet, 2 paths)',
                      'Pi-NAS / MoCo AMP', 'Mask R-CNN (pinas-trans)',
                      'DeepLabV3 (pinas-trans)', 'search (random-init probe)']
    assert 'img/s' in rows[1] and 'x MoCo' in rows[1]
    assert 'coco/bbox_mAP' in rows[3] and 'coco/segm_mAP' in rows[3] and 'mIoU' in rows[4]
    assert '3 candidates scored' in rows[5]
