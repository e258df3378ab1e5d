"""Ranking study of NAS-Bench-201 supernets against the NAS-Bench-201 table.

For each supernet checkpoint (Pi-NAS, SPOS, the ablations, or a random-init supernet) and
each of ``num_archs`` cells drawn uniformly (:func:`pinas_mm.analysis_zero_cost.sample_archs`,
the same cells as the training-free study at the same seed):

1. set the path (``NB201SuperNet.set_arch``) and recalibrate its BN statistics on a few
   CIFAR-10 train photos (:func:`pinas_mm.search.evaluator.recalibrate_bn`, through
   :class:`~pinas_mm.search.evaluator.CandidateEvaluator`);
2. score the path with the **same feature-based score for every supernet**: kNN top-1
   (:class:`~pinas_mm.search.evaluator.KNNScorer`, cosine similarity of the globally pooled
   last-stage features, ``k`` neighbours weighted by ``exp(sim / 0.07)``, Wu et al., CVPR
   2018) of held-out CIFAR-10 photos (queries) against a disjoint labelled memory bank.
   Both come from ``cifar10/val`` (CIFAR-10 test photos), which no supernet trained on. A
   SPOS supernet is scored through its features, not its classifier head, so all
   supernets are comparable.

The scores are compared with the table's CIFAR-10 accuracy
(:mod:`pinas_mm.search.nb201_table`): Kendall tau-b and Spearman rho with percentile-bootstrap
95% intervals over cells (:func:`pinas_mm.analysis_zero_cost.correlation`), top-k overlap
(k = 10% of the cells), and a paired bootstrap of the difference of two scorers' Kendall
tau over the same resampled cells (:func:`paired_tau_difference`). The training-free
scorers' per-cell scores are read from the zero-cost study's CSV (not recomputed) and
put in the same table.

The same evaluation drives the searches of the study: a strategy of
``pinas_mm.search.strategies`` (e.g. evolution) proposing from the history of (arch, score)
pairs (:func:`run_search`), and DARTS-PT's perturbation-based selection
(:class:`pinas_mm.search.perturbation.PerturbationSelector`, no progressive tuning); the
picked cells are looked up in the table.

``tools/analysis/nb201_ranking_study.py`` is the command line.
"""
import csv
import os
import os.path as osp
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from pinas_mm.analysis_zero_cost import correlation, sample_archs

#: input normalisation of the NB201 supernets' training configs (``configs/_base_/
#: pinas_supernet.py``, ``tiny_in_cls_data.py``: ImageNet mean / std on RGB, 0..255)
TRAIN_MEAN = (123.675, 116.28, 103.53)
TRAIN_STD = (58.395, 57.12, 57.375)

#: What the supernet score is, for the report.
SUPERNET_SCORE = ('kNN top-1 (%) of pooled last-stage features (KNNScorer: cosine, k={k}, '
                  'exp(sim/0.07) votes; Wu et al. 2018) of {q} CIFAR-10 val photos against a '
                  'disjoint bank of {b} CIFAR-10 val photos, after BN recalibration on '
                  '{r} CIFAR-10 train photos')

#: DARTS-PT's NAS-Bench-201 result (Wang et al., "Rethinking Architecture Selection in
#: Differentiable NAS", ICLR 2021; /work/shared/PAPERS.md section 2): DARTS' test error
#: 45.7% with magnitude selection, 11.9% with perturbation selection, i.e. CIFAR-10 test
#: accuracy 54.3% -> 88.1% of the selected cell in the NAS-Bench-201 table.
DARTS_PT_PAPER_NB201 = dict(darts_magnitude=54.3, darts_pt=88.1)


# --------------------------------------------------------------------------------- data
class _ItemDataset(torch.utils.data.Dataset):
    """A list of prepared data dicts (``inputs`` uint8 CHW, ``data_samples``)."""

    def __init__(self, items: List[Dict]):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def make_loader(items: List[Dict], batch_size: int):
    """A sequential ``DataLoader`` over prepared items (mmengine ``pseudo_collate``), as
    the evaluator's :class:`~pinas_mm.engine.sharding.BatchShards` expects."""
    from mmengine.dataset import pseudo_collate
    from torch.utils.data import DataLoader, SequentialSampler
    ds = _ItemDataset(items)
    return DataLoader(ds, batch_size=batch_size, sampler=SequentialSampler(ds),
                      collate_fn=pseudo_collate)


