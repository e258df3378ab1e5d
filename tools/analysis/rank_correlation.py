"""Kendall tau, Spearman rho and top-k overlap between two score lists of the same archs.

    python tools/analysis/rank_correlation.py A.csv B.csv [--col-a score] [--col-b score]
                                              [--topk 5] [--plot scatter.png]
Both files need a column ``arch``; rows are matched by arch. The logic:
:mod:`pinas_mm.analysis`.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from pinas_mm.analysis import main  # noqa: E402

if __name__ == '__main__':
    main()
