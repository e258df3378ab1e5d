"""pinas_mm: Pi-NAS and friends on OpenMMLab 2.x.

Importing the package registers every component in the ``pinas_mm`` scope.
"""
__version__ = '0.1.0'

from . import models  # noqa: F401,E402
from .space import NAMED_ARCHS, Arch, SearchSpace  # noqa: F401,E402
from . import engine  # noqa: F401,E402
from . import search  # noqa: F401,E402