def _class_files(root: str) -> List[List[str]]:
    if not osp.isdir(root):
        raise FileNotFoundError(f'Image folder {root!r} not found (expected '
                                '<root>/<class>/*.jpg, e.g. ../shared/data/cifar10/val).')
    classes = sorted(d for d in os.listdir(root) if osp.isdir(osp.join(root, d)))
    if not classes:
        raise ValueError(f'{root!r} has no class folders (expected <root>/<class>/*.jpg).')
    return [sorted(osp.join(root, c, f) for f in os.listdir(osp.join(root, c))
                   if f.lower().endswith(('.jpg', '.jpeg', '.png'))) for c in classes]


def load_items(root: str, per_class: Sequence[int], seed: int = 0) -> List[List[Dict]]:
    """Disjoint class-stratified picks from ``<root>/<class>/*``: for each ``n`` of
    ``per_class``, ``n`` photos of every class (a seeded permutation of each class's sorted
    files, consecutive slices, so the picks never overlap). Items are data dicts with an
    RGB uint8 ``(3, H, W)`` tensor and a ``DataSample`` whose label is the class index."""
    from mmpretrain.structures import DataSample
    from PIL import Image
    files = _class_files(root)
    need = sum(per_class)
    short = [len(f) for f in files if len(f) < need]
    if short:
        raise ValueError(f'{root!r}: a class has {min(short)} photos; {need} per class '
                         f'requested ({list(per_class)}).')
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(len(f)) for f in files]
    out, start = [], 0
    for n in per_class:
        items = []
        for label, (fs, perm) in enumerate(zip(files, perms)):
            for i in perm[start:start + n]:
                with Image.open(fs[i]) as im:
                    arr = np.asarray(im.convert('RGB')).copy()
                items.append(dict(inputs=torch.from_numpy(arr).permute(2, 0, 1),
                                  data_samples=DataSample().set_gt_label(label)))
        out.append(items)
        start += n
    return out


@dataclass
class ScoreData:
    """The photos every supernet is scored on (the same for all)."""
    recal_loader: object
    recal_batches: int
    query_loader: object
    bank_loader: object
    k: int
    description: str


