"""Reading checkpoints (issue 10, faults 5, 7 and 8): one reader for every entry point.

* Fault 7: checkpoints written by plain OpenMMLab (an mmpretrain Runner in a subprocess
  that never imports pinas_mm) hold HistoryBuffers pickled with ``builtins.getattr``;
  they load through ``init_cfg=Pretrained`` and the converters, while pickles that would
  run code on load are still refused (and do not run).
* Fault 8: empty and truncated files give one line naming the file at every entry point:
  the reader, ``init_cfg``, ``tools/train.py --resume``, ``tools/search.py --checkpoint``,
  ``tools/export_subnet.py``, both converters and the ranking study.
* Fault 5: a checkpoint that does not fit the backbone (an export of another arch, a
  supernet given to a subnet) fails before training, naming the keys and
  ``tools/export_subnet.py``; fitting exports and plain mmpretrain ResNeSt checkpoints load.
"""
import os
import os.path as osp
import subprocess
import sys
import textwrap
import zipfile

import pytest
import torch

from pinas_mm.engine.checkpoint import CheckpointError, read_checkpoint, read_state_dict
from pinas_mm.models import PiNASResNeSt, PiNASSuperNet
from pinas_mm.cli import tool_module as load_tool  # tools/X.py -> its package module
from pinas_mm.models.backbones.pretrained import CheckpointMismatchError

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CLS, TRANS = '3013231203213032', '3333113330011021'  # pinas-cls, pinas-trans
LINEAR_EVAL_CFG = osp.join(ROOT, 'configs/imagenet/'
                           'linear-eval_pinas-cls-tiny_1xb32-steplr-6e_tiny-in.py')
SEARCH_CFG = osp.join(ROOT, 'configs/search/'
                      'search-evolution_pinas-tiny-supernet_linear-probe_tiny-in.py')


def pretrained(path, prefix='backbone.'):
    return dict(type='Pretrained', checkpoint=str(path), prefix=prefix)


def assert_one_line(msg, path, *words):
    msg = str(msg)
    assert '\n' not in msg.strip(), msg
    assert str(path) in msg, msg
    for w in words:
        assert w in msg, (w, msg)


# ---- fixtures ---------------------------------------------------------------------------
PLAIN_SCRIPT = textwrap.dedent(r'''
    """Train two tiny classifiers 2 iterations with plain mmpretrain (no pinas_mm)."""
    import sys
    import torch
    from mmengine.dataset import pseudo_collate
    from mmengine.runner import Runner
    from mmpretrain.structures import DataSample
    from torch.utils.data import DataLoader, Dataset


    class Tiny(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            g = torch.Generator().manual_seed(i)
            return dict(inputs=torch.randint(0, 256, (3, 32, 32), generator=g,
                                             dtype=torch.uint8),
                        data_samples=DataSample().set_gt_label(i % 2))


    def train(model, work_dir):
        Runner(model=model, work_dir=work_dir, default_scope='mmpretrain',
               train_dataloader=DataLoader(Tiny(), batch_size=2, collate_fn=pseudo_collate),
               train_cfg=dict(by_epoch=False, max_iters=2),
               optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
               default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2,
                                                  by_epoch=False),
                                  logger=dict(type='LoggerHook', interval=1)),
               randomness=dict(seed=0)).train()


    pre = dict(type='ClsDataPreprocessor', mean=[127.5] * 3, std=[127.5] * 3)
    # mmpretrain's ResNeSt-50 at 1/4 widths (= PiNASResNeSt(arch='resnest50', space='tiny'))
    train(dict(type='ImageClassifier', data_preprocessor=pre,
               backbone=dict(type='ResNeSt', depth=50, stem_channels=16, base_channels=16),
               neck=dict(type='GlobalAveragePooling'),
               head=dict(type='LinearClsHead', num_classes=2, in_channels=512)),
          sys.argv[1] + '/resnest')
    # timm's resnest50d at 1/4 widths through mmpretrain's TimmClassifier
    train(dict(type='TimmClassifier', data_preprocessor=pre, model_name='resnest50d',
               pretrained=False, num_classes=2, stem_width=8, channels=(16, 32, 64, 128)),
          sys.argv[1] + '/timm')
    assert not any(m.startswith('pinas_mm') for m in sys.modules), 'pinas_mm was imported'
''')


