"""The one way a flow runs a tool of ``tools/``: a Python subprocess, its output in a log.

The main job (:mod:`pinas_mm.orchestration.pipeline`), the NTAA flow
(:mod:`pinas_mm.orchestration.ntaa`) and the ranking study train, search and export by
running the same scripts a user runs, each in a fresh process: a stage's memory is freed
when it ends, its distributed / threading set-up is that of the command line, and its log
is the log the user would see.
"""
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

#: the repository root (the folder holding ``pinas_mm/``, ``tools/`` and ``configs/``)
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(ROOT, 'tools')


class ToolFailed(RuntimeError):
    """A tool exited non-zero. ``returncode`` and ``log_file`` say how and where."""

    def __init__(self, message: str, returncode: int, log_file: str):
        super().__init__(message)
        self.returncode = returncode
        self.log_file = log_file


def tool_command(tool: str, *args: str, relative: bool = False) -> List[str]:
    """``[python, tools/<tool>, *args]`` with this interpreter.

    Args:
        tool (str): the script's path under ``tools/``, e.g. ``'train.py'`` or
            ``'dataset_converters/make_tiny_datasets.py'``.
        relative (bool): name the script relative to the repository root (the command must
            then run with ``cwd=ROOT``), as the main job's report shows it.
    """
    path = osp.join('tools', tool) if relative else osp.join(TOOLS, tool)
    return [sys.executable, path, *args]


def tool_env(threads: Optional[str] = None, **extra: str) -> Dict[str, str]:
    """This process's environment with the repository root first on ``PYTHONPATH``,
    ``OMP_NUM_THREADS=threads`` when given, and ``extra`` variables."""
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env.update(extra)
    if threads is not None:
        env['OMP_NUM_THREADS'] = str(threads)
    return env


def run_tool(cmd: Sequence[str], log_file: str, env: Optional[Dict[str, str]] = None,
             cwd: Optional[str] = None, append: bool = False,
             echo: Optional[Callable[[str], None]] = None,
             failure: Optional[Callable[[int, str], str]] = None) -> float:
    """Run ``cmd`` to the end, its stdout and stderr (merged) written to ``log_file``.

    Args:
        cmd: the command, e.g. from :func:`tool_command`.
        log_file (str): the log; its folder is created. ``append=True`` keeps what an
            earlier (interrupted) run wrote there.
        env (dict): the environment; default :func:`tool_env` ().
        cwd (str): the working folder; default this process's.
        echo (callable): called with every output line (trailing newline kept) as it comes,
            e.g. to show progress; ``None`` reads nothing and lets the tool write the log
            itself.
        failure (callable): ``(returncode, log_file) -> message`` of the error on failure;
            default ``'<cmd[1]> failed (exit N); see LOG'``.

    Returns:
        float: the run's wall time in seconds.

    Raises:
        ToolFailed: the tool exited non-zero.
    """
    os.makedirs(osp.dirname(osp.abspath(log_file)), exist_ok=True)
    env = tool_env() if env is None else env
    start = time.time()
    with open(log_file, 'a' if append else 'w') as log:
        if echo is None:
            returncode = subprocess.run(list(cmd), cwd=cwd, env=env, stdout=log,
                                        stderr=subprocess.STDOUT).returncode
        else:
            proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, bufsize=1)
            for line in proc.stdout:
                log.write(line)
                echo(line)
            returncode = proc.wait()
    if returncode != 0:
        message = failure(returncode, log_file) if failure is not None else \
            f'{cmd[1] if len(cmd) > 1 else cmd[0]} failed (exit {returncode}); see {log_file}'
        raise ToolFailed(message, returncode, log_file)
    return time.time() - start


class StagedRun:
    """A flow of stages in one work_dir, each in ``<work_dir>/<stage>/``, each usually a
    tool run by :func:`run_tool`; a stage found finished is skipped, so rerunning the flow
    continues it. Subclasses (the main job, the NTAA flow) say what their stages run and
    how a finished stage is recognised."""

    def __init__(self, work_dir: str, log: Callable[[str], None] = print):
        self.work_dir = osp.abspath(work_dir)
        self.log = log

    def path(self, *parts: str) -> str:
        return osp.join(self.work_dir, *parts)

    def stage_dir(self, stage: str) -> str:
        return self.path(stage)
