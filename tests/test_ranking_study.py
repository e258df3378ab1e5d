"""The tiny-space ranking study's pieces (pinas_mm.orchestration.ranking_study), without
training: the stand-alone run goes through the one tool runner, a finished run is reused,
arch sampling and the critical-tau helper. (Its broken-checkpoint exit: test_checkpoints.)"""
import itertools
import json
import sys

import pytest

from pinas_mm.orchestration import ranking_study
from pinas_mm.orchestration.runner import ToolFailed
from pinas_mm.space import SearchSpace

ARCH = '3013231203213032'


def test_standalone_training_runs_train_py_through_the_runner_and_names_its_log(
        tmp_path, monkeypatch):
    calls = []

    def failing_command(tool, *args):
        calls.append((tool, args))
        return [sys.executable, '-c', 'import sys; print("boom"); sys.exit(3)']

    monkeypatch.setattr(ranking_study, 'tool_command', failing_command)
    with pytest.raises(ToolFailed) as e:
        ranking_study.train_standalone(ARCH, 1, 'cfg.py', str(tmp_path), print)
    run_dir = tmp_path / 'standalone' / f'{ARCH}_s1'
    assert calls == [('train.py', ('cfg.py', '--work-dir', str(run_dir), '--cfg-options',
                                   'model.backbone.arch=[' + ','.join(ARCH) + ']',
                                   'randomness.seed=1'))]
    assert isinstance(e.value, RuntimeError) and e.value.returncode == 3
    assert str(e.value) == (f'Stand-alone training of {ARCH} failed; see '
                            f'{run_dir / "train.log"}')
    assert (run_dir / 'train.log').read_text() == 'boom\n'
    assert not (run_dir / 'result.json').exists()


def test_finished_standalone_run_is_reused(tmp_path, monkeypatch):
    run_dir = tmp_path / 'standalone' / f'{ARCH}_s0'
    run_dir.mkdir(parents=True)
    done = dict(arch=ARCH, seed=0, top1=37.5, seconds=12.0)
    (run_dir / 'result.json').write_text(json.dumps(done))
    monkeypatch.setattr(ranking_study, 'run_tool', lambda *a, **k: pytest.fail('ran'))
    assert ranking_study.train_standalone(ARCH, 0, 'cfg.py', str(tmp_path), print) == done


def test_sample_archs_distinct_seeded_and_bounded():
    space = SearchSpace.get('tiny')
    archs = ranking_study.sample_archs(12, 0, space)
    assert len(set(archs)) == 12 and archs == ranking_study.sample_archs(12, 0, space)
    assert all(len(a) == space.num_blocks and set(a) <= set('0123') for a in archs)
    total = space.num_choices ** space.num_blocks
    with pytest.raises(ValueError, match=f'--num-archs {total + 1} exceeds the {total}'):
        ranking_study.sample_archs(total + 1, 0, space)


def test_archs_from_csv_top_k_by_score(tmp_path):
    path = tmp_path / 'results.csv'
    path.write_text('arch,score\n0000000000000000,1\n1111111111111111,3\n'
                    '2222222222222222,2\n1111111111111111,0\n')
    assert ranking_study.archs_from_csv(str(path)) == [
        '0000000000000000', '1111111111111111', '2222222222222222']
    assert ranking_study.archs_from_csv(str(path), top=2) == [
        '1111111111111111', '2222222222222222']
    (tmp_path / 'no_score.csv').write_text('arch\n0000000000000000\n')
    with pytest.raises(ValueError, match='--top needs a "score" column'):
        ranking_study.archs_from_csv(str(tmp_path / 'no_score.csv'), top=1)


@pytest.mark.parametrize('n', [2, 5, 7])
def test_permutation_with_k_discordant_pairs(n):
    """The caveat's critical tau uses a ranking with exactly k discordant pairs."""
    for k in range(n * (n - 1) // 2 + 1):
        order = ranking_study._perm_with_concordance(n, k)
        assert sorted(order) == list(range(n))
        assert sum(order[i] > order[j] for i, j in itertools.combinations(range(n), 2)) == k
