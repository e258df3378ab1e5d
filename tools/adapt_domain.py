"""NTAA per-domain adaptation: adapt a source supernet to a target domain, search there.

    python tools/adapt_domain.py CONFIG --source SUPERNET.pth [--work-dir DIR]
                                 [--stages prepare adapt probe search export]

CONFIG: an NTAA flow config (configs/ntaa/). The flow, its stages, placeholders and
resume rules: :mod:`pinas_mm.orchestration.ntaa`.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from pinas_mm.orchestration.ntaa import main  # noqa: E402

if __name__ == '__main__':
    main()
