"""Search sub-architectures of a trained supernet: the command line of
:mod:`pinas_mm.cli.search` (its docstring gives the usage)."""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from pinas_mm.cli.search import main  # noqa: E402

if __name__ == '__main__':
    main()
