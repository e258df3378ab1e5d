from .resnest_space import ChoiceBlock, PiNASResNeSt, PiNASSuperNet, build_candidate

__all__ = ['PiNASResNeSt', 'PiNASSuperNet', 'ChoiceBlock', 'build_candidate']
