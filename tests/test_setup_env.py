"""tools/setup_env.sh's choice of mmcv ops build (pinas_mm.utils.mmcv_build), detection stubbed.

Nothing here builds mmcv: the CUDA compile is checked by hand (see the module doc)."""
import os
import os.path as osp
import subprocess

import pytest

from pinas_mm.utils import mmcv_build as mb
from pinas_mm.utils.mmcv_build import ChoiceError, Detected, decide

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
H200 = ('NVIDIA H200', (9, 0))
A100 = ('NVIDIA A100-SXM4-80GB', (8, 0))
INC = ('/venv/site-packages/nvidia/cu13/include', )


def machine(gpus=(), nvcc=True, nvcc_version='13.0', torch_cuda='13.0'):
    return Detected(gpus=tuple(gpus), torch_cuda=torch_cuda,
                    nvcc='/usr/local/cuda/bin/nvcc' if nvcc else None,
                    nvcc_version=nvcc_version if nvcc else None,
                    cuda_home='/usr/local/cuda-13.0' if nvcc else None,
                    nvidia_include_dirs=INC)


def test_no_gpu_builds_cpu_ops():
    for det in (machine(), machine(nvcc=False), machine(torch_cuda=None)):
        c = decide(det, {})
        assert (c.ops, c.tag, c.arch_list) == ('cpu', 'cpu', '')
        assert 'no CUDA GPU' in c.reason


def test_gpu_and_nvcc_build_cuda_ops_for_the_visible_capability():
    c = decide(machine([H200]), {})
    assert (c.ops, c.arch_list, c.tag) == ('cuda', '9.0', 'cuda13.0-sm90')
    assert c.cuda_home == '/usr/local/cuda-13.0' and c.include_dirs == INC
    assert 'NVIDIA H200 (sm_90)' in c.reason
    two = decide(machine([H200, A100, H200]), {})
    assert (two.arch_list, two.tag) == ('8.0;9.0', 'cuda13.0-sm80-sm90')


def test_gpu_without_nvcc_builds_cpu_ops_and_says_why():
    c = decide(machine([H200], nvcc=False), {})
    assert (c.ops, c.tag) == ('cpu', 'cpu')
    assert 'NVIDIA H200' in c.reason and 'nvcc is not found' in c.reason
    assert '\n' not in c.reason
    # nvcc of another major CUDA version than torch's: torch's builder refuses it
    m = decide(machine([H200], nvcc_version='12.8'), {})
    assert m.ops == 'cpu' and 'does not match' in m.reason


def test_override_0_and_1():
    assert decide(machine([H200]), {'PINAS_MMCV_CUDA': '0'}).ops == 'cpu'
    # a build machine without a GPU compiles for the arch list it is given
    c = decide(machine(), {'PINAS_MMCV_CUDA': '1', 'TORCH_CUDA_ARCH_LIST': '9.0'})
    assert (c.ops, c.tag) == ('cuda', 'cuda13.0-sm90')
    assert decide(machine([H200]), {'PINAS_MMCV_CUDA': ' 1 '}).tag == 'cuda13.0-sm90'
    assert decide(machine([H200]), {'PINAS_MMCV_CUDA': ''}).ops == 'cuda'  # empty = auto


@pytest.mark.parametrize('det,match', [
    (machine([H200], nvcc=False), 'nvcc is not found'),
    (machine([H200], torch_cuda=None), 'CPU-only build'),
    (machine(), 'TORCH_CUDA_ARCH_LIST'),
])
def test_override_1_errors_when_cuda_cannot_be_built(det, match):
    with pytest.raises(ChoiceError, match=match):
        decide(det, {'PINAS_MMCV_CUDA': '1'})


@pytest.mark.parametrize('value', ['yes', 'true', '2', 'cuda'])
def test_invalid_override_is_a_one_line_error_naming_value_and_forms(value, capsys):
    with pytest.raises(ChoiceError) as e:
        decide(machine([H200]), {'PINAS_MMCV_CUDA': value})
    msg = str(e.value)
    assert repr(value) in msg and '1 (' in msg and '0 (' in msg and 'unset' in msg
    assert '\n' not in msg
    rc = mb.main(['choose'], detector=lambda env: machine([H200]),
                 env={'PINAS_MMCV_CUDA': value})
    out, err = capsys.readouterr()
    assert rc == 2 and out == '' and err.count('\n') == 1 and repr(value) in err


