"""The search as an mmengine loop: :func:`~pinas_mm.search.driver.run_search` (propose ->
claim -> evaluate -> store) with the candidate evaluator; resumable, and several runs given
one ``storage`` share the work."""
from typing import Dict, Optional, Tuple

from mmengine.dist import is_main_process

from pinas_mm.registry import LOOPS, STRATEGIES
from pinas_mm.space import Arch
from .driver import HEARTBEAT_INTERVAL, run_search
from .history import CLAIM_TIMEOUT
from .loop_base import SupernetSearchLoop, _build, broadcast


@LOOPS.register_module()
class SearchLoop(SupernetSearchLoop):
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
            is never evaluated (:class:`~pinas_mm.search.budget.Budget`, the strategy's
            ``is_valid``).
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
        super().__init__(runner, dataloader, scorer, recal_batches, flops_budget,
                         params_budget, storage, study_name, topk, input_size, num_classes,
                         seed, claim_timeout, max_iters=num_candidates)
        self.strategy = _build(STRATEGIES, strategy, num_blocks=self.space.num_blocks,
                               num_choices=self.space.num_choices, seed=seed,
                               is_valid=self.budget)
        self.num_candidates = num_candidates
        self.worker_id = worker_id
        self.heartbeat_interval = heartbeat_interval

    def _evaluate(self, arch: Arch) -> Tuple[float, Dict[str, int]]:
        """One candidate: its score and, as record attrs, its FLOPs and params."""
        return self.evaluator(arch), self.complexity(arch)

    def run(self):
        self.check_inputs()
        self.runner.call_hook('before_train')
        history = self.open_history()
        records = broadcast(history.records() if history is not None else None)
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
                                 sync=broadcast, on_record=on_record)
        finally:
            if progress is not None:
                progress.close()
        if history is not None:
            self.write_report(records, self.runner._load_from, self.topk)
            history.close()
        self.runner.call_hook('after_train')
        return self.runner.model


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
