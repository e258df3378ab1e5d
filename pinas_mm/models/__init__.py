from .backbones import *  # noqa: F401,F403
from .algorithms import *  # noqa: F401,F403
from .complexity import arch_complexity, complexity_table
from .inherit import check_state_matches, inherit_subnet_state, load_subnet_state

__all__ = ['arch_complexity', 'complexity_table', 'inherit_subnet_state', 'check_state_matches',
           'load_subnet_state']