def test_user_arch_list_wins_and_is_validated():
    c = decide(machine([H200]), {'TORCH_CUDA_ARCH_LIST': '8.0;9.0a 9.0+PTX'})
    assert c.arch_list == '8.0;9.0a 9.0+PTX' and c.tag == 'cuda13.0-sm80-sm90a-sm90ptx'
    for bad in ('Hopper', '90', '9.0;;x'):
        with pytest.raises(ChoiceError, match='TORCH_CUDA_ARCH_LIST'):
            decide(machine([H200]), {'TORCH_CUDA_ARCH_LIST': bad})


def test_choose_prints_shell_assignments(tmp_path):
    import io
    import contextlib
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert mb.main(['choose'], detector=lambda env: machine([H200]), env={}) == 0
    out = subprocess.run(['bash', '-c', 'eval "$(cat)"; echo "$PINAS_MMCV_OPS|'
                          '$PINAS_MMCV_TAG|$PINAS_MMCV_ARCH_LIST|$PINAS_MMCV_REASON"'],
                         input=buf.getvalue(), capture_output=True, text=True, check=True)
    ops, tag, archs, reason = out.stdout.strip().split('|')
    assert (ops, tag, archs) == ('cuda', 'cuda13.0-sm90', '9.0') and 'H200' in reason


def test_build_env_and_setup_py_patch():
    cuda = decide(machine([H200]), {})
    env = mb.build_env(cuda, {'CPATH': '/mine', 'PATH': '/bin'}, jobs=4)
    assert env['FORCE_CUDA'] == '1' and env['TORCH_CUDA_ARCH_LIST'] == '9.0'
    assert env['CUDA_HOME'] == '/usr/local/cuda-13.0' and env['MAX_JOBS'] == '4'
    assert env['CPATH'] == os.pathsep.join(INC + ('/mine', ))
    cpu = mb.build_env(decide(machine(), {}), {'TORCH_CUDA_ARCH_LIST': '9.0'}, jobs=2)
    assert cpu['FORCE_CUDA'] == '0' and 'TORCH_CUDA_ARCH_LIST' not in cpu
    src = ("'nvcc': [cuda_args, '-std=c++14'] if cuda_args else ['-std=c++14'],\n"
           "extra_compile_args['nvcc'] += ['-std=c++17']\n")
    patched = mb.patch_setup_py(src)
    assert '-std=c++14' not in patched and '-std=c++17' not in patched
    assert patched.count('-std=c++20') == 3
    with pytest.raises(ChoiceError, match='mmcv 2.1.0'):
        mb.patch_setup_py('setup()')


def test_find_nvcc_uses_the_toolkit_behind_a_wrapper(tmp_path):
    """A wrapper script on PATH (/usr/local/bin/nvcc -> exec the toolkit's nvcc): the
    toolkit folder comes from nvcc's own TOP, not from the wrapper's folder."""
    kit = tmp_path / 'cuda-13.0'
    (kit / 'bin').mkdir(parents=True)
    real = kit / 'bin' / 'nvcc'
    real.write_text(f'#!/bin/sh\necho "#$ TOP={kit}/bin/.." >&2\n'
                    'echo "Cuda compilation tools, release 13.0, V13.0.88"\n')
    real.chmod(0o755)
    wrap_dir = tmp_path / 'wrap'
    wrap_dir.mkdir()
    wrapper = wrap_dir / 'nvcc'
    wrapper.write_text(f'#!/bin/sh\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    nvcc, home = mb.find_nvcc({'PATH': str(wrap_dir)})
    assert nvcc == str(wrapper) and home == str(kit)
    assert mb._nvcc_version(nvcc) == '13.0'
    assert mb.find_nvcc({'CUDA_HOME': str(kit), 'PATH': ''}) == (str(real), str(kit))


def test_setup_env_script_parses():
    subprocess.run(['bash', '-n', osp.join(ROOT, 'tools', 'setup_env.sh')], check=True)
