"""A throwaway PostgreSQL server for tests: ``initdb`` into a temporary folder, ``pg_ctl``
start on a free local port (trust authentication, 127.0.0.1 only, fsync off), and stop +
delete afterwards.

Uses the server binaries of Debian's ``postgresql`` package (``/usr/lib/postgresql/<v>/bin``,
or ``initdb`` / ``pg_ctl`` on ``PATH``). PostgreSQL refuses to run as root: under root the
server runs as the ``postgres`` user that package creates (``runuser``), and the data
folder is handed to that user.

    with PostgresServer() as url:   # 'postgresql+psycopg://postgres@127.0.0.1:PORT/postgres'
        ...
"""
import glob
import os
import os.path as osp
import pwd
import shutil
import socket
import subprocess
import tempfile
from typing import List, Optional

INSTALL_HINT = ('install the Debian/Ubuntu package `postgresql` (apt-get install postgresql), '
                'or put initdb and pg_ctl on PATH')


def find_bin_dir() -> str:
    """The folder holding ``initdb`` and ``pg_ctl`` (newest packaged version first);
    ``RuntimeError`` with one line saying what to install if there is none."""
    candidates = sorted(glob.glob('/usr/lib/postgresql/*/bin'),
                        key=lambda p: int(p.split('/')[-2]) if p.split('/')[-2].isdigit()
                        else 0, reverse=True)
    on_path = shutil.which('initdb')
    if on_path:
        candidates.append(osp.dirname(osp.realpath(on_path)))
    for folder in candidates:
        if all(os.access(osp.join(folder, b), os.X_OK) for b in ('initdb', 'pg_ctl')):
            return folder
    raise RuntimeError(f'PostgreSQL server binaries (initdb, pg_ctl) not found: {INSTALL_HINT}.')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder; ``url`` is its SQLAlchemy URL
    (psycopg 3 driver, database ``postgres``, user ``postgres``, no password)."""

    def __init__(self, bin_dir: Optional[str] = None):
        self.bin_dir = bin_dir or find_bin_dir()
        self.root: Optional[str] = None
        self.port: Optional[int] = None
        self.url: Optional[str] = None
        self._prefix: List[str] = []
        if os.geteuid() == 0:
            try:
                pwd.getpwnam('postgres')
            except KeyError:
                raise RuntimeError('Running as root, PostgreSQL needs the `postgres` user to '
                                   f'run the server as: {INSTALL_HINT}.') from None
            self._prefix = ['runuser', '-u', 'postgres', '--']

    def _run(self, *args: str) -> None:
        cmd = self._prefix + [osp.join(self.bin_dir, args[0]), *args[1:]]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            log = ''
            if self.root and osp.exists(osp.join(self.root, 'server.log')):
                with open(osp.join(self.root, 'server.log')) as f:
                    log = f.read()[-2000:]
            raise RuntimeError(f'{" ".join(cmd)} failed ({proc.returncode}): '
                               f'{proc.stdout[-2000:]}{proc.stderr[-2000:]}{log}')

    def start(self) -> str:
        self.root = tempfile.mkdtemp(prefix='pinas_mm_pg_')
        if self._prefix:
            user = pwd.getpwnam('postgres')
            os.chown(self.root, user.pw_uid, user.pw_gid)
        data = osp.join(self.root, 'data')
        self._run('initdb', '-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8',
                  '--no-sync', '--no-instructions')
        for attempt in range(3):  # a port taken between free_port() and the bind: retry
            self.port = free_port()
            try:
                self._run('pg_ctl', '-D', data, '-l', osp.join(self.root, 'server.log'), '-w',
                          '-t', '60', '-o',
                          f'-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 '
                          '-c fsync=off -c synchronous_commit=off -c full_page_writes=off '
                          '-c max_connections=100', 'start')
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        self.url = f'postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres'
        return self.url

    def stop(self) -> None:
        if self.root is None:
            return
        try:
            if osp.exists(osp.join(self.root, 'data', 'postmaster.pid')):
                self._run('pg_ctl', '-D', osp.join(self.root, 'data'), '-m', 'immediate',
                          '-w', 'stop')
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> str:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
