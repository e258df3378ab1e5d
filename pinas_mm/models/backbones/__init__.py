from .resnest_space import (ChoiceBlock, PiNASResNeSt, PiNASSuperNet, build_candidate,
                            step_rng)

__all__ = ['PiNASResNeSt', 'PiNASSuperNet', 'ChoiceBlock', 'build_candidate', 'step_rng']
