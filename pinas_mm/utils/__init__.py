"""Helpers that need none of the OpenMMLab stack (usable before it is installed)."""
