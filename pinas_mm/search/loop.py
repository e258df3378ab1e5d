"""The search as an mmengine loop: :func:`~pinas_mm.search.driver.run_search` (propose ->
claim -> evaluate -> store) with the candidate evaluator; resumable, and several runs given
one ``storage`` share the work."""
import os.path as osp
from typing import Dict, List, Optional

from mmengine.dist import broadcast_object_list, is_main_process
from mmengine.runner.loops import BaseLoop

from pinas_mm.registry import LOOPS, SCORERS, STRATEGIES
from pinas_mm.space import Arch, SearchSpace
from .driver import HEARTBEAT_INTERVAL, run_search
from .evaluator import CandidateEvaluator, supernet_of, unwrap
from .history import CLAIM_TIMEOUT


def _budget(value, name) -> Optional[tuple]:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return (0, float(value))
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return (float(value[0] or 0), float(value[1]) if value[1] is not None else float('inf'))
    raise ValueError(f'{name}={value!r}: give a maximum (number) or [min, max].')


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


@LOOPS.register_module()
class SearchLoop(BaseLoop):
    """Search sub-architectures of a trained supernet.

    Every rank runs the same loop: the strategy is a deterministic function of the
    history, scores are reduced over ranks (each image counted once: the same score for
    any number of ranks), rank 0 writes each finished evaluation to
    the store at once. Rerunning the same command continues where it stopped.

    Args:
        dataloader: BN recalibration data (the runner's ``train_dataloader``).
        scorer: a ``SCORERS`` config (``LinearProbeScorer``, ``SelfSupLossScorer``,
            ``KNNScorer``) with its own dataloader.
        strategy: a ``STRATEGIES`` config (random / evolution / partition ...).
        num_candidates: evaluations in total (already stored ones count).
        recal_batches: BN recalibration batches per candidate, over all ranks: the first
            ``recal_batches`` batches one process would draw from ``dataloader``, dealt
            out to the ranks, so the statistics do not depend on the number of ranks.
        flops_budget / params_budget: a maximum, or ``[min, max]``; a candidate outside
            is never evaluated.
        storage: SQLAlchemy URL of the history; default ``sqlite:///<work_dir>/search.db``.
            Several searches (processes, machines) given the same URL and study share the
            work (``postgresql+psycopg://user@host/db`` across machines).
        input_size / num_classes: how FLOPs and params are counted.
        worker_id: this search's id in the claims (default ``hostname-pid``).
        heartbeat_interval: seconds between heartbeats of this search's claims.
        claim_timeout: seconds without a heartbeat after which another search takes a
            claim over.
    """

    def __init__(self, runner, dataloader, scorer: dict, strategy: dict,
                 num_candidates: int = 1000, recal_batches: int = 20,
                 flops_budget=None, params_budget=None, storage: Optional[str] = None,
                 study_name: str = 'search', topk: int = 10, input_size: int = 224,
                 num_classes: int = 1000, seed: int = 0, worker_id: Optional[str] = None,
                 heartbeat_interval: float = HEARTBEAT_INTERVAL,
                 claim_timeout: float = CLAIM_TIMEOUT) -> None:
        super().__init__(runner, dataloader)
        self.supernet = supernet_of(runner.model)
        self.space: SearchSpace = self.supernet.space
        self.scorer = _build(SCORERS, scorer)
        self.evaluator = CandidateEvaluator(runner.model, self.dataloader, self.scorer,
                                            recal_batches, self.space, input_size,
                                            num_classes, seed)
        self.flops_budget = _budget(flops_budget, 'flops_budget')
        self.params_budget = _budget(params_budget, 'params_budget')
        self.strategy = _build(STRATEGIES, strategy, num_blocks=self.space.num_blocks,
                               num_choices=self.space.num_choices, seed=seed,
                               is_valid=self.within_budget)
        self.num_candidates = num_candidates
        self.recal_batches = recal_batches
        self.storage = storage or 'sqlite:///' + osp.join(
            osp.abspath(runner.work_dir), 'search.db')
        self.study_name = study_name
        self.topk = topk
        self.input_size, self.num_classes = input_size, num_classes
        self.worker_id = worker_id
        self.heartbeat_interval, self.claim_timeout = heartbeat_interval, claim_timeout
        self._max_iters = num_candidates
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

    # ---- budgets -----------------------------------------------------------------------
    def complexity(self, arch: Arch) -> Dict[str, int]:
        return self.evaluator.complexity(arch)

    def within_budget(self, arch: Arch) -> bool:
        cx = self.complexity(arch)
        for key, budget in (('flops', self.flops_budget), ('params', self.params_budget)):
            if budget is not None and not budget[0] <= cx[key] <= budget[1]:
                return False
        return True

    def check_inputs(self) -> None:
        """Fail before any work: checkpoint, budgets, recalibration data size."""
        from pinas_mm.models.complexity import complexity_table
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
        bounds = complexity_table(self.space, self.input_size, self.num_classes).bounds()
        for key, budget in (('flops', self.flops_budget), ('params', self.params_budget)):
            if budget is not None:
                lo, hi = bounds[key]
                if budget[1] < lo or budget[0] > hi:
                    raise ValueError(
                        f'No architecture satisfies {key}_budget={list(budget)}: the space '
                        f'{self.space.name} spans {key} [{lo:,}, {hi:,}] at input '
                        f'{self.input_size} with a {self.num_classes}-class head.')
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

    # ---- the loop ----------------------------------------------------------------------
    def _load_records(self, history) -> List[Dict]:
        records = [history.records()] if is_main_process() else [None]
        broadcast_object_list(records)
        return records[0]

    def _evaluate(self, arch: Arch):
        """One candidate: its score and, as record attrs, its FLOPs and params."""
        score = self.evaluator(arch)
        return score, self.complexity(arch)

    def run(self):
        from .history import SearchHistory
        self.check_inputs()
        self.runner.call_hook('before_train')
        history = SearchHistory(self.storage, self.study_name, self.space.num_blocks,
                                self.space.num_choices, claim_timeout=self.claim_timeout
                                ) if is_main_process() else None
        records = self._load_records(history)
        done = len(records)
        self.runner.logger.info(
            f'Search: {done} evaluations found in {self.storage}, '
            f'{max(self.num_candidates - done, 0)} to go.')
        progress = _Progress(self.num_candidates, done, records) if is_main_process() else None

        def on_record(record, recorded):
            self._iter = recorded
            progress.update(record, recorded)

        try:
            records = run_search(self.strategy, self._evaluate, history, self.num_candidates,
                                 worker=self.worker_id,
                                 heartbeat_interval=self.heartbeat_interval,
                                 sync=_broadcast, on_record=on_record)
        finally:
            if progress is not None:
                progress.close()
        if is_main_process():
            from .report import write_search_report
            write_search_report(records, self.runner.work_dir, self.topk,
                                logger=self.runner.logger, space=self.space.name,
                                checkpoint=self.runner._load_from)
            history.close()
        self.runner.call_hook('after_train')
        return self.runner.model


def _broadcast(obj):
    """Rank 0's ``obj`` on every rank (no-op without distributed)."""
    box = [obj]
    broadcast_object_list(box)
    return box[0]


class _Progress:
    """A rich progress bar: evaluated / total with the best score so far."""

    def __init__(self, total, done, records):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)
        self.best = max((r['score'] for r in records), default=float('-inf'))
        self.bar = Progress(TextColumn('search'), BarColumn(), MofNCompleteColumn(),
                            TextColumn('best {task.fields[best]}'), TimeElapsedColumn(),
                            TimeRemainingColumn())
        self.bar.start()
        self.task = self.bar.add_task('search', total=total, completed=done,
                                      best=self._fmt())

    def _fmt(self):
        return 'n/a' if self.best == float('-inf') else f'{self.best:.4g}'

    def update(self, rec, recorded):
        """``rec`` was just stored; ``recorded`` records are stored in all (every worker's)."""
        self.best = max(self.best, rec['score'])
        self.bar.update(self.task, completed=recorded, best=self._fmt())

    def close(self):
        self.bar.stop()
