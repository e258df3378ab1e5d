"""Ranking study: supernet scores vs. stand-alone accuracy of the same architectures.

    python tools/analysis/ranking_study.py --supernet pinas=A.pth spos=B.pth ...
        [--num-archs 12 --arch-seed 0 | --archs-from results.csv [--top K]]
        [--standalone-config configs/ranking/standalone_tiny-space_1xb32-coslr-15e_tiny-in.py]
        [--standalone-seeds 0 1] [--scorer knn|probe] [--recal-batches 4]
        [--work-dir work_dirs/ranking_study] [--out benchmarks/results/ranking_study_tiny.md]

Each arch trained stand-alone (the ground truth) against the score each supernet gives it;
Kendall tau / Spearman rho / top-k overlap written to OUT (markdown), OUT's .csv and
_correlation.csv. The steps, the cached pieces in the work_dir and the logic:
:mod:`pinas_mm.orchestration.ranking_study`.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from pinas_mm.orchestration.ranking_study import main  # noqa: E402

if __name__ == '__main__':
    main()
