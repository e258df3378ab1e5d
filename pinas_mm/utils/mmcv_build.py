"""How ``tools/setup_env.sh`` builds mmcv 2.1.0's compiled ops: CPU-only or with CUDA kernels.

mmcv 2.1.0 has no wheel for torch 2.14, so the set-up builds it from its sdist. Without
CUDA kernels, mmdet's RoIAlign and NMS stop at their first CUDA tensor; with them, the
build costs many times longer than the CPU one. The rule (:func:`decide`):

* ``PINAS_MMCV_CUDA=0``: CPU-only ops. ``PINAS_MMCV_CUDA=1``: CUDA ops, or a one-line
  error saying what is missing (nvcc, a CUDA build of torch, an arch list).
* unset or empty (auto): CUDA ops when torch sees a CUDA GPU AND nvcc is found (with the
  same major CUDA version as torch's, which torch's extension builder requires);
  otherwise CPU-only ops, with a message when a GPU is seen but cannot be built for.
* CUDA ops are built for ``TORCH_CUDA_ARCH_LIST`` when it is set, else for the compute
  capabilities of the visible GPUs (an H100/H200 is 9.0).

Built wheels are kept apart by :attr:`Choice.tag`: ``cpu`` for CPU-only ops,
``cuda<torch's CUDA version>-sm<archs>`` (e.g. ``cuda13.0-sm90``) for CUDA ops.

The CUDA build also needs (:func:`build_env`, :func:`patch_setup_py`):

* ``-std=c++20`` instead of mmcv's hard-coded C++14/17 (torch >= 2.6 headers), for the
  host compiler and nvcc alike;
* the headers of CUDA's libraries (cusparse.h, cublas_v2.h, ...) that torch's
  ``ATen/cuda/CUDAContext.h`` includes: a toolkit with only the compiler and runtime lacks
  them, and the pip packages that torch's wheel depends on (``nvidia/cu13/include``) hold
  them, so those folders go on ``CPATH``;
* ``CUDA_HOME`` pointing at the toolkit that nvcc belongs to: torch guesses it from the
  folder above ``which nvcc``, which is wrong for a wrapper script such as
  ``/usr/local/bin/nvcc``.

Run as a script (it imports only the standard library and torch, so it works before
pinas_mm is installed)::

    python pinas_mm/utils/mmcv_build.py choose            # shell assignments for eval
    python pinas_mm/utils/mmcv_build.py build --wheel-dir DIR [--sdist mmcv-2.1.0.tar.gz]
"""
import argparse
import glob
import importlib.util
import os
import os.path as osp
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

MMCV_VERSION = '2.1.0'
OVERRIDE_VAR = 'PINAS_MMCV_CUDA'
OVERRIDE_FORMS = ('1 (build CUDA ops), 0 (CPU-only ops) or unset/empty (CUDA ops when '
                  'torch sees a GPU and nvcc is found)')
_ARCH_RE = re.compile(r'^(\d+)\.(\d+)([a-z]?)(\+PTX)?$')


class ChoiceError(ValueError):
    """A setting that makes the requested build impossible; the message is one line."""


@dataclass(frozen=True)
class Detected:
    """What the machine offers for building mmcv's ops.

    gpus: (name, (major, minor) compute capability) of each GPU that torch sees.
    torch_cuda: ``torch.version.cuda`` ('13.0'), None for a CPU-only torch build.
    nvcc: path of nvcc, None when none is found; nvcc_version: its 'release X.Y'.
    cuda_home: the toolkit folder nvcc belongs to (holds bin/nvcc and include/).
    nvidia_include_dirs: include folders of the nvidia-* pip packages next to torch.
    """
    gpus: Tuple[Tuple[str, Tuple[int, int]], ...] = ()
    torch_cuda: Optional[str] = None
    nvcc: Optional[str] = None
    nvcc_version: Optional[str] = None
    cuda_home: Optional[str] = None
    nvidia_include_dirs: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Choice:
    """The build to make. ops: 'cpu' or 'cuda'; arch_list: TORCH_CUDA_ARCH_LIST ('9.0',
    '' for CPU); tag: the wheel-cache folder; reason: one line for the log."""
    ops: str
    tag: str
    reason: str
    arch_list: str = ''
    cuda_home: Optional[str] = None
    include_dirs: Tuple[str, ...] = field(default=())

    @property
    def cuda(self) -> bool:
        return self.ops == 'cuda'


