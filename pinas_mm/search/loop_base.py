"""What every search loop over a trained supernet sets up the same way.

:class:`SupernetSearchLoop` is the base of :class:`~pinas_mm.search.SearchLoop` and
:class:`~pinas_mm.search.PerturbationLoop`: the supernet of the runner's model, the
scorer, the candidate evaluator (BN recalibration + scorer), the FLOPs / params
:class:`~pinas_mm.search.budget.Budget`, the input checks run before any work, the
:class:`~pinas_mm.search.SearchHistory` (opened on rank 0 only) and the broadcast of rank
0's objects to the other ranks.
"""
import os.path as osp
from typing import Any, Dict, Optional

from mmengine.dist import broadcast_object_list, is_main_process
from mmengine.runner.loops import BaseLoop

from pinas_mm.registry import SCORERS
from pinas_mm.space import Arch, SearchSpace
from .budget import Budget
from .evaluator import CandidateEvaluator, supernet_of, unwrap
from .history import CLAIM_TIMEOUT, SearchHistory


def _build(registry, cfg: dict, **default_args):
    """Build from a pinas_mm-only registry without switching the default scope (the
    nested dataloaders of a scorer must still resolve in the config's scope)."""
    cfg = dict(cfg)
    name = cfg.pop('type')
    cls = registry.get(name.split('.', 1)[1] if name.startswith('pinas_mm.') else name)
    if cls is None:
        raise KeyError(f'{name!r} is not a registered {registry.name}; known: '
                       f'{sorted(registry.module_dict)}')
    return cls(**{**default_args, **cfg})


def broadcast(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (no-op without distributed)."""
    box = [obj]
    broadcast_object_list(box)
    return box[0]


class SupernetSearchLoop(BaseLoop):
    """The set-up shared by the search loops (an abstract mmengine loop: no ``run``).

    Args:
        runner: the mmengine runner; its model's backbone is the supernet.
        dataloader: BN recalibration data (the runner's ``train_dataloader``).
        scorer: a ``SCORERS`` config.
        recal_batches: BN recalibration batches per evaluated path, over all ranks.
        flops_budget / params_budget: see :class:`~pinas_mm.search.budget.Budget`.
        storage: SQLAlchemy URL of the :class:`SearchHistory`; default
            ``sqlite:///<work_dir>/search.db``.
        study_name: the history's study.
        topk / input_size / num_classes / seed: report size, how FLOPs and params are
            counted, and the seed of the evaluator's batches.
        claim_timeout: the history's claim timeout (seconds).
        max_iters: the loop's ``max_iters`` (what mmengine hooks see).
    """

    def __init__(self, runner, dataloader, scorer: dict, recal_batches: int,
                 flops_budget=None, params_budget=None, storage: Optional[str] = None,
                 study_name: str = 'search', topk: int = 10, input_size: int = 224,
                 num_classes: int = 1000, seed: int = 0,
                 claim_timeout: float = CLAIM_TIMEOUT, max_iters: int = 1) -> None:
        super().__init__(runner, dataloader)
        self.supernet = supernet_of(runner.model)
        self.space: SearchSpace = self.supernet.space
        self.budget = Budget(flops_budget, params_budget, self.space, input_size,
                             num_classes)
        self.scorer = _build(SCORERS, scorer)
        self.evaluator = CandidateEvaluator(runner.model, self.dataloader, self.scorer,
                                            recal_batches, seed=seed)
        self.recal_batches, self.seed = recal_batches, seed
        self.storage = storage or 'sqlite:///' + osp.join(
            osp.abspath(runner.work_dir), 'search.db')
        self.study_name = study_name
        self.topk = topk
        self.input_size, self.num_classes = input_size, num_classes
        self.claim_timeout = claim_timeout
        self._max_iters = max_iters
        self._iter = 0

    @property
    def max_iters(self):
        return self._max_iters

    @property
    def iter(self):
        return self._iter

    @property
    def epoch(self):
        return 0

    @property
    def max_epochs(self):
        return 1

    def complexity(self, arch: Arch) -> Dict[str, int]:
        """``{'flops', 'params'}`` of ``arch`` (what a record stores and the budget limits)."""
        return self.budget.complexity(arch)

    def check_inputs(self) -> None:
        """Fail before any work: checkpoint, budgets, recalibration data size."""
        ckpt = self.runner._load_from
        if not ckpt:
            raise ValueError('The search needs a trained supernet: pass --checkpoint '
                             'SUPERNET.pth (load_from is empty).')
        from pinas_mm.engine.checkpoint import read_state_dict
        state = read_state_dict(ckpt)  # one-line CheckpointError for a missing/broken file
        own = unwrap(self.runner.model).state_dict()
        missing = sorted(k for k in own if k not in state)
        shape = sorted(k for k in own if k in state and state[k].shape != own[k].shape)
        if missing or shape:
            raise ValueError(
                f'Checkpoint {ckpt!r} does not fit this search model (space '
                f'{self.space.name}): {len(missing)} missing keys {missing[:6]}, '
                f'{len(shape)} mis-shaped keys {shape[:6]}. Is it a supernet of another '
                f'space, or of another algorithm than the scorer needs?')
        self.budget.check_reachable()
        from pinas_mm.engine.sharding import BatchShards
        available = len(BatchShards(self.dataloader, drop_last=bool(
            getattr(self.dataloader, 'drop_last', False))))
        if available < self.recal_batches:
            raise ValueError(
                f'recal_batches={self.recal_batches} but the recalibration dataloader has '
                f'only {available} batches (one pass over its dataset of '
                f'{len(self.dataloader.dataset)} images at batch size '
                f'{self.dataloader.batch_size}, over all ranks); lower recal_batches or the '
                f'batch size, or use a larger split.')

    def open_history(self) -> Optional[SearchHistory]:
        """The history at ``storage`` / ``study_name`` on rank 0, ``None`` on the others
        (only rank 0 talks to the database)."""
        if not is_main_process():
            return None
        return SearchHistory(self.storage, self.study_name, self.space.num_blocks,
                             self.space.num_choices, claim_timeout=self.claim_timeout)

    def write_report(self, records, checkpoint: str, topk: int, **meta) -> None:
        """results.csv / results.json / best_arch.yaml and plots (rank 0 only)."""
        if is_main_process():
            from .report import write_search_report
            write_search_report(records, self.runner.work_dir, topk,
                                logger=self.runner.logger, space=self.space.name,
                                checkpoint=checkpoint, **meta)
