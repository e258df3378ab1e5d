"""Datasets: the built-in synthetic tiny sets (``tiny``), CamVid (``camvid``) and the
held-out split wrapper (``split``).

The submodules are imported on demand (the ``pinas_mm`` DATASETS registry imports
``split`` and ``camvid`` when a config names ``pinas_mm.CamVidDataset`` or
``pinas_mm.HeldOutSplit``), so importing ``pinas_mm.datasets.tiny`` does not import mmseg.
"""
