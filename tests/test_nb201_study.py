"""The NAS-Bench-201 supernet ranking study, its searches and DARTS-PT on the NB201 space."""
import csv
import random

import numpy as np
import pytest
import torch

from pinas_mm import analysis_nb201 as study


@pytest.fixture(scope='module')
def photo_root(tmp_path_factory):
    """A CIFAR-10-like folder: train/ and val/ with 3 classes of 8x8 PNG photos."""
    from PIL import Image
    root = tmp_path_factory.mktemp('cifar_like')
    rng = np.random.default_rng(0)
    for split in ('train', 'val'):
        for c, name in enumerate(('cat', 'dog', 'ship')):
            d = root / split / name
            d.mkdir(parents=True)
            for i in range(6):
                arr = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
                arr[..., c] = 255  # a class-dependent colour
                Image.fromarray(arr).save(d / f'{i}.png')
    return str(root)


def _tiny_checkpoint(path):
    torch.manual_seed(1)
    net = study.build_score_model('nb201-tiny').backbone
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in net.state_dict().items()},
                    meta=dict()), path)
    return str(path)


def test_study_tool_end_to_end(photo_root, tmp_path, one_thread):
    from pinas_mm.analysis_nb201 import main
    ckpt = _tiny_checkpoint(tmp_path / 'epoch_1.pth')
    out = tmp_path / 'ranking.md'
    argv = ['--supernet', f'trained={ckpt}', 'untrained=random', '--space', 'nb201-tiny',
            '--data-root', photo_root, '--num-archs', '8', '--recal-images', '6',
            '--bank-per-class', '2', '--query-per-class', '2', '--knn-k', '3',
            '--n-boot', '30', '--search-candidates', '2', '--darts-pt-paths', '1',
            '--darts-pt-supernets', 'trained', '--cache-dir', str(tmp_path / 'cache'),
            '--out', str(out)]
    result = main(argv)
    text = out.read_text()
    assert '| trained (supernet) |' in text and '| untrained (supernet) |' in text
    assert 'trained - untrained' in text and 'DARTS-PT' in text
    assert 'nb201_ranking_study.py' in text
    with open(tmp_path / 'ranking.csv') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and set(rows[0]) >= {'arch', 'table_accuracy', 'trained'}
    assert (tmp_path / 'ranking.png').stat().st_size > 0
    methods = [(p['supernet'], p['method'].split(' ')[0]) for p in result['picks']]
    assert methods == [('trained', 'best'), ('untrained', 'best'), ('trained', 'evolution:'),
                       ('trained', 'DARTS-PT,'), ('untrained', 'evolution:')]
    for p in result['picks']:
        assert len(p['arch']) == 6 and 10.0 <= p['table_accuracy'] <= 94.07
    # every supernet was scored the same way, the scores are kNN top-1 in percent
    for s in result['scores'].values():
        assert len(s) == 8 and all(0.0 <= v <= 100.0 for v in s)
    # a second run is served from the cache: the same scores
    again = main(argv)
    assert again['scores'] == result['scores']


def test_bootstrap_intervals_contain_the_estimate():
    from pinas_mm.analysis_zero_cost import correlation
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    a = x + rng.normal(scale=0.5, size=60)
    b = x + rng.normal(scale=2.0, size=60)
    st = correlation(x, a, topk=(6, ), n_boot=300)
    for key in ('kendall_tau', 'spearman_rho'):
        assert st[f'{key}_lo'] <= st[key] <= st[f'{key}_hi']
    d = study.paired_tau_difference(x, a, b, n_boot=300)
    assert d['lo'] <= d['diff'] <= d['hi'] and d['diff'] > 0 and d['p_a_better'] > 0.9
    same = study.paired_tau_difference(x, a, a, n_boot=50)
    assert same['diff'] == same['lo'] == same['hi'] == 0.0


def test_infer_space_and_bad_checkpoint(tmp_path):
    net = study.build_score_model('nb201-tiny').backbone
    state = {f'backbone.{k}': v for k, v in net.state_dict().items()}
    assert study.infer_space(state).name == 'nb201-tiny'
    wide = study.build_score_model(dict(name='x', channels=16, cells_per_stage=1)).backbone
    space = study.infer_space({f'backbone.{k}': v for k, v in wide.state_dict().items()})
    assert (space.channels, space.cells_per_stage) == (16, 1)
    with pytest.raises(ValueError, match='Not a NAS-Bench-201 supernet'):
        study.infer_space({'backbone.layer1.weight': torch.zeros(1)})
    ckpt = _tiny_checkpoint(tmp_path / 'c.pth')
    with pytest.raises(ValueError, match='not nb201'):
        study.load_supernet(ckpt, space='nb201')


def test_supernet_holds_allowed_candidates_that_sampling_reads():
    from pinas_mm.models.backbones import NB201SuperNet
    from pinas_mm.search.perturbation import restrict_paths
    net = NB201SuperNet(space='nb201-tiny')
    allowed = [[3]] * 2 + [[0, 2]] * 4
    with restrict_paths(net, allowed):
        assert net.allowed_candidates == allowed
        for s in range(20):
            a = net.sample_arch(random.Random(s))
            assert all(c in allowed[e] for e, c in enumerate(a))
            p, q = net.sample_disjoint_archs(random.Random(s))
            assert p[:2] == q[:2] == (3, 3) and all(p[e] != q[e] for e in range(2, 6))
    assert net.allowed_candidates is None and 'sample_arch' not in net.__dict__
    with pytest.raises(ValueError, match='Invalid allowed'):
        net.set_allowed([[5]] * 6)


def test_darts_pt_on_the_nb201_supernet_returns_a_cell(photo_root, one_thread):
    from pinas_mm.space import NB201Space
    data = study.load_score_data(photo_root, recal_images=6, bank_per_class=2,
                                 query_per_class=2, k=3)
    model = study.load_supernet('random', 'nb201-tiny')
    ev = study.CachedEvaluator(study.make_evaluator(model, data))
    space = model.backbone.space
    arch, decisions = study.run_darts_pt(ev, space, num_paths=1, seed=0)
    assert len(decisions) == 6 and sorted(d['block'] for d in decisions) == list(range(6))
    cell = NB201Space.get('nb201').arch(arch)  # a valid cell of the benchmark
    assert tuple(cell) == tuple(d['choice'] for d in sorted(decisions,
                                                             key=lambda d: d['block']))
    assert model.backbone.allowed_candidates is None
