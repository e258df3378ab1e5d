"""Convert a timm ``resnest50d`` checkpoint to ``PiNASResNeSt(arch='resnest50')`` keys.

    python tools/model_converters/timm_resnest_to_pinas.py SRC DST [--prefix backbone.]

The formats and options: :mod:`pinas_mm.cli.timm_resnest_to_pinas`; the key mapping:
:mod:`pinas_mm.models.converters`.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from pinas_mm.cli.timm_resnest_to_pinas import main  # noqa: E402

if __name__ == '__main__':
    main()
