from .resnest_space import (ChoiceBlock, PiNASResNeSt, PiNASSuperNet, build_candidate,
                            step_rng)
from .nb201 import NB201Net, NB201SuperNet, inherit_nb201_state  # noqa: E402

__all__ = ['PiNASResNeSt', 'PiNASSuperNet', 'ChoiceBlock', 'build_candidate', 'step_rng',
           'NB201Net', 'NB201SuperNet', 'inherit_nb201_state']
