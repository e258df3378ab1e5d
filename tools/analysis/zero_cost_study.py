"""Ranking study: training-free scorers vs the NAS-Bench-201 CIFAR-10 table.

    OMP_NUM_THREADS=1 python tools/analysis/zero_cost_study.py \
        --data-root ../shared/data/cifar10/train --num-archs 200 \
        --out benchmarks/results/zero_cost_nb201.md

Writes OUT (markdown), OUT with .csv (per-cell scores) and OUT with .png (scatter plots).
The logic is :func:`pinas_mm.analysis_zero_cost.main`.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from pinas_mm.analysis_zero_cost import main  # noqa: E402

if __name__ == '__main__':
    main()
