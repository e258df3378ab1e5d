"""The one tool runner (pinas_mm.orchestration.runner) and the export's file names
(pinas_mm.export.export_paths / find_exports), which the main job and NTAA rely on."""
import os.path as osp
import sys

import pytest
import torch

from pinas_mm.export import export_paths, export_subnet, find_exports
from pinas_mm.models import PiNASSuperNet
from pinas_mm.orchestration.runner import ROOT, ToolFailed, run_tool, tool_command, tool_env


def test_tool_command_and_env_name_the_repository():
    assert tool_command('train.py', 'a') == [sys.executable, osp.join(ROOT, 'tools', 'train.py'),
                                             'a']
    assert tool_command('train.py', relative=True)[1] == 'tools/train.py'
    assert osp.isfile(osp.join(ROOT, 'tools', 'train.py'))
    env = tool_env('2', PYTHONWARNINGS='ignore')
    assert env['PYTHONPATH'].split(osp.pathsep)[0] == ROOT
    assert env['OMP_NUM_THREADS'] == '2' and env['PYTHONWARNINGS'] == 'ignore'


def test_run_tool_logs_echoes_appends_and_fails_with_code_and_log(tmp_path):
    log = str(tmp_path / 'stage' / 'run.log')
    lines = []
    seconds = run_tool([sys.executable, '-c', 'print("one"); print("two")'], log,
                       echo=lines.append)
    assert seconds >= 0 and lines == ['one\n', 'two\n']
    assert open(log).read() == 'one\ntwo\n'
    with pytest.raises(ToolFailed) as e:  # appended, not echoed, a message of our own
        run_tool([sys.executable, '-c', 'import sys; print("three"); sys.exit(3)'], log,
                 append=True, failure=lambda code, path: f'exit {code}, {path}')
    assert e.value.returncode == 3 and e.value.log_file == log
    assert str(e.value) == f'exit 3, {log}'
    assert open(log).read() == 'one\ntwo\nthree\n'
    with pytest.raises(ToolFailed, match=r'-c failed \(exit 1\); see '):  # the default text
        run_tool([sys.executable, '-c', 'raise SystemExit(1)'], log)


def test_export_writes_the_names_export_paths_gives(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / 'supernet.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in
                               PiNASSuperNet(space='tiny').state_dict().items()}}, path)
    out = str(tmp_path / 'export')
    written = export_subnet(str(path), 'pinas-cls', out_dir=out)
    want = export_paths(out, '3013231203213032', 'tiny')
    assert written == want == find_exports(out)
    assert osp.basename(want['checkpoint']) == 'pinas_tiny_3013231203213032_backbone.pth'
    assert all(osp.isfile(p) for p in want.values())
    open(osp.join(out, 'other.yaml'), 'w').close()
    with pytest.raises(RuntimeError, match='Expected one arch file and one backbone'):
        find_exports(out)


def test_every_mapped_tool_is_a_thin_script_over_its_module():
    """pinas_mm.cli.TOOL_MODULES is the one map from tools/ scripts to package modules: each
    script exists and runs exactly that module's main; unknown names get a one-line error."""
    import importlib
    from pinas_mm.cli import TOOL_MODULES, tool_module
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    for script, module in TOOL_MODULES.items():
        text = open(osp.join(root, script)).read()
        assert f'from {module} import main' in text, script
        assert callable(importlib.import_module(module).main)
    assert tool_module('search') is importlib.import_module('pinas_mm.cli.search')
    with pytest.raises(ValueError, match="'nonesuch'.*tools/search.py"):
        tool_module('nonesuch')


def test_every_python_tool_is_mapped_to_a_package_module():
    """Each Python script under tools/ is a thin command line in TOOL_MODULES, except the
    dataset converters, which run stand-alone (numpy + Pillow, no torch)."""
    import glob
    from pinas_mm.cli import TOOL_MODULES
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    scripts = {osp.relpath(p, root) for p in glob.glob(osp.join(root, 'tools', '**', '*.py'),
                                                        recursive=True)}
    standalone = {s for s in scripts if s.startswith('tools/dataset_converters/')}
    assert standalone and scripts - standalone - set(TOOL_MODULES) == set()


def test_zero_cost_study_runs_from_its_module(tmp_path, one_thread):
    from pinas_mm.analysis_zero_cost import main
    data = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'shared',
                    'data', 'cifar10', 'train')
    out = tmp_path / 'zc.md'
    main(['--data-root', data, '--num-archs', '6', '--num-images', '8', '--n-boot', '20',
          '--topk', '2', '--scorers', 'flops', 'naswot', '--out', str(out)])
    text = out.read_text()
    assert 'naswot' in text and 'tools/analysis/zero_cost_study.py' in text
    assert (tmp_path / 'zc.csv').read_text().count('\n') == 7  # header + 6 cells
