"""Search strategies: propose new architectures as a pure function of (seed, history).

A strategy keeps no state a killed search would lose: :meth:`BaseStrategy.propose` reads the
history (``[(arch, score), ...]`` in evaluation order, higher score is better) and derives
everything else from it, its random stream included (seeded from ``seed`` and
``len(history)``). Replaying a stored history therefore resumes a search exactly where it
stopped. Caches (the partition tree) are keyed on the history they were built from.

Every proposal is new (not in the history, no repeats within one call) and passes the
budget predicate ``is_valid(arch)``; when ``max_tries`` candidates in a row are rejected the
strategy raises a ``RuntimeError`` that names the budget.

Strategies:

* :class:`RandomStrategy`: uniform random architectures.
* :class:`EvolutionStrategy`: mmrazor's ``EvolutionSearchLoop`` (random population, then
  mutation + uniform crossover of the top-k) as a steady-state generator.
* :class:`PartitionStrategy`: the learned space partition of Pi-NAS (LaNAS / LA-MCTS
  style): a tree of LightGBM classifiers, each splitting the architectures that reach it
  into above / below their median score; proposals are rejection-sampled inside the best
  leaf.
"""
import math
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import lightgbm
import numpy as np

from pinas_mm.registry import STRATEGIES
from pinas_mm.space.arch import NUM_BLOCKS, NUM_CHOICES, Arch

History = Sequence[Tuple[Arch, float]]

#: Default tree height per number of samples the tree is built from: height 3 (at most 8
#: leaves, ~10 samples each) from the first tree (80 samples), +1 at each of the paper's
#: milestones 400/800/1600/3200 (so leaves keep ~25-50 samples). Height 3 beat 2 and 4 on the
#: synthetic benchmark (benchmarks/bench_search_strategies.py).
DEFAULT_HEIGHT_SCHEDULE = ((0, 3), (400, 4), (800, 5), (1600, 6), (3200, 7))

#: Spaces at most this big are enumerated to tell exactly when no valid unseen arch is left.
_ENUMERATE_LIMIT = 4096


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


class _Picker:
    """Collects new, valid, distinct archs; raises after ``max_tries`` rejections in a row."""

    def __init__(self, strategy: 'BaseStrategy', seen, n: int, history_len: int):
        self.strategy = strategy
        self.seen = set(seen)
        self.n = n
        self.history_len = history_len
        self.accepted: List[Arch] = []
        self.invalid = set()
        self.fails = 0

    @property
    def done(self) -> bool:
        return len(self.accepted) >= self.n

    def offer(self, arch: Arch) -> bool:
        if arch in self.seen:
            ok = False
        elif arch in self.invalid:
            ok = False
        elif self.strategy.is_valid is not None and not self.strategy.is_valid(arch):
            self.invalid.add(arch)
            ok = False
        else:
            ok = True
        if ok:
            self.seen.add(arch)
            self.accepted.append(arch)
            self.fails = 0
            return True
        self.fails += 1
        if self.fails >= self.strategy.max_tries:
            raise RuntimeError(
                f'{type(self.strategy).__name__} could not find a new architecture: '
                f'{self.fails} candidates in a row were already evaluated or rejected by the '
                f'budget predicate is_valid={self.strategy.is_valid!r} '
                f'({len(self.accepted)} of {self.n} proposed, {self.history_len} in history, '
                f'{len(self.invalid)} distinct candidates over budget). The budget is too '
                f'tight or the valid unseen space is exhausted: relax the budget, or raise '
                f'max_tries={self.strategy.max_tries} if valid archs are just rare.')
        return False

    def random_arch(self, rng: np.random.Generator) -> Arch:
        s = self.strategy
        return s._arch(rng.integers(0, s.num_choices, size=s.num_blocks))

    def fill_random(self, rng: np.random.Generator, count: int) -> None:
        target = min(self.n, len(self.accepted) + count)
        while len(self.accepted) < target:
            self.offer(self.random_arch(rng))