@pytest.fixture(scope='module')
def plain_ckpts(tmp_path_factory):
    """Checkpoints written by plain mmpretrain / mmengine in a fresh interpreter."""
    out = tmp_path_factory.mktemp('plain_openmmlab')
    script = out / 'train_plain.py'
    script.write_text(PLAIN_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, str(script), str(out)], cwd=str(out), env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(resnest=str(out / 'resnest' / 'iter_2.pth'),
                timm=str(out / 'timm' / 'iter_2.pth'))


@pytest.fixture(scope='module')
def broken(tmp_path_factory):
    """An empty file and a torch zip checkpoint cut in half."""
    d = tmp_path_factory.mktemp('broken')
    good = d / 'good.pth'
    torch.save({'state_dict': {'backbone.w': torch.randn(64, 64)}, 'meta': {}}, good)
    data = good.read_bytes()
    (d / 'empty.pth').write_bytes(b'')
    (d / 'truncated.pth').write_bytes(data[:len(data) // 2])
    return {'empty': str(d / 'empty.pth'), 'truncated': str(d / 'truncated.pth')}


BROKEN_WORDS = {'empty': 'empty', 'truncated': 'truncated'}


@pytest.fixture(scope='module')
def supernet_and_export(tmp_path_factory):
    """A tiny supernet checkpoint (random weights) and its pinas-cls export."""
    from pinas_mm.export import export_subnet
    d = tmp_path_factory.mktemp('fit')
    torch.manual_seed(0)
    supernet = PiNASSuperNet(space='tiny')
    path = d / 'supernet.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in supernet.state_dict().items()},
                'meta': {}}, path)
    out = export_subnet(str(path), 'pinas-cls', out_dir=str(d / 'export'), space='tiny')
    return str(path), out['checkpoint']


# ---- fault 7: plain OpenMMLab checkpoints, and nothing that runs code -------------------
def test_plain_mmpretrain_checkpoint_loads_through_init_cfg(plain_ckpts):
    path = plain_ckpts['resnest']
    with zipfile.ZipFile(path) as z:  # the fault's cause is really in the file
        pkl = z.read(next(n for n in z.namelist() if n.endswith('data.pkl')))
    assert b'getattr' in pkl and b'HistoryBuffer' in pkl
    state = read_state_dict(path)
    backbone = PiNASResNeSt(arch='resnest50', space='tiny', init_cfg=pretrained(path))
    backbone.init_weights()  # also no arch in its meta: a plain ResNeSt-50 checkpoint
    own = backbone.state_dict()
    want = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
    assert set(own) == set(want)
    for k, v in want.items():
        assert torch.equal(own[k], v), k
    # the message hub came back too (resume needs it), with HistoryBuffer's own methods
    hub = read_checkpoint(path)['message_hub']
    assert 'train/loss' in hub['log_scalars']
    assert hub['log_scalars']['train/loss'].statistics('mean') > 0


def test_plain_mmpretrain_timm_checkpoint_through_the_converter(plain_ckpts, tmp_path):
    from pinas_mm.models.converters import load_state_dict_file
    tool = load_tool('tools/model_converters/pinas_authors_to_pinas.py')
    src = plain_ckpts['timm']
    dst = tmp_path / 'converted.pth'
    tool.main([src, str(dst)])  # TimmClassifier saves timm's own keys (no 'model.')
    src_state = load_state_dict_file(src)
    conv = read_checkpoint(str(dst))
    assert conv['meta']['space'] == 'tiny' and conv['meta']['arch'] == '1' * 16
    assert torch.equal(conv['state_dict']['stem.2.conv.weight'],
                       src_state['conv1.6.weight'])
    PiNASResNeSt(arch='resnest50', space='tiny').load_state_dict(conv['state_dict'])


class _RunsCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


class _ReachesThroughGetattr:
    def __reduce__(self):
        from mmengine.logging.history_buffer import HistoryBuffer
        return getattr, (HistoryBuffer, 'register_statistics')


