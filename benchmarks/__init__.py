"""Benchmark scripts (run them as files: ``python benchmarks/X.py``). This file makes them
importable as ``benchmarks.X`` from the repository root, so tests and ``gpu_check`` import
them as modules; it is not part of the installed ``pinas_mm`` package."""