class BaseStrategy:
    """Propose ``n`` new architectures from the history; stateless between calls.

    Args:
        num_blocks, num_choices: the space (``num_choices ** num_blocks`` archs).
        seed: non-negative int; with the history it fixes every proposal.
        is_valid: budget predicate ``arch -> bool`` (e.g. FLOPs <= X); ``None`` accepts all.
        max_tries: rejections in a row (already seen or over budget) before giving up with
            a ``RuntimeError``.
    """

    #: mixed into the random seed so that strategies draw different streams
    _salt = 0

    def __init__(self, num_blocks: int = NUM_BLOCKS, num_choices: int = NUM_CHOICES,
                 seed: int = 0, is_valid: Optional[Callable[[Arch], bool]] = None,
                 max_tries: int = 10000):
        for name, value, low in (('num_blocks', num_blocks, 1), ('num_choices', num_choices, 1),
                                 ('seed', seed, 0), ('max_tries', max_tries, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f'Invalid {name}={value!r}: expected an int >= {low}.')
        if is_valid is not None and not callable(is_valid):
            raise ValueError(f'Invalid is_valid={is_valid!r}: expected a callable arch -> bool '
                             'or None.')
        self.num_blocks = int(num_blocks)
        self.num_choices = int(num_choices)
        self.seed = int(seed)
        self.is_valid = is_valid
        self.max_tries = int(max_tries)

    # ----------------------------------------------------------------------------- public
    def propose(self, history: History = (), n: int = 1) -> List[Arch]:
        """``n`` new distinct archs, none in ``history``, each passing ``is_valid``.

        ``history`` is ``[(arch, score), ...]`` in evaluation order (archs in any form
        :meth:`Arch.parse` accepts; a mapping ``arch -> score`` or a
        :class:`~pinas_mm.search.SearchHistory` work too); higher scores are better.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f'Invalid n={n!r}: expected an int >= 0.')
        hist = self._normalize_history(history)
        if n == 0:
            return []
        seen = {a for a, _ in hist}
        self._check_space(seen, n, len(hist))
        rng = self._rng(len(hist))
        picker = _Picker(self, seen, int(n), len(hist))
        self._propose(hist, picker, rng)
        if not picker.done:  # a subclass bug, never a user error
            raise AssertionError(f'{type(self).__name__} proposed {len(picker.accepted)} of {n}')
        return list(picker.accepted)

    def _propose(self, history: List[Tuple[Arch, float]], picker: _Picker,
                 rng: np.random.Generator) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------------------- helpers
    def _arch(self, choices) -> Arch:
        return Arch((int(c) for c in choices), self.num_blocks, self.num_choices)

    def _rng(self, history_len: int, *extra: int) -> np.random.Generator:
        return np.random.default_rng(
            np.random.SeedSequence([self.seed, history_len, self._salt, *extra]))

    def _normalize_history(self, history) -> List[Tuple[Arch, float]]:
        if hasattr(history, 'pairs') and callable(history.pairs):
            history = history.pairs()
        elif isinstance(history, Mapping):
            history = list(history.items())
        out, prevalidated = [], []
        for i, item in enumerate(history):
            try:
                arch, score = item
            except (TypeError, ValueError):
                raise ValueError(f'Invalid history entry {i}: {item!r}; expected an '
                                 '(arch, score) pair.') from None
            if type(arch) is Arch and len(arch) == self.num_blocks:
                prevalidated.append(arch)  # range checked below, in one go
            else:
                arch = Arch.parse(arch, self.num_blocks, self.num_choices)
            try:
                score = float(score)
            except (TypeError, ValueError):
                raise ValueError(f'Invalid history entry {i}: score {score!r} of arch {arch} '
                                 'is not a number.') from None
            out.append((arch, score))
        if prevalidated and np.max(prevalidated) >= self.num_choices:
            bad = next(a for a in prevalidated if max(a) >= self.num_choices)
            Arch.parse(bad, self.num_blocks, self.num_choices)  # raises, naming the arch
        return out

    def _check_space(self, seen, n: int, history_len: int) -> None:
        size = self.num_choices ** self.num_blocks
        if len(seen) + n > size:
            raise RuntimeError(
                f'{type(self).__name__} cannot propose {n} new architectures: the space has '
                f'only {size} and {len(seen)} are already in the history.')
        if size <= _ENUMERATE_LIMIT and self.is_valid is not None:
            left = 0
            for idx in np.ndindex(*([self.num_choices] * self.num_blocks)):
                arch = self._arch(idx)
                if arch not in seen and self.is_valid(arch):
                    left += 1
            if left < n:
                raise RuntimeError(
                    f'{type(self).__name__} cannot propose {n} new architectures: only {left} '
                    f'unseen architectures of the {size} in the space pass the budget '
                    f'predicate is_valid={self.is_valid!r} ({history_len} in history); the '
                    'valid space is exhausted, relax the budget.')

    @staticmethod
    def _ranked(history: List[Tuple[Arch, float]]) -> List[Tuple[Arch, float]]:
        """Best first; NaN scores last; ties keep evaluation order."""
        return sorted(history, key=lambda p: -p[1] if p[1] == p[1] else math.inf)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_blocks={self.num_blocks}, '
                f'num_choices={self.num_choices}, seed={self.seed})')


@STRATEGIES.register_module()
class RandomStrategy(BaseStrategy):
    """Uniformly random architectures (the baseline every search is compared to)."""

    _salt = 1

    def _propose(self, history, picker, rng):
        picker.fill_random(rng, picker.n)


@STRATEGIES.register_module()
class EvolutionStrategy(BaseStrategy):
    """mmrazor's evolution search as a generator over the history.

    The first ``init_random`` (default ``population_size``) evaluations are uniform random.
    Afterwards every child comes from the ``top_k`` best archs of the history so far: of each
    ``num_mutation + num_crossover`` consecutive children, ``num_mutation`` are mutations (a
    random top-k parent, each block resampled with probability ``mutate_prob``) and
    ``num_crossover`` are uniform crossovers of two distinct top-k parents. A child that
    keeps colliding with the history (``child_tries`` attempts) is replaced by a random arch.
    Calling ``propose(history, n=population_size)`` once per generation reproduces the
    generational loop; ``n=1`` gives a steady-state evolution.
    """

    _salt = 2

    def __init__(self, population_size: int = 50, top_k: int = 10, num_mutation: int = 25,
                 num_crossover: int = 25, mutate_prob: float = 0.1,
                 init_random: Optional[int] = None, child_tries: int = 50, **kwargs):
        super().__init__(**kwargs)
        for name, value, low in (('population_size', population_size, 1), ('top_k', top_k, 1),
                                 ('num_mutation', num_mutation, 0),
                                 ('num_crossover', num_crossover, 0),
                                 ('child_tries', child_tries, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f'Invalid {name}={value!r}: expected an int >= {low}.')
        if num_mutation + num_crossover == 0:
            raise ValueError('Invalid num_mutation=0 and num_crossover=0: at least one must be '
                             '> 0.')
        if not 0.0 <= float(mutate_prob) <= 1.0:
            raise ValueError(f'Invalid mutate_prob={mutate_prob!r}: expected a float in [0, 1].')
        if init_random is not None and (not isinstance(init_random, (int, np.integer))
                                        or init_random < 0):
            raise ValueError(f'Invalid init_random={init_random!r}: expected an int >= 0 or '
                             'None (= population_size).')
        self.population_size = int(population_size)
        self.top_k = int(top_k)
        self.num_mutation = int(num_mutation)
        self.num_crossover = int(num_crossover)
        self.mutate_prob = float(mutate_prob)
        self.init_random = self.population_size if init_random is None else int(init_random)
        self.child_tries = int(child_tries)

    def _propose(self, history, picker, rng):
        picker.fill_random(rng, self.init_random - len(history))
        if picker.done:
            return
        parents = np.array([a for a, _ in self._ranked(history)[:self.top_k]], dtype=np.int64)
        if len(parents) == 0:
            picker.fill_random(rng, picker.n)
            return
        cycle = self.num_mutation + self.num_crossover
        child_index = max(0, len(history) - self.init_random)
        while not picker.done:
            crossover = (child_index % cycle) >= self.num_mutation and len(parents) >= 2
            child_index += 1
            for _ in range(self.child_tries):
                child = self.crossover(parents, rng) if crossover else self.mutate(parents, rng)
                if picker.offer(child):
                    break
            else:
                picker.fill_random(rng, 1)

    def mutate(self, parents: np.ndarray, rng: np.random.Generator) -> Arch:
        """A random parent with each block resampled with probability ``mutate_prob``."""
        parent = parents[rng.integers(len(parents))]
        mask = rng.random(self.num_blocks) < self.mutate_prob
        new = rng.integers(0, self.num_choices, size=self.num_blocks)
        return self._arch(np.where(mask, new, parent))

    def crossover(self, parents: np.ndarray, rng: np.random.Generator) -> Arch:
        """Uniform crossover of two distinct random parents."""
        i, j = rng.choice(len(parents), size=2, replace=False)
        mask = rng.random(self.num_blocks) < 0.5
        return self._arch(np.where(mask, parents[i], parents[j]))


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
        for name, value, low in (('init_samples', init_samples, 1),
                                 ('rebuild_every', rebuild_every, 1),
                                 ('n_estimators', n_estimators, 1),
                                 ('tune_trials', tune_trials, 0), ('cv_folds', cv_folds, 2),
                                 ('min_node_samples', min_node_samples, 2),
                                 ('min_leaf_samples', min_leaf_samples, 1),
                                 ('batch_size', batch_size, 1), ('leaf_rounds', leaf_rounds, 1),
                                 ('leaf_tries', leaf_tries, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f'Invalid {name}={value!r}: expected an int >= {low}.')
        if float(exploration) < 0:
            raise ValueError(f'Invalid exploration={exploration!r}: expected a float >= 0.')
        self.init_samples = int(init_samples)
        self.rebuild_every = int(rebuild_every)
        self.height_schedule = _check_schedule(height_schedule)
        self.n_estimators = int(n_estimators)
        self.lgbm_params = dict(self.DEFAULT_LGBM_PARAMS, **(lgbm_params or {}))
        self.exploration = float(exploration)
        self.tune_trials = int(tune_trials)
        self.cv_folds = int(cv_folds)
        self.min_node_samples = int(min_node_samples)
        self.min_leaf_samples = int(min_leaf_samples)
        self.batch_size = int(batch_size)
        self.leaf_rounds = int(leaf_rounds)
        self.leaf_tries = int(leaf_tries)
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

    def _sample_in(self, path: List[_Node], picker: _Picker, rng) -> bool:
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
