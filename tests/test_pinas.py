import copy

import pytest
import torch

from pinas_mm.space import Arch


def build_pinas(**kwargs):
    import pinas_mm  # noqa: F401
    from mmpretrain.registry import MODELS
    cfg = dict(
        type='pinas_mm.PiNAS',
        data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[0, 0, 0],
                               std=[1, 1, 1]),
        backbone=dict(type='pinas_mm.PiNASSuperNet', space='tiny'),
        neck=dict(type='MoCoV2Neck', in_channels=512, hid_channels=64, out_channels=16,
                  with_avg_pool=True),
        head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
                  temperature=0.2),
        queue_len=32, feat_dim=16, momentum=0.01)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def views(n=4, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, size, size, generator=g) for _ in range(4)]


def perturb_student(model, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in list(model.backbone.parameters()) + list(model.neck.parameters()):
            p.add_(torch.randn(p.shape, generator=g) * 0.05)


def test_paths_differ_in_every_block_and_are_rank_independent():
    model = build_pinas()
    seen = set()
    for step in range(30):
        model.step.fill_(step)
        a, b = model.sample_paths()
        assert isinstance(a, Arch) and all(x != y for x, y in zip(a, b))
        seen.add((a, b))
        model.step.fill_(step)
        assert model.sample_paths() == (a, b)  # a function of (seed, step) only
    assert len(seen) == 30


def _teacher_params(model):
    return {k: v.detach().clone() for k, v in model.teacher.module.named_parameters()}


def _student_params(model):
    import torch.nn as nn
    return {k: v.detach().clone()
            for k, v in nn.Sequential(model.backbone, model.neck).named_parameters()}


@pytest.mark.parametrize('path_ema', [True, False])
def test_teacher_ema_only_on_sampled_paths(path_ema):
    model = build_pinas(path_ema=path_ema)
    model.train()
    perturb_student(model)
    t0, s0 = _teacher_params(model), _student_params(model)
    model.loss(views())
    a, b = model.last_paths
    keys_a, keys_b = set(model.path_keys(a)), set(model.path_keys(b))
    m = model.teacher.momentum
    t1 = _teacher_params(model)
    moved = 0
    for k, before in t0.items():
        after, s = t1[k], s0[k]
        if not path_ema:
            expected = (1 - m) * before + m * s
        elif k in keys_a and k in keys_b:  # stem, downsample, neck: updated for A then B
            expected = (1 - m) * ((1 - m) * before + m * s) + m * s
        elif k in keys_a or k in keys_b:
            expected = (1 - m) * before + m * s
        else:
            assert torch.equal(after, before), f'unsampled {k} changed'
            continue
        torch.testing.assert_close(after, expected, rtol=1e-6, atol=1e-7)
        assert not torch.equal(after, before)
        moved += 1
    if path_ema:
        # candidates that were not on A or B exist and stayed bit-identical
        assert any('.candidates.' in k for k in t0 if k not in keys_a | keys_b)
        assert moved < len(t0)
    else:
        assert moved == len(t0)


@pytest.mark.parametrize('cross_path', [True, False])
def test_student_of_a_pairs_with_teacher_of_b(cross_path, monkeypatch):
    model = build_pinas(cross_path=cross_path)
    model.train()
    tags = {}
    student, teacher = model.student_embed, model.teacher_embed

    def tag(fn, who):
        def wrapped(img, arch):
            out = fn(img, arch)
            tags[id(out)] = (who, arch)
            return out
        return wrapped

    pairs = []
    contrastive = model.contrastive

    def record(q, k, *negatives):
        pairs.append((tags[id(q)], tags[id(k)]))
        return contrastive(q, k, *negatives)

    monkeypatch.setattr(model, 'student_embed', tag(student, 'student'))
    monkeypatch.setattr(model, 'teacher_embed', tag(teacher, 'teacher'))
    monkeypatch.setattr(model, 'contrastive', record)
    loss = model.loss(views())['loss']
    assert torch.isfinite(loss)
    a, b = model.last_paths
    if cross_path:
        assert pairs == [(('student', a), ('teacher', b)), (('student', b), ('teacher', a))]
    else:
        assert pairs == [(('student', a), ('teacher', a)), (('student', b), ('teacher', b))]


def test_loss_value_matches_the_formula():
    import torch.nn.functional as F
    model = build_pinas()
    model.train()
    perturb_student(model)
    ref = copy.deepcopy(model)
    v = views(seed=3)
    queue = model.queue.clone()
    torch.manual_seed(5)  # the same shuffle-BN permutations in both computations
    loss = model.loss(v)['loss']
    a, b = model.last_paths
    # recompute by hand on the copy (same EMA order: teacher updated before keys)
    torch.manual_seed(5)
    q0 = ref.student_embed(v[0], a)
    q1 = ref.student_embed(v[2], b)
    ref.update_teacher((a, b))
    k0 = ref.teacher_embed(v[1], a)
    k1 = ref.teacher_embed(v[3], b)

    def ce(q, k):
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue], 1) / 0.2
        return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long))
    torch.testing.assert_close(loss, ce(q0, k1) + ce(q1, k0), rtol=1e-5, atol=1e-5)


