from .path_ema import PathEMA
from .pinas import PiNAS
from .supernet_classifier import SupernetClassifier

__all__ = ['PiNAS', 'PathEMA', 'SupernetClassifier']
