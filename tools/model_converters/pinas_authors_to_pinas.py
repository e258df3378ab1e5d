"""Convert the Pi-NAS authors' checkpoints (github.com/Ernie1/Pi-NAS) to pinas_mm keys.

    python tools/model_converters/pinas_authors_to_pinas.py SRC DST [--kind auto]
        [--arch ARCH] [--space NAME] [--encoder q|k] [--src-prefix P] [--prefix backbone.]

The formats and options: :mod:`pinas_mm.cli.pinas_authors_to_pinas`; the key mapping:
:mod:`pinas_mm.models.converters`.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from pinas_mm.cli.pinas_authors_to_pinas import main  # noqa: E402

if __name__ == '__main__':
    main()