def test_queue_pointer_and_contents():
    import torch.nn.functional as F
    model = build_pinas(queue_len=12)
    model.train()
    captured = []
    teacher = model.teacher_embed

    def keep(img, arch):
        out = teacher(img, arch)
        captured.append(out)
        return out
    model.teacher_embed = keep
    assert int(model.queue_ptr) == 0
    model.loss(views(n=4))
    k0, k1 = captured
    torch.testing.assert_close(model.queue[:, 0:4].t(), F.normalize((k0 + k1) / 2, dim=1))
    assert int(model.queue_ptr) == 4 and int(model.step) == 1
    model.loss(views(n=4, seed=1))
    model.loss(views(n=4, seed=2))
    assert int(model.queue_ptr) == 0  # wrapped around 12
    # the authors' variant: the plain mean, not renormalised
    plain = build_pinas(queue_len=12, renorm_queue_keys=False)
    plain.train()
    captured.clear()
    original = plain.teacher_embed

    def keep_plain(img, arch):
        out = original(img, arch)
        captured.append(out)
        return out
    plain.teacher_embed = keep_plain
    plain.loss(views(n=4))
    k0, k1 = captured
    torch.testing.assert_close(plain.queue[:, 0:4].t(), (k0 + k1) / 2)


def test_queue_length_need_not_divide_the_batch():
    # a ring buffer (issue 10, fault 3): 4 keys per step wrap around a 10-key queue
    model = build_pinas(queue_len=10)
    model.train()
    for seed in range(3):
        model.loss(views(n=4, seed=seed))
    assert int(model.queue_ptr) == 2


def test_bad_inputs():
    model = build_pinas()
    with pytest.raises(ValueError, match='4 views'):
        model.loss(views()[:2])
    with pytest.raises(TypeError, match='PiNASSuperNet'):
        build_pinas(backbone=dict(type='pinas_mm.PiNASResNeSt', space='tiny'))


def test_train_step_updates_student_and_stays_finite():
    from mmengine.optim import OptimWrapper
    model = build_pinas()
    model.train()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.03, momentum=0.9))
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    for step in range(3):
        data = dict(inputs=views(seed=step), data_samples=None)
        log = model.train_step(data, wrapper)
        assert torch.isfinite(log['loss'])
    a, b = model.last_paths
    key = f'layer1.0.candidates.{a[0]}.conv1.weight'
    assert not torch.equal(before[key], model.backbone.state_dict()[key])


def test_non_finite_loss_stops_with_the_iteration():
    from types import SimpleNamespace

    from pinas_mm.engine import FiniteLossHook
    hook = FiniteLossHook()
    runner = SimpleNamespace(iter=41, epoch=2)
    hook.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(1.5)))
    with pytest.raises(FloatingPointError, match='iteration 42 .epoch 3.*nan'):
        hook.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(float('nan'))))
    with pytest.raises(FloatingPointError, match='inf'):
        hook.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(float('inf')),
                                                      acc=torch.tensor(1.)))


def test_teacher_starts_as_a_copy_of_the_initialised_student():
    import torch.nn as nn
    model = build_pinas()
    model.init_weights()
    student = nn.Sequential(model.backbone, model.neck).state_dict()
    teacher = model.teacher.module.state_dict()
    assert student.keys() == teacher.keys()
    for k in student:
        assert torch.equal(student[k], teacher[k]), k