def parse_override(value: Optional[str]) -> Optional[bool]:
    """``PINAS_MMCV_CUDA``: '1' -> True, '0' -> False, unset/empty -> None (auto).

    Raises:
        ChoiceError: any other value (the message names it and the valid forms).
    """
    if value is None or value.strip() == '':
        return None
    if value.strip() in ('0', '1'):
        return value.strip() == '1'
    raise ChoiceError(f'{OVERRIDE_VAR}={value!r} is not valid: use {OVERRIDE_FORMS}')


def parse_arch_list(value: str) -> List[str]:
    """TORCH_CUDA_ARCH_LIST ('8.0;9.0', '9.0 9.0a', '9.0+PTX') -> its entries, in order.

    Raises:
        ChoiceError: an empty list or an entry that is not MAJOR.MINOR[letter][+PTX].
    """
    entries = [e for e in re.split(r'[;\s]+', value.strip()) if e]
    bad = [e for e in entries if not _ARCH_RE.match(e)]
    if not entries or bad:
        raise ChoiceError(f'TORCH_CUDA_ARCH_LIST={value!r} is not valid: use compute '
                          f'capabilities MAJOR.MINOR separated by ";" (e.g. "9.0" or '
                          f'"8.0;9.0"), each optionally with a suffix letter or "+PTX"')
    return entries


def arch_list_of(gpus: Sequence[Tuple[str, Tuple[int, int]]]) -> str:
    """The visible GPUs' compute capabilities as TORCH_CUDA_ARCH_LIST ('8.0;9.0')."""
    caps = sorted({tuple(cap) for _, cap in gpus})
    return ';'.join(f'{major}.{minor}' for major, minor in caps)


def cuda_tag(torch_cuda: Optional[str], arch_list: str) -> str:
    """Wheel-cache folder of a CUDA build: 'cuda13.0-sm90', 'cuda13.0-sm80-sm90ptx'."""
    parts = []
    for entry in parse_arch_list(arch_list):
        major, minor, letter, ptx = _ARCH_RE.match(entry).groups()
        parts.append(f'sm{major}{minor}{letter}' + ('ptx' if ptx else ''))
    return f'cuda{torch_cuda or "unknown"}-' + '-'.join(parts)


def _gpu_names(gpus) -> str:
    return ', '.join(f'{name} (sm_{major}{minor})' for name, (major, minor) in gpus)


def decide(det: Detected, env: Mapping[str, str]) -> Choice:
    """The build for machine ``det`` under environment ``env`` (see the module doc).

    Raises:
        ChoiceError: a bad ``PINAS_MMCV_CUDA`` or ``TORCH_CUDA_ARCH_LIST``, or
            ``PINAS_MMCV_CUDA=1`` where no CUDA build is possible.
    """
    override = parse_override(env.get(OVERRIDE_VAR))
    user_archs = env.get('TORCH_CUDA_ARCH_LIST', '').strip()
    if user_archs:
        parse_arch_list(user_archs)  # a bad list fails even for a CPU build
    if override is False:
        return Choice('cpu', 'cpu', f'CPU-only ops ({OVERRIDE_VAR}=0)')

    nvcc_major = det.nvcc_version.split('.')[0] if det.nvcc_version else None
    torch_major = det.torch_cuda.split('.')[0] if det.torch_cuda else None
    problem = None
    if det.torch_cuda is None:
        problem = 'this torch is a CPU-only build (torch.version.cuda is None)'
    elif det.nvcc is None:
        problem = ('nvcc is not found (put it on PATH or set CUDA_HOME to the CUDA '
                   f'{det.torch_cuda} toolkit)')
    elif nvcc_major != torch_major:
        problem = (f'nvcc {det.nvcc_version} ({det.nvcc}) does not match torch\'s CUDA '
                   f'{det.torch_cuda} (the major versions must agree)')
    archs = user_archs or arch_list_of(det.gpus)

    if override is None:
        if not det.gpus:
            return Choice('cpu', 'cpu', 'CPU-only ops (torch sees no CUDA GPU)')
        if problem:
            return Choice('cpu', 'cpu', f'CPU-only ops although torch sees '
                          f'{_gpu_names(det.gpus)}: {problem}; mmdet/mmseg ops on CUDA '
                          f'tensors will fail (set {OVERRIDE_VAR}=1 to make this an error)')
    else:  # PINAS_MMCV_CUDA=1
        if problem:
            raise ChoiceError(f'{OVERRIDE_VAR}=1 but {problem}')
        if not archs:
            raise ChoiceError(f'{OVERRIDE_VAR}=1 but torch sees no GPU to build for: set '
                              f'TORCH_CUDA_ARCH_LIST, e.g. "9.0" for H100/H200')
    seen = f'torch sees {_gpu_names(det.gpus)}' if det.gpus else 'no GPU visible'
    why = f'{OVERRIDE_VAR}=1' if override else seen
    if override and det.gpus:
        why += f', {seen}'
    return Choice('cuda', cuda_tag(det.torch_cuda, archs),
                  f'CUDA ops for TORCH_CUDA_ARCH_LIST={archs} with nvcc '
                  f'{det.nvcc_version} ({why})',
                  arch_list=archs, cuda_home=det.cuda_home,
                  include_dirs=det.nvidia_include_dirs)


