"""Real runs of tools/train.py on the tiny space: resume after a kill, and 2 CPU ranks."""
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PINAS_TINY = osp.join(ROOT, 'configs/pinas/pinas_tiny-space_1xb16-coslr-16e_tiny-in.py')


def tiny_opts(tiny_data, epochs, images=64):
    return [f'train_dataloader.dataset.data_root={tiny_data}/imagenet/',
            f'train_dataloader.dataset.indices={images}',
            f'train_cfg.max_epochs={epochs}', f'param_scheduler.0.T_max={epochs}',
            f'param_scheduler.0.end={epochs}', 'default_hooks.checkpoint.interval=1',
            'default_hooks.checkpoint.max_keep_ckpts=10', 'default_hooks.logger.interval=1']


def train_cmd(work_dir, opts, *extra):
    return [sys.executable, osp.join(ROOT, 'tools/train.py'), PINAS_TINY, '--work-dir',
            str(work_dir), *extra, '--cfg-options', *opts]


def env():
    e = dict(os.environ)
    e['PYTHONPATH'] = ROOT + os.pathsep + e.get('PYTHONPATH', '')
    e.setdefault('OMP_NUM_THREADS', '1')
    return e


def final_state(work_dir, epoch):
    ckpt = torch.load(osp.join(work_dir, f'epoch_{epoch}.pth'), map_location='cpu',
                      weights_only=True)  # safe loading must accept our checkpoints
    return ckpt['state_dict']


def test_kill_and_resume_matches_uninterrupted_run(tiny_data, tmp_path):
    epochs = 4
    opts = tiny_opts(tiny_data, epochs)
    ref_dir, run_dir = tmp_path / 'ref', tmp_path / 'run'
    subprocess.run(train_cmd(ref_dir, opts), check=True, env=env(), cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # start the same run and kill -9 it right after its first checkpoint
    proc = subprocess.Popen(train_cmd(run_dir, opts), env=env(), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not osp.exists(run_dir / 'epoch_1.pth') and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not osp.exists(run_dir / f'epoch_{epochs}.pth'), 'run finished before the kill'
    saved = sorted(int(f[6:-4]) for f in os.listdir(run_dir) if f.startswith('epoch_'))
    resumed = subprocess.run(train_cmd(run_dir, opts, '--resume'), env=env(), cwd=ROOT,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    log = resumed.stdout + resumed.stderr
    last = max(s for s in saved if osp.exists(run_dir / f'epoch_{s}.pth'))
    assert f'resumed epoch: {last}, iter: {last * 4}' in log
    ref, got = final_state(ref_dir, epochs), final_state(run_dir, epochs)
    assert ref.keys() == got.keys()
    assert int(got['queue_ptr']) == int(ref['queue_ptr']) == (epochs * 4 * 16) % 256
    assert int(got['step']) == epochs * 4
    for k in ref:
        assert torch.equal(ref[k], got[k]), k


def test_two_cpu_ranks_keep_one_queue(tiny_data, tmp_path):
    script = tmp_path / 'run_rank.py'
    script.write_text(f'''
import os, sys, torch
from pinas_mm.cli import train
runner = train.main(sys.argv[1:])
model = runner.model.module
torch.save(dict(queue=model.queue, ptr=model.queue_ptr,
                teacher=model.teacher.module.state_dict(),
                student=model.backbone.state_dict()),
           os.path.join(runner.work_dir, 'rank%s.pt' % os.environ['RANK']))
''')
    opts = tiny_opts(tiny_data, 2, images=64)
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
           '--master_port=29631', str(script), PINAS_TINY, '--work-dir', str(tmp_path),
           '--launcher', 'pytorch', '--cfg-options', *opts]
    proc = subprocess.run(cmd, env=env(), cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    r0 = torch.load(tmp_path / 'rank0.pt', weights_only=True)
    r1 = torch.load(tmp_path / 'rank1.pt', weights_only=True)
    # 64 images / (2 ranks x 16) = 2 steps per epoch, 32 keys per step
    assert int(r0['ptr']) == int(r1['ptr']) == 2 * 2 * 32
    assert torch.equal(r0['queue'], r1['queue'])
    for part in ('teacher', 'student'):
        for k in r0[part]:
            if 'running' not in k and 'num_batches' not in k:  # BN stats are per rank
                assert torch.equal(r0[part][k], r1[part][k]), (part, k)
