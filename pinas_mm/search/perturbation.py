"""Perturbation-based progressive selection (DARTS-PT) on a single-path supernet.

DARTS-PT (PAPERS.md, section 2) on a single-path supernet of any space: an "edge" is
one block of the space (one of the 16 ResNeSt blocks, or one of the 6 NAS-Bench-201 cell
edges), and "removing op c" means sampling that block only among its other allowed
candidates. The supernet score with c removed is the mean score (BN recalibration + the
scorer, :class:`~pinas_mm.search.CandidateEvaluator`) of ``num_paths`` paths drawn
uniformly from the allowed sets with c excluded at that block. The block is fixed to the
candidate whose removal hurts most (argmin of the with-removal scores; ties go to the
lowest candidate index), optionally the supernet is fine-tuned on paths inside the
allowed sets (progressive tuning), and the next undecided block follows until all are
fixed. (With every candidate sharing the
same paths elsewhere, the argmin of "mean without c" is the argmax of the estimated
contribution of c: on a single-path supernet perturbation selection ranks candidates by
their average effect over the still-allowed paths, one block at a time, re-estimated
after every decision and tuning.)

It is a loop, not a ``STRATEGIES`` entry: its proposals are not a function of a history
of (arch, score) pairs but of with-removal estimates, and it trains the supernet between
decisions.

Pieces (each usable alone):

* :func:`sample_paths`: the paths of one estimate. Path ``j`` of decision ``step`` uses
  the uniform draws ``u = default_rng([seed, step, j]).random(num_blocks)``, block ``i``
  taking ``options_i[floor(u_i * len(options_i))]``; the estimates of all candidates of
  a block therefore share their random numbers (common random numbers: the other
  blocks' choices are identical across the removed candidates, which cancels most of
  the path-to-path noise from the comparison).
* :class:`PerturbationStore`: ``perturbation.jsonl`` in the work_dir, rewritten
  atomically (tmp file + ``os.replace``) after every record: a ``meta`` line, one
  ``estimate`` line per (decision, removed candidate) as soon as it is computed, and one
  ``decision`` line per fixed block. A stopped run reloads it and continues at the next
  undecided block; stored estimates are never recomputed.
* :class:`PerturbationSelector`: the algorithm over an ``evaluate(arch) -> score``
  callable (a fake one in tests), with an optional tuner.
* :func:`restrict_paths`: the context manager progressive tuning runs in. It sets the
  supernet's own per-block allowed candidates (``set_allowed``), which its samplers read
  (intersected with any ``allowed`` the caller passes), so the unchanged training code of
  ``pinas_mm.PiNAS`` and ``pinas_mm.SupernetClassifier`` samples only inside the allowed
  sets; leaving the context restores the previous restriction.
* :class:`PerturbationLoop` (``pinas_mm.PerturbationLoop``): the mmengine loop of
  ``tools/search.py``. It reuses SearchLoop's input checks, evaluator and report
  (``results.csv``, ``best_arch.yaml`` for ``tools/export_subnet.py --from-search``) and
  adds ``perturbation.csv`` (one row per decision with every with-removal score). With
  ``tune_iters > 0`` the tuned supernet after decision k is saved as
  ``perturbation_ckpt/decision_{k}.pth`` (model + optimizer); a resumed run loads the
  latest one, and ``best_arch.yaml`` names the checkpoint to export from.
"""
import contextlib
import csv
import json
import math
import os
import os.path as osp
import random
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import barrier, broadcast_object_list, is_main_process

from pinas_mm.registry import LOOPS, SCORERS
from pinas_mm.space import Arch
from .evaluator import CandidateEvaluator, supernet_of, unwrap
from .loop import SearchLoop, _build

Allowed = List[List[int]]

#: keys of the meta line that must match for a stored run to be continued
_META_KEYS = ('num_blocks', 'num_choices', 'order', 'num_paths', 'seed', 'tune_iters',
              'checkpoint')


