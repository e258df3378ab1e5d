"""Export a searched subnet: ARCH.yaml + a backbone checkpoint with inherited weights.

    python tools/export_subnet.py SUPERNET.pth --arch ARCH [--out-dir DIR]
    python tools/export_subnet.py SUPERNET.pth --from-search WORK_DIR [--out-dir DIR]
The checkpoint's keys are ``backbone.*``: load it in any mmdet / mmseg / mmpretrain
config with ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.
The export itself: :mod:`pinas_mm.export`.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from pinas_mm.export import main  # noqa: E402

if __name__ == '__main__':
    main()
