"""Search sub-architectures of a trained supernet (mmengine Runner + SearchLoop).

    python tools/search.py CONFIG --checkpoint SUPERNET.pth [--work-dir DIR]
                           [--storage URL] [--worker-id ID]
                           [--cfg-options k=v ...] [--launcher none|pytorch|slurm]
Running the same command again continues a stopped search (history in work_dir).
Several runs given the same --storage (e.g. postgresql+psycopg://USER@HOST/DB on several
machines, or one SQLite file on one machine) share the work: each candidate is claimed
before it is evaluated, and the search ends with exactly train_cfg.num_candidates records.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from pinas_mm.cli.search import main  # noqa: E402

if __name__ == '__main__':
    main()