# ----------------------------------------------------------------------------- sampling
def sample_paths(allowed: Sequence[Sequence[int]], block: int, removed: int, num_paths: int,
                 seed: int, step: int, num_choices: int) -> List[Arch]:
    """``num_paths`` paths uniform over ``allowed`` with ``removed`` excluded at ``block``.

    Draws depend only on ``(seed, step, j)``, not on the removed candidate (common random
    numbers across the candidates of one block; see the module doc).
    """
    options = [sorted(set(a)) for a in allowed]
    options[block] = [c for c in options[block] if c != removed]
    if not options[block]:
        raise ValueError(f'Cannot remove candidate {removed} from block {block}: it is the '
                         f'only one allowed there ({sorted(allowed[block])}).')
    paths = []
    for j in range(num_paths):
        u = np.random.default_rng([seed, step, j]).random(len(options))
        paths.append(Arch([opts[min(int(x * len(opts)), len(opts) - 1)]
                           for x, opts in zip(u, options)], len(options), num_choices))
    return paths


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


# ------------------------------------------------------------------------------ storage
def _atomic_write(path: str, text: str) -> None:
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class PerturbationStore:
    """The records of one perturbation run, a JSON-lines file rewritten atomically.

    ``path=None`` keeps them in memory. ``write=False`` (non-main ranks) never touches
    the file; ``records`` then come from the caller (broadcast from rank 0).
    """

    def __init__(self, path: Optional[str], write: bool = True,
                 records: Optional[List[Dict]] = None):
        self.path = path
        self.write = write and path is not None
        if records is not None:
            self.records = [dict(r) for r in records]
        elif path is not None and osp.isfile(path):
            with open(path) as f:
                self.records = [json.loads(line) for line in f if line.strip()]
        else:
            self.records = []

    def add(self, record: Dict) -> Dict:
        self.records.append(dict(record))
        if self.write:
            if osp.dirname(self.path):
                os.makedirs(osp.dirname(self.path), exist_ok=True)
            _atomic_write(self.path, ''.join(json.dumps(r) + '\n' for r in self.records))
        return record

    def of_kind(self, kind: str) -> List[Dict]:
        return [r for r in self.records if r.get('kind') == kind]

    def meta(self) -> Optional[Dict]:
        metas = self.of_kind('meta')
        return metas[0] if metas else None

    def decisions(self) -> List[Dict]:
        return sorted(self.of_kind('decision'), key=lambda r: r['step'])

    def estimates(self, step: int) -> Dict[int, Dict]:
        return {r['removed']: r for r in self.of_kind('estimate') if r['step'] == step}


