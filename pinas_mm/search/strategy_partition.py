"""The learned space partition of Pi-NAS (LaNAS / LA-MCTS style), as a pure function of
(seed, history).

Pi-NAS: Peng et al., "Pi-NAS: Improving Neural Architecture Search by Reducing Supernet
Training Consistency Shift", ICCV 2021. LaNAS: Wang et al., "Sample-Efficient Neural
Architecture Search by Learning Actions for Monte Carlo Tree Search", TPAMI 2021.
LA-MCTS: Wang et al., "Learning Search Space Partition for Black-box Optimization using
Monte Carlo Tree Search", NeurIPS 2020.

A tree of LightGBM classifiers, each splitting the architectures that reach it into above /
below their median score; proposals are rejection-sampled inside the best leaf. See
:class:`PartitionStrategy`.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import lightgbm
import numpy as np

from pinas_mm.registry import STRATEGIES
from pinas_mm.space.arch import Arch

from .strategy_base import BaseStrategy, History, Picker, check_float, check_int

#: Default tree height per number of samples the tree is built from: height 3 (at most 8
#: leaves, ~10 samples each) from the first tree (80 samples), +1 at each of the paper's
#: milestones 400/800/1600/3200 (so leaves keep ~25-50 samples). Height 3 beat 2 and 4 on the
#: synthetic benchmark (benchmarks/bench_search_strategies.py).
DEFAULT_HEIGHT_SCHEDULE = ((0, 3), (400, 4), (800, 5), (1600, 6), (3200, 7))

def tree_height(num_samples: int, schedule: Sequence[Tuple[int, int]] = DEFAULT_HEIGHT_SCHEDULE
                ) -> int:
    """Height of the partition tree built from ``num_samples`` samples.

    ``schedule`` is ``((milestone, height), ...)`` with increasing milestones starting at 0:
    the height is that of the last milestone ``<= num_samples``.
    """
    schedule = _check_schedule(schedule)
    height = schedule[0][1]
    for milestone, h in schedule:
        if num_samples >= milestone:
            height = h
    return height


def _check_schedule(schedule) -> Tuple[Tuple[int, int], ...]:
    try:
        pairs = tuple((int(m), int(h)) for m, h in schedule)
    except (TypeError, ValueError):
        pairs = ()
    ok = bool(pairs) and pairs[0][0] == 0 and all(h >= 0 for _, h in pairs) and all(
        a[0] < b[0] for a, b in zip(pairs, pairs[1:]))
    if not ok:
        raise ValueError(f'Invalid height_schedule {schedule!r}: expected ((0, h0), (m1, h1), '
                         '...) with strictly increasing milestones starting at 0 and heights '
                         '>= 0, e.g. ((0, 3), (400, 4), (800, 5), (1600, 6), (3200, 7)).')
    return pairs


class _Node:
    __slots__ = ('id', 'depth', 'parent', 'side', 'idx', 'mean', 'model', 'good', 'bad')

    def __init__(self, id, depth, parent, side, idx, mean):
        self.id, self.depth, self.parent, self.side = id, depth, parent, side
        self.idx, self.mean = idx, mean
        self.model = self.good = self.bad = None

    @property
    def is_leaf(self) -> bool:
        return self.model is None


class _Tree:
    """Nodes of one partition tree and what it was built from."""

    def __init__(self, num_samples, height, nodes, root_params):
        self.num_samples = num_samples
        self.height = height
        self.nodes: List[_Node] = nodes
        self.root_params = root_params

    @property
    def leaves(self) -> List[_Node]:
        return [n for n in self.nodes if n.is_leaf]

    def path(self, node: _Node) -> List[_Node]:
        out = [node]
        while out[-1].parent is not None:
            out.append(self.nodes[out[-1].parent])
        return out[::-1]


@STRATEGIES.register_module()
class PartitionStrategy(BaseStrategy):
    """Learned space partition (Pi-NAS search; LaNAS / LA-MCTS style).

    * The first ``init_samples`` evaluations are uniform random.
    * Then a binary tree is built from the history every ``rebuild_every`` samples (from the
      first ``init_samples + k * rebuild_every`` records, so it only depends on the
      history). Its height comes from ``height_schedule`` (see :func:`tree_height`;
      default :data:`DEFAULT_HEIGHT_SCHEDULE`: 3 at first, +1 at 400/800/1600/3200
      samples). Each node trains a LightGBM binary classifier on the one-hot archs reaching
      it, labelled above / below their median score, and sends them to its "good" or
      "bad" child by the classifier's prediction (so new archs route like the training
      ones). A node with fewer than ``min_node_samples`` samples, or whose classifier puts
      fewer than ``min_leaf_samples`` on one side, stays a leaf.
    * Propose: descend from the root to the child with the higher mean score (with
      ``exploration > 0``: the higher UCB ``mean_z + exploration * sqrt(2 ln n_parent /
      n_child)`` on z-scored scores, as LA-MCTS), then rejection-sample uniform random
      archs that the tree routes into that leaf. After ``leaf_rounds`` batches of
      ``batch_size`` candidates or ``leaf_tries`` rejections in a row (seen / over budget)
      inside a node, fall back to its parent; the root is the whole space.
    * ``tune_trials > 0`` tunes the root classifier's LightGBM hyper-parameters with
      Optuna's TPE sampler by ``cv_folds``-fold stratified cross-validation (accuracy) each
      time the tree is rebuilt ("LightGBM, tuned by TPE"); the other nodes use
      ``lgbm_params``.

    The classifier is LightGBM's native binary booster (``lightgbm.train`` with
    ``objective='binary'``: what ``LGBMClassifier`` wraps, without needing scikit-learn),
    ``n_estimators`` rounds, single-threaded and ``deterministic=True``.
    """

    _salt = 3

    DEFAULT_LGBM_PARAMS = dict(num_leaves=7, learning_rate=0.1, min_data_in_leaf=3,
                               min_sum_hessian_in_leaf=1e-3, lambda_l2=1.0, min_data_in_bin=1,
                               feature_pre_filter=False)

    def __init__(self, init_samples: int = 80, rebuild_every: int = 8,
                 height_schedule: Sequence[Tuple[int, int]] = DEFAULT_HEIGHT_SCHEDULE,
                 n_estimators: int = 20, lgbm_params: Optional[Dict] = None,
                 exploration: float = 0.0, tune_trials: int = 0, cv_folds: int = 3,
                 min_node_samples: int = 8, min_leaf_samples: int = 3,
                 batch_size: int = 2048, leaf_rounds: int = 8, leaf_tries: int = 200,
                 **kwargs):
        super().__init__(**kwargs)
        self.init_samples = check_int('init_samples', init_samples, 1)
        self.rebuild_every = check_int('rebuild_every', rebuild_every, 1)
        self.n_estimators = check_int('n_estimators', n_estimators, 1)
        self.tune_trials = check_int('tune_trials', tune_trials, 0)
        self.cv_folds = check_int('cv_folds', cv_folds, 2)
        self.min_node_samples = check_int('min_node_samples', min_node_samples, 2)
        self.min_leaf_samples = check_int('min_leaf_samples', min_leaf_samples, 1)
        self.batch_size = check_int('batch_size', batch_size, 1)
        self.leaf_rounds = check_int('leaf_rounds', leaf_rounds, 1)
        self.leaf_tries = check_int('leaf_tries', leaf_tries, 1)
        self.exploration = check_float('exploration', exploration, 0.0)
        self.height_schedule = _check_schedule(height_schedule)
        self.lgbm_params = dict(self.DEFAULT_LGBM_PARAMS, **(lgbm_params or {}))
        self._cache_key = None
        self._cache_tree: Optional[_Tree] = None
        self._last: Dict = {}

    # ----------------------------------------------------------------------------- public
    def height_at(self, num_samples: int) -> int:
        """Tree height for a tree built from ``num_samples`` samples."""
        return tree_height(num_samples, self.height_schedule)

    def tree_samples(self, history_len: int) -> int:
        """How many history records the tree for a history of this length is built from
        (0: still in the random phase)."""
        if history_len < self.init_samples:
            return 0
        k = (history_len - self.init_samples) // self.rebuild_every
        return self.init_samples + k * self.rebuild_every

    def describe(self, history: Optional[History] = None) -> Dict:
        """The tree for ``history`` (default: the one used by the last ``propose``):
        ``phase`` ('random' or 'tree'), ``num_samples`` it was built from, target
        ``height`` of the schedule, reached ``depth``, ``leaf_sizes`` (training samples per
        leaf, in node order) and the ``selected_leaf`` (its index in ``leaf_sizes``) with
        that leaf's ``selected_mean`` (z-scored) score; after a ``propose`` also
        ``sampled_depth``, the depth of the node its archs were sampled in (below the
        leaf's depth after a fallback, 0 = the whole space)."""
        if history is None:
            return dict(self._last) if self._last else dict(
                phase='random', num_samples=0, height=0, depth=0, leaf_sizes=[],
                selected_leaf=None, selected_mean=None)
        hist = self._normalize_history(history)
        tree = self._tree(hist)
        if tree is None:
            return dict(phase='random', num_samples=0, height=0, depth=0, leaf_sizes=[],
                        selected_leaf=None, selected_mean=None)
        return self._describe(tree, self._select_leaf(tree))

    def route(self, archs: Sequence, history: History) -> List[int]:
        """Index (in ``describe()['leaf_sizes']``) of the leaf each arch falls into, with the
        tree for ``history`` (which must be past the random phase)."""
        hist = self._normalize_history(history)
        tree = self._tree(hist)
        if tree is None:
            raise ValueError(f'No partition tree yet: the history has {len(hist)} records, the '
                             f'tree starts at init_samples={self.init_samples}.')
        archs = [Arch.parse(a, self.num_blocks, self.num_choices) for a in archs]
        x = self._onehot(np.array(archs, dtype=np.int64).reshape(len(archs), self.num_blocks))
        node_of = np.zeros(len(archs), dtype=np.int64)
        for node in tree.nodes:  # parents come before children
            if node.is_leaf:
                continue
            sel = np.flatnonzero(node_of == node.id)
            if len(sel):
                good = node.model.predict(x[sel]) > 0.5
                node_of[sel] = np.where(good, node.good, node.bad)
        leaf_ids = [n.id for n in tree.leaves]
        return [leaf_ids.index(int(i)) for i in node_of]

    # --------------------------------------------------------------------------- proposal
    def _propose(self, history, picker, rng):
        tree = self._tree(history)
        if tree is None:
            self._last = dict(phase='random', num_samples=0, height=0, depth=0, leaf_sizes=[],
                              selected_leaf=None, selected_mean=None)
            picker.fill_random(rng, picker.n)
            return
        leaf = self._select_leaf(tree)
        self._last = self._describe(tree, leaf)
        path = tree.path(leaf)
        for depth in range(len(path) - 1, -1, -1):
            self._last['sampled_depth'] = depth
            if depth == 0:
                picker.fill_random(rng, picker.n)  # the root is the whole space
                return
            picker.fails = 0
            if self._sample_in(path[:depth + 1], picker, rng):
                return
            picker.fails = 0

    def _sample_in(self, path: List[_Node], picker: Picker, rng) -> bool:
        """Rejection-sample archs routed along ``path``; True once the picker is full."""
        fails = 0
        for _ in range(self.leaf_rounds):
            cand = rng.integers(0, self.num_choices, size=(self.batch_size, self.num_blocks))
            x = self._onehot(cand)
            keep = np.arange(len(cand))
            for node, child in zip(path[:-1], path[1:]):
                good = node.model.predict(x[keep]) > 0.5
                keep = keep[good == (child.side == 'good')]
                if not len(keep):
                    break
            for i in keep:
                if picker.offer(self._arch(cand[i])):
                    fails = 0
                    if picker.done:
                        return True
                else:
                    fails += 1
                    if fails >= self.leaf_tries:
                        return False
        return False

    def _select_leaf(self, tree: _Tree) -> _Node:
        node = tree.nodes[0]
        while not node.is_leaf:
            kids = [tree.nodes[node.good], tree.nodes[node.bad]]
            if self.exploration > 0:
                n_parent = len(node.idx)
                values = [k.mean + self.exploration * math.sqrt(
                    2 * math.log(n_parent) / len(k.idx)) for k in kids]
            else:
                values = [k.mean for k in kids]
            node = kids[0] if values[0] >= values[1] else kids[1]
        return node

    def _describe(self, tree: _Tree, leaf: _Node) -> Dict:
        leaves = tree.leaves
        return dict(phase='tree', num_samples=tree.num_samples, height=tree.height,
                    depth=max(n.depth for n in leaves),
                    leaf_sizes=[len(n.idx) for n in leaves],
                    selected_leaf=[n.id for n in leaves].index(leaf.id),
                    selected_mean=float(leaf.mean), root_params=tree.root_params)

    # ----------------------------------------------------------------------------- tree
    def _tree(self, history) -> Optional[_Tree]:
        m = self.tree_samples(len(history))
        if m == 0:
            return None
        key = (m, hash(tuple(history[:m])))
        if key != self._cache_key:
            self._cache_tree = self._build(history[:m])
            self._cache_key = key
        return self._cache_tree

    def _onehot(self, choices: np.ndarray) -> np.ndarray:
        choices = np.asarray(choices, dtype=np.int64)
        x = np.zeros((len(choices), self.num_blocks * self.num_choices), dtype=np.float32)
        cols = choices + np.arange(self.num_blocks) * self.num_choices
        x[np.arange(len(choices))[:, None], cols] = 1.0
        return x

    def _build(self, samples: List[Tuple[Arch, float]]) -> _Tree:
        m = len(samples)
        height = self.height_at(m)
        x = self._onehot(np.array([a for a, _ in samples], dtype=np.int64).reshape(
            m, self.num_blocks))
        y = np.array([s for _, s in samples], dtype=np.float64)
        finite = np.isfinite(y)
        if not finite.all():  # failed evaluations (-inf / NaN) count as the worst
            worst = y[finite].min() - 1.0 if finite.any() else 0.0
            y = np.where(finite, y, worst)
        std = y.std()
        z = (y - y.mean()) / (std if std > 0 else 1.0)
        nodes = [_Node(0, 0, None, 'root', np.arange(m), float(z.mean()))]
        root_params = None
        queue = [0]
        while queue:
            node = nodes[queue.pop(0)]
            if node.depth >= height or len(node.idx) < self.min_node_samples:
                continue
            s = y[node.idx]
            labels = s > np.median(s)
            if labels.all() or not labels.any():
                labels = s >= np.median(s)
                if labels.all() or not labels.any():
                    continue  # all scores equal: nothing to learn
            params = dict(self.lgbm_params)
            if node.id == 0 and self.tune_trials > 0:
                params.update(self._tune(x[node.idx], labels, m))
                root_params = params
            model = self._fit(x[node.idx], labels, params, seed=self._model_seed(node.id))
            good = model.predict(x[node.idx]) > 0.5
            if min(good.sum(), (~good).sum()) < self.min_leaf_samples:
                continue
            node.model = model
            for side, sel in (('good', good), ('bad', ~good)):
                idx = node.idx[sel]
                child = _Node(len(nodes), node.depth + 1, node.id, side, idx,
                              float(z[idx].mean()))
                setattr(node, side, child.id)
                nodes.append(child)
                queue.append(child.id)
        return _Tree(m, height, nodes, root_params)

    def _model_seed(self, k: int) -> int:
        return (self.seed * 7919 + k) % 2147483647

    def _fit(self, x: np.ndarray, labels: np.ndarray, params: Dict, seed: int,
             n_estimators: Optional[int] = None):
        params = dict(params)
        rounds = int(params.pop('n_estimators', n_estimators or self.n_estimators))
        params.update(objective='binary', deterministic=True, force_col_wise=True,
                      num_threads=1, verbose=-1, seed=int(seed))
        data = lightgbm.Dataset(x, label=labels.astype(np.float64), params=params,
                                free_raw_data=True)
        return lightgbm.train(params, data, num_boost_round=rounds)

    def _tune(self, x: np.ndarray, labels: np.ndarray, m: int) -> Dict:
        """TPE search of LightGBM hyper-parameters by stratified k-fold CV accuracy."""
        import optuna
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        rng = self._rng(m, 17)
        folds = np.empty(len(labels), dtype=np.int64)
        for cls in (False, True):
            idx = np.flatnonzero(labels == cls)
            folds[rng.permutation(idx)] = np.arange(len(idx)) % self.cv_folds

        def objective(trial):
            params = dict(
                self.lgbm_params,
                n_estimators=trial.suggest_int('n_estimators', 10, 100, log=True),
                num_leaves=trial.suggest_int('num_leaves', 2, 31, log=True),
                learning_rate=trial.suggest_float('learning_rate', 0.01, 0.3, log=True),
                min_data_in_leaf=trial.suggest_int('min_data_in_leaf', 2, 20, log=True),
                lambda_l2=trial.suggest_float('lambda_l2', 1e-3, 10.0, log=True),
                feature_fraction=trial.suggest_float('feature_fraction', 0.5, 1.0))
            correct = 0
            for f in range(self.cv_folds):
                tr, va = folds != f, folds == f
                if labels[tr].all() or not labels[tr].any():
                    continue
                model = self._fit(x[tr], labels[tr], params, seed=self._model_seed(f))
                correct += int(((model.predict(x[va]) > 0.5) == labels[va]).sum())
            return correct / len(labels)

        study = optuna.create_study(
            direction='maximize',
            sampler=optuna.samplers.TPESampler(seed=int(rng.integers(2**31))))
        study.optimize(objective, n_trials=self.tune_trials)
        return dict(study.best_params)