# ---------------------------------------------------------------- detection (real machine)
def _nvcc_version(nvcc: str) -> Optional[str]:
    try:
        out = subprocess.run([nvcc, '--version'], capture_output=True, text=True,
                             timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r'release (\d+\.\d+)', out)
    return m.group(1) if m else None


def _toolkit_of(nvcc: str) -> Optional[str]:
    """The toolkit folder of ``nvcc``, also when nvcc is a wrapper script elsewhere."""
    home = osp.dirname(osp.dirname(osp.realpath(nvcc)))
    if osp.isfile(osp.join(home, 'include', 'cuda_runtime.h')):
        return home
    try:  # nvcc's driver names its own folder: "#$ TOP=/usr/local/cuda-13.0/bin/.."
        out = subprocess.run([nvcc, '--dryrun', '-x', 'cu', '-c', os.devnull, '-o',
                              os.devnull], capture_output=True, text=True, timeout=60)
        m = re.search(r'TOP=(\S+)', out.stdout + out.stderr)
    except (OSError, subprocess.SubprocessError):
        m = None
    return osp.normpath(m.group(1)) if m else home


def find_nvcc(env: Mapping[str, str]) -> Tuple[Optional[str], Optional[str]]:
    """(nvcc path, toolkit folder): $CUDA_HOME or $CUDA_PATH, then PATH, then
    /usr/local/cuda (torch's order); (None, None) when there is none."""
    for var in ('CUDA_HOME', 'CUDA_PATH'):
        home = env.get(var)
        if home and os.access(osp.join(home, 'bin', 'nvcc'), os.X_OK):
            return osp.join(home, 'bin', 'nvcc'), home
    nvcc = shutil.which('nvcc', path=env.get('PATH'))
    if nvcc:
        return nvcc, _toolkit_of(nvcc)
    if os.access('/usr/local/cuda/bin/nvcc', os.X_OK):
        return '/usr/local/cuda/bin/nvcc', '/usr/local/cuda'
    return None, None


def nvidia_include_dirs() -> Tuple[str, ...]:
    """``include`` folders of the installed nvidia-* pip packages (cu13, cudnn, nccl...)."""
    spec = importlib.util.find_spec('nvidia')
    if spec is None or not spec.submodule_search_locations:
        return ()
    dirs = []
    for root in spec.submodule_search_locations:
        dirs += sorted(glob.glob(osp.join(root, '*', 'include')))
    return tuple(d for d in dirs if osp.isdir(d))


def detect(env: Mapping[str, str] = os.environ) -> Detected:
    """Probe this machine: torch's GPUs and CUDA version, nvcc, the nvidia headers."""
    import torch
    gpus = ()
    if torch.version.cuda and torch.cuda.is_available():
        gpus = tuple((torch.cuda.get_device_name(i), tuple(torch.cuda.get_device_capability(i)))
                     for i in range(torch.cuda.device_count()))
    nvcc, home = find_nvcc(env)
    return Detected(gpus=gpus, torch_cuda=torch.version.cuda, nvcc=nvcc,
                    nvcc_version=_nvcc_version(nvcc) if nvcc else None, cuda_home=home,
                    nvidia_include_dirs=nvidia_include_dirs())


# ---------------------------------------------------------------- the build
def patch_setup_py(text: str) -> str:
    """mmcv's setup.py with every ``-std=c++14``/``-std=c++17`` (host compiler and nvcc)
    replaced by ``-std=c++20``, which torch >= 2.6 headers need.

    Raises:
        ChoiceError: no standard flag found (not mmcv 2.1.0's setup.py).
    """
    new, n = re.subn(r'-std=c\+\+1[47]', '-std=c++20', text)
    if n == 0:
        raise ChoiceError('mmcv setup.py has no -std=c++14/-std=c++17 flag to raise to '
                          f'C++20: is it mmcv {MMCV_VERSION}?')
    return new