# ---------------------------------------------------------------------------- algorithm
class PerturbationSelector:
    """DARTS-PT progressive selection over an ``evaluate(arch) -> score`` callable.

    Args:
        evaluate: higher is better; called once per distinct path between two tunings
            (results are cached until the supernet changes).
        num_blocks, num_choices: the space.
        num_paths: paths per with-removal estimate.
        seed: fixes the block order (when ``order`` is None) and every sampled path.
        order: the blocks in decision order (a permutation of ``range(num_blocks)``);
            default a random permutation from ``seed``.
        store: where records go (default: in memory).
        tuner: optional; ``tuner(step, allowed)`` fine-tunes the supernet after decision
            ``step`` (called for every decision but the last) and saves what a resume
            needs; ``tuner.restore(num_decisions) -> k`` loads the newest saved state of
            decisions ``<= num_decisions`` and returns its ``k`` (0: the source weights).
        log: ``str -> None``.
    """

    def __init__(self, evaluate: Callable[[Arch], float], num_blocks: int, num_choices: int,
                 num_paths: int = 8, seed: int = 0, order: Optional[Sequence[int]] = None,
                 store: Optional[PerturbationStore] = None, tuner=None,
                 log: Callable[[str], None] = print, meta: Optional[Dict] = None):
        for name, value, low in (('num_blocks', num_blocks, 1), ('num_choices', num_choices, 2),
                                 ('num_paths', num_paths, 1), ('seed', seed, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f'Invalid {name}={value!r}: expected an int >= {low}.')
        self.evaluate = evaluate
        self.num_blocks, self.num_choices = int(num_blocks), int(num_choices)
        self.num_paths, self.seed = int(num_paths), int(seed)
        self.order = self.check_order(order, self.num_blocks, self.seed)
        self.store = store if store is not None else PerturbationStore(None)
        self.tuner = tuner
        self.log = log
        self.meta = dict(meta or {})
        self.cache: Dict[Arch, float] = {}

    @staticmethod
    def check_order(order, num_blocks: int, seed: int) -> List[int]:
        if order is None:
            return [int(b) for b in np.random.default_rng(seed).permutation(num_blocks)]
        try:
            order = [int(b) for b in order]
        except (TypeError, ValueError):
            order = None
        if order is None or sorted(order) != list(range(num_blocks)):
            raise ValueError(f'Invalid order={order!r}: expected every block index '
                             f'0..{num_blocks - 1} exactly once, or None for a random order '
                             'from the seed.')
        return order

    # ---- pieces ------------------------------------------------------------------------
    def score(self, arch: Arch) -> float:
        if arch not in self.cache:
            value = float(self.evaluate(arch))
            if math.isnan(value):
                raise ValueError(f'The scorer returned nan for arch {arch}.')
            self.cache[arch] = value
        return self.cache[arch]

    def estimate(self, step: int, block: int, removed: int, allowed: Allowed) -> Dict:
        paths = sample_paths(allowed, block, removed, self.num_paths, self.seed, step,
                             self.num_choices)
        scores = [self.score(p) for p in paths]
        return dict(kind='estimate', step=step, block=block, removed=removed,
                    score=float(np.mean(scores)), std=float(np.std(scores)),
                    paths=[str(p) for p in paths], scores=scores)

    def _meta_record(self) -> Dict:
        return dict(kind='meta', num_blocks=self.num_blocks, num_choices=self.num_choices,
                    order=self.order, num_paths=self.num_paths, seed=self.seed,
                    tune_iters=self.meta.get('tune_iters', 0),
                    checkpoint=self.meta.get('checkpoint'))

    def _check_meta(self) -> None:
        want = self._meta_record()
        have = self.store.meta()
        if have is None:
            if self.store.records:
                raise ValueError(f'{self.store.path!r} holds records but no meta line: not '
                                 'written by PerturbationSelector; use another work_dir.')
            self.store.add(want)
            return
        diff = {k: (have.get(k), want[k]) for k in _META_KEYS if have.get(k) != want[k]}
        if diff:
            raise ValueError(
                f'{self.store.path!r} was written by a perturbation run with other settings '
                + ', '.join(f'{k}={a!r} (now {b!r})' for k, (a, b) in diff.items())
                + ': its decisions do not apply. Use a new work_dir, or the old settings.')

    def _allowed_after(self, decisions: List[Dict]) -> List[Allowed]:
        """allowed sets after each stored decision (index k: after decisions 0..k)."""
        allowed = [list(range(self.num_choices)) for _ in range(self.num_blocks)]
        out = []
        for k, d in enumerate(decisions):
            if d['step'] != k or d['block'] != self.order[k]:
                raise ValueError(f'Stored decision {d} does not follow the order '
                                 f'{self.order} (expected step {k}, block {self.order[k]}).')
            allowed[d['block']] = [int(d['choice'])]
            out.append([list(a) for a in allowed])
        return out

    # ---- the run -----------------------------------------------------------------------
    def run(self) -> Arch:
        self._check_meta()
        decisions = self.store.decisions()
        history = self._allowed_after(decisions)
        allowed = history[-1] if history else [list(range(self.num_choices))
                                              for _ in range(self.num_blocks)]
        if decisions:
            self.log(f'Perturbation: {len(decisions)} of {self.num_blocks} blocks decided '
                     f'in {self.store.path}, continuing at step {len(decisions)}.')
        if self.tuner is not None:
            tuned = self.tuner.restore(len(decisions))
            for k in range(tuned, min(len(decisions), self.num_blocks - 1)):
                self.log(f'Perturbation: re-running the tuning after decision {k} (its '
                         'checkpoint was not saved).')
                self.tuner(k, history[k])
        for step in range(len(decisions), self.num_blocks):
            block = self.order[step]
            stored = self.store.estimates(step)
            estimates = {}
            for c in allowed[block]:
                if c in stored:
                    estimates[c] = stored[c]
                    continue
                estimates[c] = self.store.add(self.estimate(step, block, c, allowed))
            cands = sorted(estimates)
            scores = [estimates[c]['score'] for c in cands]
            choice = cands[int(np.argmin(scores))]  # removal hurts most; ties: lowest index
            allowed[block] = [choice]
            self.store.add(dict(
                kind='decision', step=step, block=block, choice=choice,
                scores_without={str(c): estimates[c]['score'] for c in cands},
                allowed=[list(a) for a in allowed]))
            self.log(f'Perturbation step {step + 1}/{self.num_blocks}: block {block} <- '
                     f'candidate {choice}; score without each candidate: '
                     + ', '.join(f'{c}: {s:.4g}' for c, s in zip(cands, scores)))
            if self.tuner is not None and step < self.num_blocks - 1:
                self.tuner(step, [list(a) for a in allowed])
                self.cache.clear()
        return Arch([a[0] for a in allowed], self.num_blocks, self.num_choices)


# --------------------------------------------------------------------------------- loop
class _Tuner:
    """Progressive tuning for :class:`PerturbationLoop`: ``tune_iters`` train steps of the
    runner's model on paths inside ``allowed``, then a checkpoint per decision."""

    def __init__(self, loop: 'PerturbationLoop'):
        self.loop = loop
        self.runner = loop.runner
        self.ckpt_dir = osp.join(self.runner.work_dir, 'perturbation_ckpt')
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
            unwrap(self.runner.model).load_state_dict(ckpt['state_dict'])
            self.runner.optim_wrapper.load_state_dict(ckpt['optimizer'])
            self.last_path = self.path(k)
            self.runner.logger.info(f'Perturbation: tuned supernet of decision {k} loaded '
                                    f'from {self.last_path}.')
        return k

    def _batches(self, step: int):
        loader = self.loop.tune_dataloader
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
        loop, runner = self.loop, self.runner
        model = runner.model
        inner = unwrap(model)
        seed = loop.seed * 1_000_003 + step
        random.seed(seed), np.random.seed(seed % 2**32), torch.manual_seed(seed)
        had_flag = hasattr(inner, 'sample_path')
        flag = getattr(inner, 'sample_path', None)
        losses = []
        with restrict_paths(loop.supernet, allowed):
            if had_flag:
                inner.sample_path = True  # SupernetClassifier: sample a path each step
            was_training = inner.training
            inner.train()
            try:
                for i, data in zip(range(loop.tune_iters), self._batches(step)):
                    out = model.train_step(data, optim_wrapper=runner.optim_wrapper)
                    loss = float(out['loss'])  # parse_losses' total of every loss term
                    if not math.isfinite(loss):
                        raise FloatingPointError(
                            f'Non-finite loss {out} while tuning after decision {step} '
                            f'(iteration {i + 1}): lower the optimizer lr of the config.')
                    losses.append(loss)
            finally:
                inner.train(was_training)
                if had_flag:
                    inner.sample_path = flag
        runner.logger.info(f'Perturbation: tuned {len(losses)} iterations after decision '
                           f'{step}, mean loss {np.mean(losses):.4f}.')
        path = self.path(step + 1)
        if is_main_process():
            os.makedirs(self.ckpt_dir, exist_ok=True)
            tmp = path + '.tmp'
            torch.save(dict(state_dict=inner.state_dict(),
                            optimizer=runner.optim_wrapper.state_dict(),
                            meta=dict(decisions=step + 1, allowed=allowed)), tmp)
            os.replace(tmp, path)
            for k in range(1, step + 2 - loop.max_keep_ckpts):
                if osp.isfile(self.path(k)):
                    os.remove(self.path(k))
        barrier()
        self.last_path = path


@LOOPS.register_module()
class PerturbationLoop(SearchLoop):
    """DARTS-PT selection of a trained supernet, block by block (see the module doc).

    Args:
        dataloader: BN recalibration data (the runner's ``train_dataloader``).
        scorer: a ``SCORERS`` config, as for :class:`SearchLoop`.
        num_paths: sampled paths per with-removal estimate.
        recal_batches: BN recalibration batches per path, over all ranks (as for
            :class:`SearchLoop`: estimates do not depend on the number of ranks).
        order: blocks in decision order; None: a random permutation from ``seed``.
        tune_iters: progressive tuning iterations after each decision (0: none). The
            model's ``train_step`` runs with the runner's ``optim_wrapper`` on
            ``tune_dataloader``; a ``SupernetClassifier`` samples a path every step
            during tuning even when its config says ``sample_path=False``.
        tune_dataloader: a dataloader config for tuning; default the recalibration data.
        max_keep_ckpts: tuned checkpoints kept (the newest ones).
        topk / input_size / num_classes / seed: as for :class:`SearchLoop`.
    """

    def __init__(self, runner, dataloader, scorer: dict, num_paths: int = 8,
                 recal_batches: int = 20, order: Optional[Sequence[int]] = None,
                 tune_iters: int = 0, tune_dataloader: Optional[dict] = None,
                 max_keep_ckpts: int = 2, topk: int = 5, input_size: int = 224,
                 num_classes: int = 1000, seed: int = 0) -> None:
        from mmengine.runner.loops import BaseLoop
        BaseLoop.__init__(self, runner, dataloader)
        self.supernet = supernet_of(runner.model)
        self.space = self.supernet.space
        for name, value, low in (('tune_iters', tune_iters, 0),
                                 ('max_keep_ckpts', max_keep_ckpts, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f'Invalid {name}={value!r}: expected an int >= {low}.')
        self.order = PerturbationSelector.check_order(order, self.space.num_blocks, seed)
        self.scorer = _build(SCORERS, scorer)
        self.evaluator = CandidateEvaluator(runner.model, self.dataloader, self.scorer,
                                            recal_batches, self.space, input_size,
                                            num_classes, seed)
        self.flops_budget = self.params_budget = None  # not supported here
        self.num_paths, self.recal_batches, self.seed = num_paths, recal_batches, seed
        self.tune_iters, self.max_keep_ckpts = tune_iters, max_keep_ckpts
        self.tune_dataloader = self.dataloader
        if tune_dataloader is not None and tune_iters:
            from mmengine.runner import Runner
            self.tune_dataloader = (Runner.build_dataloader(tune_dataloader, seed=runner.seed)
                                    if isinstance(tune_dataloader, dict) else tune_dataloader)
        self.topk = topk
        self.input_size, self.num_classes = input_size, num_classes
        self.store_path = osp.join(osp.abspath(runner.work_dir), 'perturbation.jsonl')
        self._max_iters = self.space.num_blocks
        self._iter = 0

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

    def run(self):
        self.check_inputs()
        self.runner.call_hook('before_train')
        records = [PerturbationStore(self.store_path).records] if is_main_process() else [None]
        broadcast_object_list(records)
        store = PerturbationStore(self.store_path, write=is_main_process(),
                                  records=records[0])
        tuner = _Tuner(self) if self.tune_iters else None
        selector = PerturbationSelector(
            self._evaluate, self.space.num_blocks, self.space.num_choices, self.num_paths,
            self.seed, self.order, store, tuner, log=self.runner.logger.info,
            meta=dict(tune_iters=self.tune_iters,
                      checkpoint=osp.abspath(self.runner._load_from)))
        self._selector = selector
        arch = selector.run()
        score = selector.score(arch)
        supernet_ckpt = (tuner.last_path if tuner is not None and tuner.last_path
                         else self.runner._load_from)
        if is_main_process():
            from .report import write_search_report
            write_search_report(
                [dict(arch=arch, score=score, **self.complexity(arch))],
                self.runner.work_dir, 1, logger=self.runner.logger, space=self.space.name,
                checkpoint=osp.abspath(supernet_ckpt), method='perturbation',
                order=self.order, num_paths=self.num_paths, tune_iters=self.tune_iters,
                path_scores=sum(len(e['paths']) for e in store.of_kind('estimate')))
            self._write_decisions(store)
            self.runner.logger.info(
                f'Perturbation: final arch {arch} (score {score:.4g}). Export with\n  '
                f'python tools/export_subnet.py {supernet_ckpt} --from-search '
                f'{self.runner.work_dir}')
        self._iter = self.space.num_blocks
        self.runner.call_hook('after_train')
        return self.runner.model

    def _evaluate(self, arch: Arch) -> float:
        score = self.evaluator(arch)
        self._iter = len(self._selector.store.decisions())
        return score

    def _write_decisions(self, store: PerturbationStore) -> None:
        path = osp.join(self.runner.work_dir, 'perturbation.csv')
        cols = ['step', 'block', 'choice'] + [f'score_without_{c}'
                                              for c in range(self.space.num_choices)]
        with open(path, 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=cols)
            writer.writeheader()
            for d in store.decisions():
                row = dict(step=d['step'], block=d['block'], choice=d['choice'])
                row.update({f'score_without_{c}': s for c, s in d['scores_without'].items()})
                writer.writerow(row)
