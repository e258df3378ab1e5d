"""Test (evaluate) a checkpoint with an mmengine Runner: any pinas_mm / mmpretrain / mmdet /
mmseg config, e.g. the downstream configs under configs/{mask_rcnn,deeplabv3,imagenet}.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options k=v ...]
                         [--launcher none|pytorch|slurm|mpi]
    bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from pinas_mm.cli.test import main  # noqa: E402

if __name__ == '__main__':
    main()