def test_pickles_that_run_code_are_refused_and_do_not_run(tmp_path):
    """Guards the fault-7 fix (both pass on the old code, which refused getattr)."""
    from pinas_mm.models.converters import load_state_dict_file
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'backbone.w': torch.zeros(1)}, 'meta': _RunsCommand(marker)},
               evil)
    for load in (read_checkpoint, load_state_dict_file,
                 lambda p: PiNASResNeSt(arch='resnest50', space='tiny',
                                        init_cfg=pretrained(p)).init_weights()):
        with pytest.raises(CheckpointError) as e:
            load(str(evil))
        assert_one_line(e.value, evil, 'refuses', 'system')
    assert not marker.exists()
    sneaky = tmp_path / 'getattr.pth'
    torch.save({'state_dict': {}, 'meta': _ReachesThroughGetattr()}, sneaky)
    with pytest.raises(CheckpointError) as e:
        read_checkpoint(str(sneaky))
    assert_one_line(e.value, sneaky, 'refused getattr', 'register_statistics')


# ---- fault 8: broken files, one line at every entry point -------------------------------
@pytest.mark.parametrize('kind', ['empty', 'truncated'])
def test_reader_and_init_cfg_name_the_broken_file(broken, kind):
    path = broken[kind]
    with pytest.raises(CheckpointError) as e:
        read_checkpoint(path)
    assert_one_line(e.value, path, BROKEN_WORDS[kind])
    with pytest.raises(CheckpointError) as e:
        PiNASSuperNet(space='tiny', init_cfg=pretrained(path)).init_weights()
    assert_one_line(e.value, path, BROKEN_WORDS[kind])
    with pytest.raises(CheckpointError) as e:
        read_checkpoint(path + '.missing')
    assert_one_line(e.value, path + '.missing', 'does not exist')


@pytest.mark.parametrize('kind', ['empty', 'truncated'])
def test_converters_export_and_ranking_study_name_the_broken_file(broken, kind, tmp_path):
    path = broken[kind]
    calls = {
        'tools/model_converters/timm_resnest_to_pinas.py': [path, str(tmp_path / 'a.pth')],
        'tools/model_converters/pinas_authors_to_pinas.py': [path, str(tmp_path / 'b.pth')],
        'tools/export_subnet.py': [path, '--arch', 'pinas-cls', '--out-dir', str(tmp_path)],
        'tools/analysis/ranking_study.py': ['--supernet', f'a={path}', '--work-dir',
                                            str(tmp_path / 'rs'), '--out',
                                            str(tmp_path / 'rs.md')],
    }
    for tool, argv in calls.items():
        with pytest.raises(SystemExit) as e:
            load_tool(tool).main(argv)
        assert_one_line(e.value.code, path, BROKEN_WORDS[kind], 'error: ')
    assert not (tmp_path / 'rs').exists()  # the ranking study trained nothing first


def test_train_resume_cli_names_the_broken_file(broken, tiny_data, tmp_path):
    """The real command line: one line on stderr, no traceback."""
    path = broken['truncated']
    cmd = [sys.executable, osp.join(ROOT, 'tools/train.py'), LINEAR_EVAL_CFG, '--resume', path,
           '--work-dir', str(tmp_path / 'w'), '--cfg-options', 'model.backbone.init_cfg=None',
           f'train_dataloader.dataset.data_root={tiny_data}/imagenet/',
           f'val_dataloader.dataset.data_root={tiny_data}/imagenet/',
           f'test_dataloader.dataset.data_root={tiny_data}/imagenet/']
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode != 0
    assert 'Traceback' not in proc.stderr, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert_one_line(last, path, 'truncated', 'error: ')


def _train_argv(tiny_data, work_dir, *extra):
    root = f'{tiny_data}/imagenet/'
    return [LINEAR_EVAL_CFG, '--work-dir', str(work_dir), *extra[:-1], '--cfg-options',
            f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}', *extra[-1]]


