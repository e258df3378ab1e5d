"""DARTS-PT as an mmengine loop: :class:`PerturbationLoop` runs the
:class:`~pinas_mm.search.perturbation_selector.PerturbationSelector` with the candidate
evaluator, stores its records in the :class:`~pinas_mm.search.SearchHistory` and tunes the
supernet between decisions (:class:`ProgressiveTuner`, inside :func:`restrict_paths`).
See :mod:`pinas_mm.search.perturbation` for the method."""
import contextlib
import csv
import json
import math
import os
import os.path as osp
import random
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import barrier, broadcast_object_list, is_main_process

from pinas_mm.registry import LOOPS
from pinas_mm.space import Arch
from .evaluator import unwrap
from .history import SearchHistory
from .loop_base import SupernetSearchLoop, broadcast
from .perturbation_selector import Allowed, PerturbationSelector

#: the file older versions kept the selection's records in (JSON lines, in the work_dir)
LEGACY_STORE = 'perturbation.jsonl'


@contextlib.contextmanager
def restrict_paths(supernet, allowed: Sequence[Sequence[int]]):
    """Within the context, every path the supernet samples lies in ``allowed``.

    Sets the supernet's own per-block restriction (``set_allowed``, the
    ``allowed_candidates`` state of
    :class:`~pinas_mm.models.backbones.path_sampling.PathSamplingMixin`) that its
    ``sample_arch`` and ``sample_disjoint_archs`` read (what ``PiNAS.sample_paths`` and
    ``SupernetClassifier.loss`` call; an ``allowed`` a caller passes is intersected with
    it), and puts the previous restriction back on exit. Any space whose supernet mixes
    in ``PathSamplingMixin`` works the same way (ResNeSt blocks, NAS-Bench-201 edges).
    """
    if not hasattr(supernet, 'set_allowed'):
        raise TypeError(f'{type(supernet).__name__} holds no allowed candidates (no '
                        'set_allowed): DARTS-PT needs a supernet with PathSamplingMixin, '
                        'e.g. pinas_mm.PiNASSuperNet or pinas_mm.NB201SuperNet.')
    previous = supernet.set_allowed(allowed)
    try:
        yield supernet
    finally:
        supernet.set_allowed(previous)


def path_sampling(model):
    """The context in which ``model``'s training steps sample a path each: the model's
    own ``sampling_paths()`` (:meth:`pinas_mm.SupernetClassifier.sampling_paths`, for
    models that otherwise train one fixed path), or nothing for models that always
    sample (``pinas_mm.PiNAS``)."""
    sampling = getattr(model, 'sampling_paths', None)
    return sampling() if callable(sampling) else contextlib.nullcontext()


class ProgressiveTuner:
    """Progressive tuning: ``iters`` train steps of ``model`` on paths inside ``allowed``
    after each decision, then a checkpoint per decision.

    The model trains as an mmengine train loop runs it (``model.train_step(data,
    optim_wrapper)`` in train mode) inside :func:`restrict_paths` (the supernet samples
    only inside the allowed sets) and :func:`path_sampling` (every step samples a path).
    The model's configuration is left alone. The global RNGs are seeded with
    ``seed * 1_000_003 + step`` before tuning after decision ``step``.

    Args:
        model: the runner's model (possibly wrapped).
        optim_wrapper: the runner's optimizer wrapper.
        supernet: the backbone of ``model``.
        dataloader: tuning data (cycled; the sampler's epoch is
            ``step * 100_003 + pass``).
        iters / seed: iterations per tuning and the seed.
        ckpt_dir: ``decision_{k}.pth`` (model + optimizer state) after decision ``k``.
        max_keep_ckpts: checkpoints kept (the newest ones).
        logger: an mmengine logger.
    """

    def __init__(self, model, optim_wrapper, supernet, dataloader, iters: int, seed: int,
                 ckpt_dir: str, max_keep_ckpts: int, logger):
        self.model, self.optim_wrapper, self.supernet = model, optim_wrapper, supernet
        self.dataloader, self.iters, self.seed = dataloader, iters, seed
        self.ckpt_dir, self.max_keep_ckpts, self.logger = ckpt_dir, max_keep_ckpts, logger
        self.last_path: Optional[str] = None

    def path(self, k: int) -> str:
        return osp.join(self.ckpt_dir, f'decision_{k}.pth')

    def restore(self, num_decisions: int) -> int:
        found = [0]
        if is_main_process():
            for k in range(num_decisions, 0, -1):
                if osp.isfile(self.path(k)):
                    found[0] = k
                    break
        broadcast_object_list(found)
        k = found[0]
        if k:
            from pinas_mm.engine.checkpoint import read_checkpoint
            ckpt = read_checkpoint(self.path(k))  # one-line error for a broken file
            unwrap(self.model).load_state_dict(ckpt['state_dict'])
            self.optim_wrapper.load_state_dict(ckpt['optimizer'])
            self.last_path = self.path(k)
            self.logger.info(f'Perturbation: tuned supernet of decision {k} loaded '
                             f'from {self.last_path}.')
        return k

    def _batches(self, step: int):
        loader = self.dataloader
        epoch = 0
        while True:
            if hasattr(loader.sampler, 'set_epoch'):
                loader.sampler.set_epoch(step * 100_003 + epoch)
            got = False
            for data in loader:
                got = True
                yield data
            if not got:
                raise ValueError('The tuning dataloader is empty.')
            epoch += 1

    def __call__(self, step: int, allowed: Allowed) -> None:
        model, inner = self.model, unwrap(self.model)
        seed = self.seed * 1_000_003 + step
        random.seed(seed), np.random.seed(seed % 2**32), torch.manual_seed(seed)
        losses = []
        with restrict_paths(self.supernet, allowed), path_sampling(inner):
            was_training = inner.training
            inner.train()
            try:
                for i, data in zip(range(self.iters), self._batches(step)):
                    out = model.train_step(data, optim_wrapper=self.optim_wrapper)
                    loss = float(out['loss'])  # parse_losses' total of every loss term
                    if not math.isfinite(loss):
                        raise FloatingPointError(
                            f'Non-finite loss {out} while tuning after decision {step} '
                            f'(iteration {i + 1}): lower the optimizer lr of the config.')
                    losses.append(loss)
            finally:
                inner.train(was_training)
        self.logger.info(f'Perturbation: tuned {len(losses)} iterations after decision '
                         f'{step}, mean loss {np.mean(losses):.4f}.')
        path = self.path(step + 1)
        if is_main_process():
            os.makedirs(self.ckpt_dir, exist_ok=True)
            tmp = path + '.tmp'
            torch.save(dict(state_dict=inner.state_dict(),
                            optimizer=self.optim_wrapper.state_dict(),
                            meta=dict(decisions=step + 1, allowed=allowed)), tmp)
            os.replace(tmp, path)
            for k in range(1, step + 2 - self.max_keep_ckpts):
                if osp.isfile(self.path(k)):
                    os.remove(self.path(k))
        barrier()
        self.last_path = path