def load_score_data(data_root: str, recal_images: int = 64, recal_batch: int = 64,
                    bank_per_class: int = 20, query_per_class: int = 20, k: int = 20,
                    seed: int = 0) -> ScoreData:
    """Recalibration photos from ``<data_root>/train`` (``recal_images`` rounded up to
    whole classes), memory bank and queries (disjoint) from ``<data_root>/val``."""
    for name, v in (('recal_images', recal_images), ('recal_batch', recal_batch),
                    ('bank_per_class', bank_per_class), ('query_per_class', query_per_class),
                    ('k', k)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f'Invalid {name}={v!r}: expected an int >= 1.')
    train = osp.join(data_root, 'train')
    n_cls = len(_class_files(train))
    recal, = load_items(train, [-(-recal_images // n_cls)], seed)
    recal = recal[:recal_images]
    bank, query = load_items(osp.join(data_root, 'val'), [bank_per_class, query_per_class],
                             seed)
    batches = -(-len(recal) // recal_batch)
    return ScoreData(make_loader(recal, recal_batch), batches, make_loader(query, 100),
                     make_loader(bank, 100), k,
                     SUPERNET_SCORE.format(k=k, q=len(query), b=len(bank), r=len(recal)))


# -------------------------------------------------------------------------------- model
def infer_space(state: Dict[str, torch.Tensor], prefix: str = 'backbone.'):
    """The :class:`~pinas_mm.space.NB201Space` a supernet state was built for: channels
    from the stem conv, cells per stage from the number of cells (3 N + 2). A preset
    (``nb201``, ``nb201-tiny``) when one matches
    (:func:`pinas_mm.models.backbones.layout.infer_space`)."""
    from pinas_mm.models.backbones.layout import infer_space as infer_layout_space
    from pinas_mm.space.nb201 import NB201Space
    return infer_layout_space(state, prefix, space_types=(NB201Space, ))


def space_of(space):
    """An :class:`~pinas_mm.space.NB201Space` from a preset name (``nb201``,
    ``nb201-tiny``), a name ``nb201-c<channels>-n<cells per stage>`` (what
    :func:`infer_space` names other skeletons, e.g. the NB201 supernet configs'
    ``nb201-c16-n1``), a dict or a space."""
    import re
    from pinas_mm.space.nb201 import NB201_PRESETS, NB201Space
    if isinstance(space, str) and space not in NB201_PRESETS:
        m = re.fullmatch(r'nb201-c(\d+)-n(\d+)', space)
        if not m:
            raise ValueError(f'Unknown NAS-Bench-201 space {space!r}: expected '
                             f'{sorted(NB201_PRESETS)} or nb201-c<channels>-n<cells per '
                             'stage>, e.g. nb201-c16-n1.')
        return NB201Space(name=space, channels=int(m[1]), cells_per_stage=int(m[2]))
    return NB201Space.get(space)


def build_score_model(space='nb201'):
    """``ImageClassifier(NB201SuperNet + GAP)`` without a head, with the training
    configs' normalisation (:data:`TRAIN_MEAN` / :data:`TRAIN_STD` on RGB input): what
    :func:`~pinas_mm.search.evaluator.recalibrate_bn` and ``KNNScorer`` need."""
    from pinas_mm.registry import MODELS
    space = space_of(space)
    return MODELS.build(dict(
        type='mmpretrain.ImageClassifier',
        backbone=dict(type='pinas_mm.NB201SuperNet', space=space.to_dict()),
        neck=dict(type='mmpretrain.GlobalAveragePooling'),
        data_preprocessor=dict(type='mmpretrain.ClsDataPreprocessor', mean=TRAIN_MEAN,
                               std=TRAIN_STD, to_rgb=False)))


def load_supernet(checkpoint: str, space=None, prefix: str = 'backbone.', seed: int = 0):
    """A score model holding a trained supernet's backbone.

    ``checkpoint``: a Pi-NAS or SPOS checkpoint of an ``NB201SuperNet`` (the student /
    classifier backbone, keys ``<prefix>*``), or ``'random'`` for a supernet at its
    default initialisation (``torch.manual_seed(seed)``, space ``space`` or ``nb201``).
    The space is read from the checkpoint's shapes (:func:`infer_space`); a given
    ``space`` must agree. Raises ``ValueError`` naming the file for keys that do not fit.
    """
    if checkpoint == 'random':
        torch.manual_seed(seed)
        model = build_score_model(space or 'nb201')
        return model.eval()
    from pinas_mm.engine.checkpoint import read_state_dict
    state = read_state_dict(checkpoint)
    found = infer_space(state, prefix)
    want = space_of(space) if space is not None else None
    if want is not None and (want.channels, want.cells_per_stage) != (
            found.channels, found.cells_per_stage):
        raise ValueError(f'{checkpoint!r} holds a supernet of space {found.name} '
                         f'({found.channels} channels, {found.cells_per_stage} cells per '
                         f'stage), not {want.name}.')
    model = build_score_model(found)
    own = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    missing, unexpected = model.backbone.load_state_dict(own, strict=False)
    if missing or unexpected:
        raise ValueError(f'{checkpoint!r} does not fit NB201SuperNet({found.name}) under '
                         f'prefix {prefix!r}: missing {missing[:5]}, unexpected '
                         f'{unexpected[:5]}.')
    return model.eval()


def make_evaluator(model, data: ScoreData, seed: int = 0) -> Callable:
    """``arch -> score``: set the path, recalibrate BN, kNN top-1 (see module doc)."""
    from pinas_mm.search.evaluator import CandidateEvaluator, KNNScorer
    scorer = KNNScorer(data.query_loader, data.bank_loader, k=data.k, seed=seed)
    return CandidateEvaluator(model, data.recal_loader, scorer, data.recal_batches, seed=seed)


class CachedEvaluator:
    """``arch -> score`` with a cache (a deterministic evaluation is never repeated).

    With ``path``, the cache is a JSON file ``{arch digits: [score, CPU seconds]}`` read at
    start and rewritten after every new evaluation, so parallel or repeated runs of the
    same supernet and settings reuse each other's scores (the caller puts the checkpoint
    and settings into the file name, :func:`cache_path`). :attr:`cpu_s` is the process
    time of every arch asked for in this run, as measured when it was computed (so a run
    served from the cache reports what its evaluations cost)."""

    def __init__(self, evaluate: Callable, path: Optional[str] = None):
        import json
        self.evaluate = evaluate
        self.path = path
        self.cache: Dict[Tuple[int, ...], Tuple[float, float]] = {}
        if path and osp.isfile(path):
            with open(path) as f:
                self.cache = {tuple(int(c) for c in k): (float(v[0]), float(v[1]))
                              for k, v in json.load(f).items()}
        self.used = set()

    @property
    def cpu_s(self) -> float:
        return float(sum(self.cache[k][1] for k in self.used))

    def __call__(self, arch) -> float:
        import json
        key = tuple(int(a) for a in arch)
        self.used.add(key)
        if key not in self.cache:
            t0 = time.process_time()
            score = float(self.evaluate(arch))
            self.cache[key] = (score, time.process_time() - t0)
            if self.path:
                os.makedirs(osp.dirname(osp.abspath(self.path)), exist_ok=True)
                tmp = f'{self.path}.tmp{os.getpid()}'
                with open(tmp, 'w') as f:
                    json.dump({''.join(map(str, k)): list(v) for k, v in self.cache.items()},
                              f)
                os.replace(tmp, self.path)
        return self.cache[key][0]


def cache_path(cache_dir: str, name: str, checkpoint: str, settings: str) -> str:
    """``<cache_dir>/<name>-<sha1 of checkpoint path, size, mtime and settings>.json``."""
    import hashlib
    ident = checkpoint
    if checkpoint != 'random':
        st = os.stat(checkpoint)
        ident = f'{osp.abspath(checkpoint)}:{st.st_size}:{st.st_mtime_ns}'
    digest = hashlib.sha1(f'{ident}|{settings}'.encode()).hexdigest()[:12]
    return osp.join(cache_dir, f'{name}-{digest}.json')


# ---------------------------------------------------------------------------- statistics
def paired_tau_difference(truth: Sequence[float], a: Sequence[float], b: Sequence[float],
                          n_boot: int = 1000, seed: int = 0) -> Dict[str, float]:
    """Kendall tau(truth, a) - tau(truth, b) with a paired percentile-bootstrap 95%
    interval: every resample draws the same cells for both (``scipy.stats.bootstrap``,
    ``paired=True``). ``p_a_better`` is the share of resamples with a positive
    difference (the bootstrap's probability that ``a`` ranks better than ``b``)."""
    from scipy.stats import bootstrap, kendalltau
    x, y, z = (np.asarray(v, dtype=np.float64) for v in (truth, a, b))
    if not x.shape == y.shape == z.shape or len(x) < 3:
        raise ValueError(f'Need three equal-length lists of >= 3 values; got {x.shape}, '
                         f'{y.shape}, {z.shape}.')

    def diff(u, v, w):
        return kendalltau(u, v).statistic - kendalltau(u, w).statistic

    res = bootstrap((x, y, z), diff, paired=True, vectorized=False, n_resamples=n_boot,
                    method='percentile', confidence_level=0.95,
                    random_state=np.random.default_rng(seed))
    dist = np.asarray(res.bootstrap_distribution)
    return dict(diff=float(diff(x, y, z)), lo=float(res.confidence_interval.low),
                hi=float(res.confidence_interval.high),
                p_a_better=float(np.mean(dist > 0)))


def table_rank(table, arch) -> Tuple[float, float]:
    """(table accuracy, percentile of that accuracy among all 15,625 cells: the share of
    cells at or below it, in %)."""
    from pinas_mm.search.nb201_table import all_archs
    arch = tuple(int(c) for c in arch)
    acc = float(table.query(arch))
    if not hasattr(table, '_all_acc'):
        table._all_acc = np.array([table.query(a) for a in all_archs()])
    return acc, float(100.0 * np.mean(table._all_acc <= acc))


# ------------------------------------------------------------------------------ searches
def run_search(evaluate: Callable, space, strategy: str = 'EvolutionStrategy',
               num_candidates: int = 50, seed: int = 0,
               history: Sequence[Tuple] = (), **strategy_kwargs) -> List[Tuple]:
    """Propose -> evaluate -> store with a registered strategy (``STRATEGIES``, e.g.
    ``EvolutionStrategy``): ``num_candidates`` new evaluations after ``history`` (earlier
    ``(arch, score)`` pairs, e.g. the study's uniformly sampled cells, which an evolution
    takes as its initial population), by :func:`pinas_mm.search.driver.run_search` on a
    :class:`~pinas_mm.search.MemoryHistory`. Returns the whole ``[(arch, score), ...]`` in
    evaluation order."""
    from pinas_mm.registry import STRATEGIES
    from pinas_mm.search.driver import run_search as drive
    from pinas_mm.search.memory_history import memory_history
    from pinas_mm.space import Arch
    name = strategy.split('.', 1)[1] if strategy.startswith('pinas_mm.') else strategy
    cls = STRATEGIES.get(name)
    if cls is None:
        raise ValueError(f'Unknown strategy {strategy!r}; valid: '
                         f'{sorted(STRATEGIES.module_dict)}.')
    strat = cls(num_blocks=space.num_blocks, num_choices=space.num_choices, seed=seed,
                **strategy_kwargs)
    store = memory_history(((Arch(a, space.num_blocks, space.num_choices), s)
                            for a, s in history), space.num_blocks, space.num_choices)
    drive(strat, evaluate, store, len(store) + num_candidates)
    return store.pairs()


def run_darts_pt(evaluate: Callable, space, num_paths: int = 4, seed: int = 0,
                 log=None):
    """DARTS-PT's perturbation-based selection (no progressive tuning) over ``evaluate``;
    returns ``(arch, decisions)``."""
    from pinas_mm.search.perturbation import PerturbationSelector
    sel = PerturbationSelector(evaluate, space.num_blocks, space.num_choices,
                               num_paths=num_paths, seed=seed, log=log or (lambda s: None))
    arch = sel.run()
    return arch, sel.history.decisions()


# ----------------------------------------------------------------------------- the study
def read_zero_cost_csv(path: str, archs) -> Dict[str, List[float]]:
    """Per-cell training-free scores of the zero-cost study's CSV, in ``archs`` order.
    Raises ``ValueError`` naming a cell the CSV lacks."""
    with open(path, newline='') as f:
        rows = {r['arch']: r for r in csv.DictReader(f)}
    keys = [k for k in next(iter(rows.values())) if k not in (
        'arch', 'arch_string', 'table_accuracy') and not k.endswith('_s')]
    out = {k: [] for k in keys}
    for arch in archs:
        key = ''.join(map(str, arch))
        if key not in rows:
            raise ValueError(f'{path!r} has no row for cell {key}: run the zero-cost study '
                             'on the same cells (same --num-archs/--arch-seed), or leave '
                             'out --zero-cost.')
        for k in keys:
            out[k].append(float(rows[key][k]))
    return out


def run_study(supernets: Dict[str, str], data_root: str, num_archs: int = 200,
              arch_seed: int = 0, space=None, recal_images: int = 64,
              bank_per_class: int = 10, query_per_class: int = 10, k: int = 20,
              zero_cost_csv: Optional[str] = None, n_boot: int = 1000,
              search_candidates: int = 0, darts_pt_paths: int = 0,
              darts_pt_supernets: Optional[Sequence[str]] = None,
              cache_dir: Optional[str] = None, table_path: Optional[str] = None,
              log=print) -> Dict:
    """The whole study (see module doc). ``supernets``: ``{name: checkpoint or 'random'}``.

    ``search_candidates``: evolution evaluations per supernet after the sampled cells
    (its initial population); ``darts_pt_paths``: paths per with-removal estimate of
    DARTS-PT on the supernets ``darts_pt_supernets`` (default all); 0 skips either.
    ``cache_dir``: per-supernet score caches (:class:`CachedEvaluator`). Returns a dict
    with ``archs, accuracy, scores {name: [...]}, stats {name: {...}}, diffs, picks,
    cpu_s {name: s}, description``."""
    from pinas_mm.search.driver import evaluate_archs
    from pinas_mm.search.nb201_table import load_nb201_table
    if not supernets:
        raise ValueError('No supernet given: pass at least one NAME=CHECKPOINT.')
    unknown = sorted(set(darts_pt_supernets or ()) - set(supernets))
    if unknown:
        raise ValueError(f'DARTS-PT supernets {unknown} are not among {sorted(supernets)}.')
    table = load_nb201_table(table_path)
    archs = sample_archs(num_archs, arch_seed)
    acc = np.array([table.query(a) for a in archs])
    data = load_score_data(data_root, recal_images, bank_per_class=bank_per_class,
                           query_per_class=query_per_class, k=k, seed=arch_seed)
    topk = (max(1, round(0.1 * len(archs))), )
    scores, cpu, picks, evaluators = {}, {}, [], {}
    for name, ckpt in supernets.items():
        model = load_supernet(ckpt, space, seed=arch_seed)
        path = cache_path(cache_dir, name, ckpt, f'{data.description}|seed={arch_seed}|'
                          f'space={model.backbone.space}') if cache_dir else None
        ev = CachedEvaluator(make_evaluator(model, data, arch_seed), path)
        evaluators[name] = (model, ev)

        def progress(n, name=name, ev=ev):
            if log and n % 25 == 0:
                log(f'{name}: scored {n}/{len(archs)} cells ({ev.cpu_s:.0f} CPU s)')
        scores[name] = vals = evaluate_archs(ev, model.backbone.space, archs, progress)
        cpu[name] = ev.cpu_s
        best = archs[int(np.argmax(vals))]
        picks.append(_pick(table, name, f'best of the {len(archs)} sampled cells', best,
                           max(vals), len(archs), ev.cpu_s))
    stats = {n: correlation(acc, s, topk, n_boot, arch_seed) for n, s in scores.items()}
    zero_cost = read_zero_cost_csv(zero_cost_csv, archs) if zero_cost_csv else {}
    for n, s in zero_cost.items():
        stats[n] = correlation(acc, s, topk, n_boot, arch_seed)
    names = list(scores)
    diffs = {(a, b): paired_tau_difference(acc, scores[a], scores[b], n_boot, arch_seed)
             for i, a in enumerate(names) for b in names[i + 1:]}
    for name, (model, ev) in evaluators.items():
        space_ = model.backbone.space
        if search_candidates:
            used = set(ev.used)
            ev.used = set()
            hist = run_search(ev, space_, 'EvolutionStrategy', search_candidates, arch_seed,
                              history=list(zip(archs, scores[name])))
            arch, score = max(hist, key=lambda p: p[1])
            cpu_evo = ev.cpu_s
            ev.used |= used
            picks.append(_pick(table, name, f'evolution: the {len(archs)} sampled cells + '
                               f'{search_candidates} proposals', arch, score,
                               len(hist), cpu_evo))
            if log:
                log(f'{name}: evolution picked {arch} ({picks[-1]["table_accuracy"]:.2f}%)')
        if darts_pt_paths and (darts_pt_supernets is None or name in darts_pt_supernets):
            used = set(ev.used)
            ev.used = set()
            arch, _ = run_darts_pt(ev, space_, darts_pt_paths, arch_seed)
            n_pt, cpu_pt = len(ev.used), ev.cpu_s
            ev.used |= used
            picks.append(_pick(table, name, f'DARTS-PT, {darts_pt_paths} paths per estimate',
                               arch, ev(arch), n_pt, cpu_pt))
            if log:
                log(f'{name}: DARTS-PT picked {arch} ({picks[-1]["table_accuracy"]:.2f}%)')
        cpu[name] = ev.cpu_s
    return dict(archs=archs, accuracy=acc, scores=scores, zero_cost=zero_cost, stats=stats,
                diffs=diffs, picks=picks, cpu_s=cpu, description=data.description,
                supernets=dict(supernets), table=table, topk=topk[0], n_boot=n_boot,
                arch_seed=arch_seed)


def _pick(table, supernet, method, arch, score, evaluations, cpu_s=None) -> Dict:
    acc, pct = table_rank(table, arch)
    return dict(supernet=supernet, method=method, arch=''.join(map(str, arch)),
                score=float(score), table_accuracy=acc, percentile=pct,
                evaluations=int(evaluations), cpu_s=cpu_s)


# ------------------------------------------------------------------------------- outputs
def write_csv(path: str, result: Dict) -> None:
    """One row per sampled cell: arch, table accuracy, every supernet's score."""
    from pinas_mm.space import NB201Space
    space = NB201Space.get('nb201')
    names = list(result['scores'])
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['arch', 'arch_string', 'table_accuracy'] + names)
        for i, arch in enumerate(result['archs']):
            w.writerow([''.join(map(str, arch)), space.arch_string(arch),
                        f"{result['accuracy'][i]:.4f}"]
                       + [f"{result['scores'][n][i]:.6g}" for n in names])


def scatter_plot(path: str, result: Dict) -> None:
    """One panel per supernet: score vs table accuracy."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = list(result['scores'])
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes.flat, names):
        st = result['stats'][name]
        ax.scatter(result['scores'][name], result['accuracy'], s=8, alpha=0.6)
        ax.set_title(f"{name}: tau {st['kendall_tau']:+.2f}, rho {st['spearman_rho']:+.2f}",
                     fontsize=10)
        ax.set_xlabel('supernet kNN top-1 (%)')
        ax.set_ylabel('table CIFAR-10 acc. (%)')
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _ci(st, key):
    return f"{st[key]:+.3f} [{st[key + '_lo']:+.3f}, {st[key + '_hi']:+.3f}]"


def write_report(path: str, result: Dict, command: str, csv_name: str, png_name: str,
                 notes: str = '') -> None:
    """The markdown result: set-up, correlation table with intervals (supernets and
    training-free scorers), paired tau differences, picks, provenance, CPU time."""
    from pinas_mm.analysis_zero_cost import PUBLISHED_SPEARMAN
    stats, n = result['stats'], len(result['archs'])
    k = result['topk']
    table = result['table']
    lines = [
        '# Supernet ranking vs the NAS-Bench-201 table (CIFAR-10)', '',
        f'{n} cells of NAS-Bench-201 drawn uniformly without replacement (seed '
        f"{result['arch_seed']}"
        + ('; the same cells as the training-free study\'s CSV' if result['zero_cost']
           else '') + '). Supernet score, identical for every supernet: '
        f"{result['description']}. Ground truth: the table's `baseline_accuracy` (see "
        'provenance below). Kendall tau-b and Spearman rho (scipy) with percentile-'
        f"bootstrap 95% intervals over cells ({result['n_boot']} paired resamples); "
        f'top-{k} overlap (k = 10% of the cells) = share of the table\'s {k} best sampled '
        f'cells among the scorer\'s {k} best.', '',
        'Supernets: ' + ', '.join(f'`{nm}` = `{p}`' for nm, p in result['supernets'].items())
        + '.', '',
        '## Regenerate', '', '```bash', command, '```', '',
        'CPU time (process time, OMP_NUM_THREADS=1, as measured when each score was '
        'computed; a score read from `--cache-dir` keeps its measured time), scoring and '
        'searches per supernet: '
        + ', '.join(f'{nm} {s:.0f} s' for nm, s in result['cpu_s'].items())
        + f"; in all {sum(result['cpu_s'].values()):.0f} s.", '',
        "## Correlation with the table's CIFAR-10 accuracy", '',
        f'| scorer | Kendall tau [95% CI] | Spearman rho [95% CI] | top-{k} overlap | '
        'published rho (NB201 CIFAR-10, Abdelfattah et al. 2021) |',
        '|---|---|---|---|---|']
    for name, st in stats.items():
        kind = 'supernet' if name in result['scores'] else 'training-free'
        pub = PUBLISHED_SPEARMAN.get(name)
        lines.append(f"| {name} ({kind}) | {_ci(st, 'kendall_tau')} | "
                     f"{_ci(st, 'spearman_rho')} | {st[f'top{k}_overlap']:.2f} | "
                     f"{'-' if pub is None else f'{pub:.3f}'} |")
    if result['diffs']:
        lines += ['', '## Paired differences of Kendall tau (same resampled cells)', '',
                  '| a - b | tau(a) - tau(b) [95% CI] | share of resamples with a better |',
                  '|---|---|---|']
        for (a, b), d in result['diffs'].items():
            lines.append(f"| {a} - {b} | {d['diff']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}] "
                         f"| {d['p_a_better']:.2f} |")
    if result['picks']:
        best_acc, best_pct = table_rank(table, max(
            result['archs'], key=lambda a: table.query(a)))
        lines += ['', '## Picks and their table accuracy', '',
                  '| supernet | method | cell | supernet score | table acc. (%) | '
                  'percentile of 15,625 | evaluations | CPU s |',
                  '|---|---|---|---|---|---|---|---|']
        for p in result['picks']:
            lines.append(f"| {p['supernet']} | {p['method']} | {p['arch']} | "
                         f"{p['score']:.2f} | {p['table_accuracy']:.2f} | "
                         f"{p['percentile']:.1f} | {p['evaluations']} | "
                         f"{p['cpu_s']:.0f} |")
        all_acc = table._all_acc  # filled by table_rank
        lines += ['', f'Best of the {n} sampled cells in the table: {best_acc:.2f}% '
                  f'(percentile {best_pct:.1f}); all 15,625 cells: best '
                  f'{all_acc.max():.2f}%, median {np.median(all_acc):.2f}%, 90th percentile '
                  f'{np.percentile(all_acc, 90):.2f}% (this table). DARTS-PT paper on NAS-Bench-201 '
                  f"(CIFAR-10): DARTS {DARTS_PT_PAPER_NB201['darts_magnitude']}% with "
                  f"magnitude selection, {DARTS_PT_PAPER_NB201['darts_pt']}% with "
                  'perturbation selection (test error 45.7% -> 11.9%).']
    lines += [
        '', f'Per-cell scores: [{csv_name}]({csv_name}); scatter plot: '
        f'[{png_name}]({png_name}).', '',
        '## The ground truth: what the table is', '',
        f'`pinas_mm.search.nb201_table` reads `{osp.basename(table.path)}` (sha256 '
        f'`{table.sha256[:16]}...`) of `analog-nasbench` 0.1.3: AnalogNAS-Bench (Benmeziane '
        'et al., arXiv:2506.18495, 2025). `baseline_accuracy` is the AnalogNAS-Bench '
        "authors' own training of every NAS-Bench-201 cell (one seed, 200 epochs, SGD "
        'Nesterov, cosine schedule; CIFAR-10 test accuracy averaged over 25 augmented '
        'evaluation passes), not the original NAS-Bench-201 table (three seeds per cell): '
        'its best cell scores 94.07 here, 94.37 in NAS-Bench-201 (one op away). One seed '
        'per cell also caps every correlation (see zero_cost_nb201.md).', '']
    if notes:
        lines += [notes.rstrip(), '']
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


# --------------------------------------------------------------------------- command line
def _pair(text):
    import argparse
    name, sep, path = text.partition('=')
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(
            f'{text!r}: expected NAME=CHECKPOINT (or NAME=random), e.g. pinas=epoch_2.pth')
    return name, path


def main(argv=None) -> Dict:
    """The command line of ``tools/analysis/nb201_ranking_study.py`` (see its doc);
    returns :func:`run_study`'s result."""
    import argparse
    parser = argparse.ArgumentParser(
        description='Ranking study: NAS-Bench-201 supernets (and the training-free '
        'scorers) vs the table')
    parser.add_argument('--supernet', nargs='+', type=_pair, required=True,
                        help='NAME=CHECKPOINT (NAME=random: default-init supernet)')
    parser.add_argument('--space', default=None, help='nb201, nb201-tiny or '
                        'nb201-c<channels>-n<cells per stage> (default: read from each '
                        'checkpoint; nb201 for random)')
    parser.add_argument('--data-root', default='../shared/data/cifar10')
    parser.add_argument('--num-archs', type=int, default=200)
    parser.add_argument('--arch-seed', type=int, default=0)
    parser.add_argument('--recal-images', type=int, default=64)
    parser.add_argument('--bank-per-class', type=int, default=10,
                        help='kNN memory bank photos per class (cifar10/val)')
    parser.add_argument('--query-per-class', type=int, default=10,
                        help='kNN query photos per class (cifar10/val, disjoint from the bank)')
    parser.add_argument('--knn-k', type=int, default=20)
    parser.add_argument('--zero-cost', default=None,
                        help='per-cell CSV of tools/analysis/zero_cost_study.py to include')
    parser.add_argument('--n-boot', type=int, default=1000)
    parser.add_argument('--search-candidates', type=int, default=0,
                        help='evolution search evaluations per supernet (0: none)')
    parser.add_argument('--darts-pt-paths', type=int, default=0,
                        help='DARTS-PT paths per with-removal estimate (0: no DARTS-PT)')
    parser.add_argument('--darts-pt-supernets', nargs='+', default=None,
                        help='supernets DARTS-PT runs on (default: all)')
    parser.add_argument('--cache-dir', default=None, help='per-supernet score caches '
                        '(JSON); parallel runs of one supernet each fill them')
    parser.add_argument('--table', default=None)
    parser.add_argument('--notes', default=None, help='markdown file appended to the report')
    parser.add_argument('--out', default='benchmarks/results/ranking_nb201.md')
    args = parser.parse_args(argv)
    if not args.out.endswith('.md'):
        parser.error(f'--out {args.out!r} must end with .md')
    names = [n for n, _ in args.supernet]
    if len(set(names)) != len(names):
        parser.error(f'--supernet names must be distinct, got {names}')
    result = run_study(
        dict(args.supernet), args.data_root, args.num_archs, args.arch_seed, args.space,
        args.recal_images, args.bank_per_class, args.query_per_class, args.knn_k,
        args.zero_cost, args.n_boot, args.search_candidates, args.darts_pt_paths,
        args.darts_pt_supernets, args.cache_dir, args.table)
    stem = args.out[:-3]
    write_csv(stem + '.csv', result)
    scatter_plot(stem + '.png', result)
    import shlex
    import sys
    given = list(argv if argv is not None else sys.argv[1:])
    if '--notes' in given:  # hand-written text, not part of what regenerates the numbers
        i = given.index('--notes')
        del given[i:i + 2]
    command = 'OMP_NUM_THREADS=1 python tools/analysis/nb201_ranking_study.py ' + ' '.join(
        shlex.quote(a) for a in given)
    notes = ''
    if args.notes:
        with open(args.notes) as f:
            notes = f.read()
    write_report(args.out, result, command, osp.basename(stem + '.csv'),
                 osp.basename(stem + '.png'), notes)
    for name, st in result['stats'].items():
        print(f"{name:12s} tau {st['kendall_tau']:+.3f} rho {st['spearman_rho']:+.3f}")
    for p in result['picks']:
        print(f"{p['supernet']:12s} {p['method']:40s} {p['arch']} "
              f"{p['table_accuracy']:.2f}%")
    print(f'-> {args.out}')
    return result