def test_train_resume_and_search_checkpoint_name_the_broken_file(broken, tiny_data,
                                                                  tmp_path):
    train = load_tool('tools/train.py')
    with pytest.raises(SystemExit) as e:
        train.main(_train_argv(tiny_data, tmp_path / 'train', '--resume', broken['empty'],
                               ['model.backbone.init_cfg=None']))
    assert_one_line(e.value.code, broken['empty'], 'empty', 'error: ')
    search = load_tool('tools/search.py')
    root = f'{tiny_data}/imagenet/'
    for kind, path in broken.items():
        with pytest.raises(SystemExit) as e:
            search.main([SEARCH_CFG, '--checkpoint', path, '--work-dir',
                         str(tmp_path / f'search_{kind}'), '--cfg-options',
                         f'train_dataloader.dataset.data_root={root}',
                         f'train_cfg.scorer.dataloader.dataset.data_root={root}'])
        assert_one_line(e.value.code, path, BROKEN_WORDS[kind], 'error: ')


# ---- fault 5: checkpoints that do not fit fail before training --------------------------
def test_export_of_another_arch_is_refused(supernet_and_export):
    _, export = supernet_and_export
    assert read_checkpoint(export)['meta']['arch'] == CLS  # export writes arch and space
    assert read_checkpoint(export)['meta']['space'] == 'tiny'
    backbone = PiNASResNeSt(arch='pinas-trans', space='tiny', init_cfg=pretrained(export))
    with pytest.raises(CheckpointMismatchError) as e:
        backbone.init_weights()
    assert_one_line(e.value, export, f'holds arch {CLS}', f'arch {TRANS}',
                    'tools/export_subnet.py', 'shape mismatch layer')


def test_supernet_given_to_a_subnet_is_refused(supernet_and_export):
    supernet, _ = supernet_and_export
    backbone = PiNASResNeSt(arch='pinas-cls', space='tiny', init_cfg=pretrained(supernet))
    with pytest.raises(CheckpointMismatchError) as e:
        backbone.init_weights()
    assert_one_line(e.value, supernet, 'supernet checkpoint', 'tools/export_subnet.py',
                    'unexpected layer1.0.candidates.')


def test_subnet_given_to_the_supernet_and_wrong_prefix_are_refused(supernet_and_export):
    supernet, export = supernet_and_export
    with pytest.raises(CheckpointMismatchError) as e:
        PiNASSuperNet(space='tiny', init_cfg=pretrained(export)).init_weights()
    assert_one_line(e.value, export, 'holds one subnet', 'missing layer1.0.candidates.')
    with pytest.raises(CheckpointMismatchError) as e:
        PiNASResNeSt(arch='pinas-cls', space='tiny',
                     init_cfg=pretrained(export, prefix=None)).init_weights()
    assert_one_line(e.value, export, "prefix='backbone.'")
    with pytest.raises(CheckpointMismatchError) as e:  # an export of the full-size space
        PiNASResNeSt(arch='pinas-cls', space='resnest50',
                     init_cfg=pretrained(export)).init_weights()
    assert_one_line(e.value, export, "space 'tiny'")


def test_fitting_export_and_supernet_load_exactly(supernet_and_export):
    supernet, export = supernet_and_export
    want = read_state_dict(export)
    backbone = PiNASResNeSt(arch='pinas-cls', space='tiny', init_cfg=pretrained(export))
    backbone.init_weights()
    for k, v in backbone.state_dict().items():
        assert torch.equal(v, want[f'backbone.{k}']), k
    sup = PiNASSuperNet(space='tiny', init_cfg=pretrained(supernet))
    sup.init_weights()
    want = read_state_dict(supernet)
    for k, v in sup.state_dict().items():
        assert torch.equal(v, want[f'backbone.{k}']), k


def test_train_refuses_a_supernet_for_the_subnet_before_training(supernet_and_export,
                                                                  tiny_data, tmp_path):
    supernet, _ = supernet_and_export
    train = load_tool('tools/train.py')
    work = tmp_path / 'w'
    with pytest.raises(SystemExit) as e:
        train.main(_train_argv(tiny_data, work, [
            f'model.backbone.init_cfg.checkpoint={supernet}']))
    assert_one_line(e.value.code, supernet, 'supernet checkpoint', 'tools/export_subnet.py')
    assert not any(f.endswith('.pth') for _, _, fs in os.walk(work) for f in fs)