@LOOPS.register_module()
class PerturbationLoop(SupernetSearchLoop):
    """DARTS-PT selection of a trained supernet, block by block (see
    :mod:`pinas_mm.search.perturbation`).

    Args:
        dataloader: BN recalibration data (the runner's ``train_dataloader``).
        scorer: a ``SCORERS`` config, as for :class:`~pinas_mm.search.SearchLoop`.
        num_paths: sampled paths per with-removal estimate.
        recal_batches: BN recalibration batches per path, over all ranks (as for
            :class:`~pinas_mm.search.SearchLoop`: estimates do not depend on the number
            of ranks).
        order: blocks in decision order; None: a random permutation from ``seed``.
        tune_iters: progressive tuning iterations after each decision (0: none). The
            model's ``train_step`` runs with the runner's ``optim_wrapper`` on
            ``tune_dataloader`` (:class:`ProgressiveTuner`); a ``SupernetClassifier``
            samples a path every step during tuning (its ``sampling_paths()``) even when
            its config says ``sample_path=False``.
        tune_dataloader: a dataloader config for tuning; default the recalibration data.
        max_keep_ckpts: tuned checkpoints kept (the newest ones).
        storage / study_name: where the settings, estimates and decisions are stored
            (:meth:`SearchHistory.add_decision`); default
            ``sqlite:///<work_dir>/search.db``, study ``perturbation``. A rerun continues
            from them. Records of an older version in ``<work_dir>/perturbation.jsonl``
            are imported into an empty study on the first rerun.
        topk / input_size / num_classes / seed: as for :class:`~pinas_mm.search.SearchLoop`.
    """

    def __init__(self, runner, dataloader, scorer: dict, num_paths: int = 8,
                 recal_batches: int = 20, order: Optional[Sequence[int]] = None,
                 tune_iters: int = 0, tune_dataloader: Optional[dict] = None,
                 max_keep_ckpts: int = 2, storage: Optional[str] = None,
                 study_name: str = 'perturbation', topk: int = 5, input_size: int = 224,
                 num_classes: int = 1000, seed: int = 0) -> None:
        for name, value, low in (('tune_iters', tune_iters, 0),
                                 ('max_keep_ckpts', max_keep_ckpts, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f'Invalid {name}={value!r}: expected an int >= {low}.')
        super().__init__(runner, dataloader, scorer, recal_batches, storage=storage,
                         study_name=study_name, topk=topk, input_size=input_size,
                         num_classes=num_classes, seed=seed)
        self.order = PerturbationSelector.check_order(order, self.space.num_blocks, seed)
        self.num_paths = num_paths
        self.tune_iters, self.max_keep_ckpts = tune_iters, max_keep_ckpts
        self.tune_dataloader = self.dataloader
        if tune_dataloader is not None and tune_iters:
            from mmengine.runner import Runner
            self.tune_dataloader = (Runner.build_dataloader(tune_dataloader, seed=runner.seed)
                                    if isinstance(tune_dataloader, dict) else tune_dataloader)
        self._max_iters = self.space.num_blocks
        self._history: Optional[SearchHistory] = None

    def check_inputs(self) -> None:
        super().check_inputs()
        if self.tune_iters:
            params = [p for p in unwrap(self.runner.model).backbone.parameters()
                      if p.requires_grad]
            if not params:
                raise ValueError(
                    f'tune_iters={self.tune_iters} but no backbone parameter is trainable '
                    '(e.g. SupernetClassifier freeze_backbone=True): the supernet would not '
                    'change. Set model.freeze_backbone=False, or tune_iters=0.')
            lrs = [g['lr'] for g in self.runner.optim_wrapper.optimizer.param_groups]
            if not any(lr > 0 for lr in lrs):
                raise ValueError(f'tune_iters={self.tune_iters} but the optimizer lr is '
                                 f'{lrs}: set optim_wrapper.optimizer.lr > 0.')

    def _import_legacy(self, history: SearchHistory) -> None:
        """Records an older version wrote to ``<work_dir>/perturbation.jsonl``, added to
        a study that holds none yet (the file is left as it is)."""
        path = osp.join(osp.abspath(self.runner.work_dir), LEGACY_STORE)
        if not osp.isfile(path) or history.decision_records():
            return
        with open(path) as f:
            try:
                records = [json.loads(line) for line in f if line.strip()]
            except json.JSONDecodeError as e:
                raise ValueError(f'{path!r} (the records of an older perturbation run) is not '
                                 f'JSON lines ({e}): move it away to start afresh.') from None
        for r in records:
            history.add_decision(r)
        self.runner.logger.info(
            f'Perturbation: imported {len(records)} records of {path} into '
            f'{history.storage_url} (study {history.study_name!r}); the file is no longer '
            'read.')

    def _open_decisions(self) -> SearchHistory:
        """Rank 0: the history (legacy records imported); other ranks: an in-memory copy
        of its decision records (they compute the same decisions, rank 0 alone stores)."""
        history = self.open_history()
        if history is not None:
            self._import_legacy(history)
        records = broadcast(history.decision_records() if history is not None else None)
        if history is None:
            history = SearchHistory(None, self.study_name, self.space.num_blocks,
                                    self.space.num_choices)
            for r in records:
                history.add_decision(r)
        return history

    def run(self):
        self.check_inputs()
        self.runner.call_hook('before_train')
        history = self._history = self._open_decisions()
        tuner = ProgressiveTuner(
            self.runner.model, self.runner.optim_wrapper, self.supernet, self.tune_dataloader,
            self.tune_iters, self.seed, osp.join(self.runner.work_dir, 'perturbation_ckpt'),
            self.max_keep_ckpts, self.runner.logger) if self.tune_iters else None
        selector = PerturbationSelector(
            self._evaluate, self.space.num_blocks, self.space.num_choices, self.num_paths,
            self.seed, self.order, history, tuner, log=self.runner.logger.info,
            meta=dict(tune_iters=self.tune_iters,
                      checkpoint=osp.abspath(self.runner._load_from)))
        arch = selector.run()
        score = selector.score(arch)
        supernet_ckpt = (tuner.last_path if tuner is not None and tuner.last_path
                         else self.runner._load_from)
        if is_main_process():
            self.write_report(
                [dict(arch=arch, score=score, **self.complexity(arch))],
                osp.abspath(supernet_ckpt), 1, method='perturbation', order=self.order,
                num_paths=self.num_paths, tune_iters=self.tune_iters,
                path_scores=sum(len(e['paths']) for e in history.decision_records('estimate')))
            self._write_decisions(history.decisions())
            self.runner.logger.info(
                f'Perturbation: final arch {arch} (score {score:.4g}). Export with\n  '
                f'python tools/export_subnet.py {supernet_ckpt} --from-search '
                f'{self.runner.work_dir}')
        history.close()
        self._iter = self.space.num_blocks
        self.runner.call_hook('after_train')
        return self.runner.model

    def _evaluate(self, arch: Arch) -> float:
        score = self.evaluator(arch)
        self._iter = len(self._history.decisions())
        return score

    def _write_decisions(self, decisions: List[Dict]) -> None:
        path = osp.join(self.runner.work_dir, 'perturbation.csv')
        cols = ['step', 'block', 'choice'] + [f'score_without_{c}'
                                              for c in range(self.space.num_choices)]
        with open(path, 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=cols)
            writer.writeheader()
            for d in decisions:
                row = dict(step=d['step'], block=d['block'], choice=d['choice'])
                row.update({f'score_without_{c}': s for c, s in d['scores_without'].items()})
                writer.writerow(row)
