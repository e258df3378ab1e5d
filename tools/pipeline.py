"""The main job: unlabelled images -> searched backbone -> Mask R-CNN and DeepLabV3.

    python tools/pipeline.py [--data tiny|real] [--data-root DIR] [--seeds 3] [--jobs 1]
                             [--work-dir work_dirs/pipeline]
Rerunning continues: a stage whose outputs exist is skipped. The stages, presets and
report: :mod:`pinas_mm.orchestration.pipeline`.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from pinas_mm.orchestration.pipeline import main  # noqa: E402

if __name__ == '__main__':
    main()