def build_env(choice: Choice, env: Mapping[str, str], jobs: int) -> Dict[str, str]:
    """The environment of the ``pip wheel`` that builds mmcv for ``choice``."""
    out = dict(env, MMCV_WITH_OPS='1', MAX_JOBS=str(jobs),
               FORCE_CUDA='1' if choice.cuda else '0')
    if choice.cuda:
        out['TORCH_CUDA_ARCH_LIST'] = choice.arch_list
        if choice.cuda_home:
            out['CUDA_HOME'] = choice.cuda_home
        cpath = [d for d in choice.include_dirs]
        if env.get('CPATH'):
            cpath.append(env['CPATH'])
        if cpath:  # searched after -I (the toolkit's own headers win)
            out['CPATH'] = os.pathsep.join(cpath)
    else:
        out.pop('TORCH_CUDA_ARCH_LIST', None)
    return out


def build_wheel(choice: Choice, wheel_dir: str, sdist: Optional[str] = None,
                jobs: int = 2, python: str = sys.executable,
                env: Mapping[str, str] = os.environ) -> str:
    """Build mmcv's wheel for ``choice`` into ``wheel_dir``; return its path.

    ``sdist``: a local mmcv-2.1.0.tar.gz (an offline machine); else pip downloads it.
    Raises:
        subprocess.CalledProcessError: the download or the build failed.
    """
    os.makedirs(wheel_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='mmcv_build_') as tmp:
        if sdist is None:
            subprocess.run([python, '-m', 'pip', 'download', '-q', '--no-deps',
                            '--no-binary', ':all:', '--no-build-isolation', '-d', tmp,
                            f'mmcv=={MMCV_VERSION}'], check=True, stdout=sys.stderr)
            sdist = osp.join(tmp, f'mmcv-{MMCV_VERSION}.tar.gz')
        with tarfile.open(sdist) as tar:
            tar.extractall(tmp, filter='data')
        src = osp.join(tmp, f'mmcv-{MMCV_VERSION}')
        setup_py = osp.join(src, 'setup.py')
        with open(setup_py) as f:
            text = patch_setup_py(f.read())
        with open(setup_py, 'w') as f:
            f.write(text)
        t0 = time.time()
        subprocess.run([python, '-m', 'pip', 'wheel', '-q', '--no-deps',
                        '--no-build-isolation', '-w', wheel_dir, '.'], cwd=src, check=True,
                       env=build_env(choice, env, jobs), stdout=sys.stderr)
        print(f'[mmcv_build] built mmcv {MMCV_VERSION} ({choice.ops} ops) in '
              f'{time.time() - t0:.0f} s', file=sys.stderr)
    wheels = sorted(glob.glob(osp.join(wheel_dir, f'mmcv-{MMCV_VERSION}-*.whl')))
    return wheels[-1]


def shell_assignments(choice: Choice) -> str:
    """``choose``'s output: PINAS_MMCV_{OPS,TAG,ARCH_LIST,REASON}=... for ``eval``."""
    values = dict(PINAS_MMCV_OPS=choice.ops, PINAS_MMCV_TAG=choice.tag,
                  PINAS_MMCV_ARCH_LIST=choice.arch_list, PINAS_MMCV_REASON=choice.reason)
    return '\n'.join(f'{k}={shlex.quote(v)}' for k, v in values.items())


def main(argv=None, detector=detect, env: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='cmd', required=True)
    sub.add_parser('choose', help='print the choice as shell assignments')
    b = sub.add_parser('build', help='build the wheel of the choice')
    b.add_argument('--wheel-dir', required=True)
    b.add_argument('--sdist', help=f'local mmcv-{MMCV_VERSION}.tar.gz (offline)')
    b.add_argument('--jobs', type=int, default=int(env.get('MAX_JOBS', 2)))
    args = parser.parse_args(argv)
    try:
        choice = decide(detector(env), env)
    except ChoiceError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if args.cmd == 'choose':
        print(shell_assignments(choice))
    else:
        print(build_wheel(choice, args.wheel_dir, args.sdist, args.jobs, env=env))
    return 0


if __name__ == '__main__':
    sys.exit(main())
