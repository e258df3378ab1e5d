"""Ranking study: NAS-Bench-201 supernets (and the training-free scorers) vs the table.

    OMP_NUM_THREADS=1 python tools/analysis/nb201_ranking_study.py \
        --supernet pinas=work_dirs/nb201/pinas/epoch_N.pth spos=work_dirs/nb201/spos/epoch_N.pth \
        --data-root ../shared/data/cifar10 --num-archs 200 \
        --zero-cost benchmarks/results/zero_cost_nb201.csv \
        --search-candidates 40 --darts-pt-paths 4 --out benchmarks/results/ranking_nb201.md

Writes OUT (markdown), OUT with .csv (per-cell scores) and .png (scatter plot per
supernet). The logic lives in :mod:`pinas_mm.analysis_nb201`.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from pinas_mm.analysis_nb201 import main  # noqa: E402

if __name__ == '__main__':
    main()
