"""Turn other people's ResNeSt / Pi-NAS checkpoints into pinas_mm keys.

Two source formats, one naming family
-------------------------------------
Both are written with the key names of Ross Wightman's timm ResNet/ResNeSt, which
Hang Zhang's PyTorch-Encoding ResNeSt shares:

* **timm** ``resnest50d`` (``timm/models/resnest.py`` + ``timm/models/resnet.py``,
  checked here against the installed timm 1.0.31 ``resnest50d().state_dict()``).
* **The Pi-NAS authors' code**, https://github.com/Ernie1/Pi-NAS (read through the code
  search index, commits 203b832c for ``OpenSelfSup/`` and 7b1b5af5 for the rest):

  - Supernet: ``OpenSelfSup/openselfsup/models/backbones/super_resnest.py``, class
    ``SuperResNet``, a copy of timm's ``ResNet`` (deep stem ``conv1`` Sequential +
    ``bn1``) whose ``_make_layer`` returns ``nn.ModuleList(layers)`` where every block
    is itself ``nn.ModuleList([get_block(..., **candidate_args[i]) for i in ...])``.
    The candidate index is therefore a bare integer right after the block index:
    ``layer{s}.{b}.{c}.<block keys>``. ``candidate_args`` (config
    ``OpenSelfSup/configs/pinas_learning.py``) lists the four ``ResNestBottleneck``
    candidates in our order: (radix, cardinality, base_width) = (1,1,64), (2,1,64),
    (1,2,42), (2,2,40). The block is timm's ``ResNestBottleneck`` (copied into the same
    file) with timm's ``SplitAttnConv2d`` (``conv``, ``bn0``, ``fc1``, ``bn1``, ``fc2``).
    The downsample is ``downsample_avg`` = ``Sequential(pool, conv, bn)`` (``pool`` is an
    ``nn.Identity`` for stride 1, so conv/bn are always at ``.1``/``.2``), built once and
    handed to every candidate (``[downsample_avg(...)] * len(candidate_args)`` with the
    default ``downsample_share=True``): the *same* module appears under every candidate,
    so ``state_dict()`` holds identical copies at ``layer{s}.0.{c}.downsample.*`` for
    each ``c``. ``SuperResNet`` has no classifier (only ``global_pool``).
  - Whole-model checkpoints: the algorithm (``OpenSelfSup/openselfsup/models/pinas.py``,
    ``class PiNAS(MOCO)``) inherits OpenSelfSup's ``MOCO`` (``openselfsup/models/moco.py``,
    read in open-mmlab/mmselfsup at 5e671297): ``encoder_q = Sequential(backbone, neck)``,
    ``encoder_k`` likewise (the momentum teacher), ``self.backbone = encoder_q[0]`` (so
    ``backbone.*`` duplicates ``encoder_q.0.*``), buffers ``queue`` and ``queue_ptr``.
    ``OpenSelfSup/tools/extract_backbone_weights.py`` writes ``{'state_dict':
    {key[len('backbone.'):]: ...}}``. The linear probe
    (``openselfsup/models/super_classification.py``) saves ``backbone.*`` + ``head.*``.
  - Subnet: ``encoding/models/backbone/alone_resnest50.py`` (``AloneResnet50``,
    ``alone_resnest50``) subclasses PyTorch-Encoding's ``ResNet``
    (``encoding/models/backbone/resnet.py``) with per-block ``block_args[c]`` for
    ``choice_indices``; keys: deep stem ``conv1.{0,1,3,4,6}`` + ``bn1``, blocks
    ``layer{s}.{b}.conv1/bn1/conv2.{conv,bn0,fc1,bn1,fc2}/conv3/bn3`` (``SplAtConv2d``,
    zhanghang1989/PyTorch-Encoding ``encoding/nn/splat.py``), downsample
    ``Sequential(AvgPool2d, Conv2d, BN)`` -> ``downsample.1``/``downsample.2`` in every
    stage (the pool is added even for stride 1), classifier ``fc``.
    ``experiments/recognition/verify.py`` loads ``checkpoint['state_dict']`` strictly
    into that model; the segmentation models keep it as ``pretrained.*``
    (``encoding/models/sseg/base.py``, ``self.pretrained``) beside ``head.*`` /
    ``auxlayer.*``.

  Not read (absent from the index): the authors' ``OpenSelfSup/.../layers/split_attn.py``.
  We rely on timm's ``SplitAttnConv2d`` of that era (attributes ``conv, bn0, act0, fc1,
  bn1, act1, fc2, rsoftmax``; only conv/bn/fc carry state), the same names as
  PyTorch-Encoding's ``SplAtConv2d``. Shapes are checked against our modules anyway.

The mapping (``B`` = the block keys ``conv1.weight``, ``bn1.*``, ``conv2.conv.weight``,
``conv2.bn0.*``, ``conv2.fc1.{weight,bias}``, ``conv2.bn1.*``, ``conv2.fc2.{weight,bias}``,
``conv3.weight``, ``bn3.*``, identical in timm, the authors' code and mmpretrain)::

    conv1.0.weight            -> stem.0.conv.weight
    conv1.1.*                 -> stem.0.bn.*
    conv1.3.weight            -> stem.1.conv.weight
    conv1.4.*                 -> stem.1.bn.*
    conv1.6.weight            -> stem.2.conv.weight
    bn1.*                     -> stem.2.bn.*
    layer{s}.{b}.B            -> layer{s}.{b}.B                       (subnet / timm)
    layer{s}.{b}.{c}.B        -> layer{s}.{b}.candidates.{c}.B        (supernet)
    layer{s}.0[.{c}].downsample.1.weight -> layer{s}.0.downsample.{i}.weight
    layer{s}.0[.{c}].downsample.2.*      -> layer{s}.0.downsample.{i+1}.*
    fc.{weight,bias}          -> head.fc.{weight,bias} (classifier output only)

``i`` is 0 for ``layer1`` and 1 for the other stages: the layout of mmpretrain's
ResNeSt with the default strides, which our backbones keep for any strides (a dilated
DeepLabV3 stage holds an ``Identity`` where the pool would be). Supernet
downsample copies must all be equal (they are one module in the source); they become our
single shared ``layer{s}.0.downsample.*``.

Strictness: every key must be mapped, or belong to a named other part of a whole-model
checkpoint (neck, teacher, queue, heads; reported in ``meta['dropped']``), or it is an
error: :class:`ValueError` naming the keys. The only thing made up is a missing
``num_batches_tracked`` of a BN layer whose other statistics are present (checkpoints of
old PyTorch versions lack it); it is filled with 0, which changes nothing in eval mode
nor with a fixed BN momentum, and counted in ``meta['filled_num_batches_tracked']``.
"""
import os.path as osp
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

from pinas_mm.engine.checkpoint import (extract_state_dict,  # noqa: F401
                                        read_state_dict, strip_module_prefix)
from pinas_mm.space import Arch, ArchLike, SearchSpace

BN_KEYS = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')

#: source stem key -> our stem key (timm / authors' deep stem -> mmpretrain deep stem).
STEM_MAP: Dict[str, str] = {
    'conv1.0.weight': 'stem.0.conv.weight',
    'conv1.3.weight': 'stem.1.conv.weight',
    'conv1.6.weight': 'stem.2.conv.weight',
}
for _src, _dst in (('conv1.1', 'stem.0.bn'), ('conv1.4', 'stem.1.bn'), ('bn1', 'stem.2.bn')):
    STEM_MAP.update({f'{_src}.{p}': f'{_dst}.{p}' for p in BN_KEYS})

#: keys inside one ResNeSt bottleneck, identical in the sources and in mmpretrain.
BLOCK_KEYS = frozenset(
    ['conv1.weight', 'conv2.conv.weight', 'conv2.fc1.weight', 'conv2.fc1.bias',
     'conv2.fc2.weight', 'conv2.fc2.bias', 'conv3.weight']
    + [f'{m}.{p}' for m in ('bn1', 'conv2.bn0', 'conv2.bn1', 'bn3') for p in BN_KEYS])

#: the classifier of timm / the authors' subnet.
HEAD_MAP = {'fc.weight': 'head.fc.weight', 'fc.bias': 'head.fc.bias'}

#: other parts of whole-model checkpoints: prefix -> what it is (dropped, reported).
OTHER_PARTS: Dict[str, str] = {
    'encoder_q.0.': 'OpenSelfSup MoCo/PiNAS query encoder (student) backbone',
    'encoder_q.1.': 'query encoder projection neck',
    'encoder_k.0.': 'key encoder (momentum teacher) backbone',
    'encoder_k.1.': 'key encoder projection neck',
    'backbone.': 'OpenSelfSup backbone (in MoCo/PiNAS the same module as encoder_q.0)',
    'pretrained.': 'PyTorch-Encoding segmentation backbone',
    'neck.': 'neck',
    'head.': 'head',
    'auxlayer.': 'PyTorch-Encoding auxiliary segmentation head',
    'queue': 'MoCo queue of negatives',
    'queue_ptr': 'MoCo queue pointer',
}
#: where the backbone lives, tried in this order (query encoder / student first).
STUDENT_PREFIXES = ('encoder_q.0.', 'backbone.', 'pretrained.', '')
TEACHER_PREFIXES = ('encoder_k.0.',)

_SUB = re.compile(r'^layer(\d+)\.(\d+)\.(.+)$')
_SUPER = re.compile(r'^layer(\d+)\.(\d+)\.(\d+)\.(.+)$')
_DOWN = re.compile(r'^downsample\.(\d+)\.(.+)$')


def _show(keys: Sequence[str], n: int = 12) -> str:
    keys = list(keys)
    return ', '.join(keys[:n]) + (f' ... ({len(keys)} in all)' if len(keys) > n else '')


# ---- reading checkpoints ------------------------------------------------------------
# One reader for every checkpoint file: pinas_mm.engine.checkpoint (safe weights-only
# loading, plain-OpenMMLab checkpoints, one-line errors naming broken files);
# extract_state_dict / strip_module_prefix are re-exported from there.


def load_state_dict_file(path: str) -> 'OrderedDict[str, torch.Tensor]':
    """The weights of checkpoint ``path`` (``.pth`` / ``.bin`` / ``.safetensors``; a raw
    state dict or one under ``'state_dict'`` / ``'model'``; ``module.`` stripped).

    Read by :func:`pinas_mm.engine.checkpoint.read_state_dict`: weights-only, and a
    :class:`~pinas_mm.engine.checkpoint.CheckpointError` (a ValueError) of one line
    naming the file when it is missing, empty, truncated or refused."""
    return read_state_dict(path)


# ---- shared pieces ------------------------------------------------------------------
# Our key names come from the supernet's layout (PiNASSuperNet.layout_for, see
# pinas_mm/models/backbones/layout.py): a source block ``layer{s}.{b}`` is our block of
# that name if the space has it; its candidates, shared downsample and the subnet's
# names are the layout's.
def _layout(space: SearchSpace):
    from pinas_mm.models.backbones import PiNASSuperNet
    return PiNASSuperNet.layout_for(space)


def _source_block(layout, stage: str, b: str):
    """Our block (a layout slot) of source block ``layer{stage}.{b}``, or None."""
    return layout.slot(f'layer{stage}.{b}')


def _map_downsample(rest: str, stage: int, slot) -> Optional[str]:
    """``downsample.{1,2}.<p>`` of the sources -> our key under the block's shared
    downsample; None if it is not one or the block has none.

    Our downsample is ``[pool,] conv, bn`` with the pool slot kept (an ``Identity`` where
    a stage does not stride) in every stage but the first, whatever the strides."""
    m = _DOWN.match(rest)
    if not m or not slot.shared:
        return None
    idx, param = int(m[1]), m[2]
    conv, bn = (0, 1) if stage == 1 else (1, 2)
    if idx == 1 and param == 'weight':
        return f'{slot.shared[0]}.{conv}.weight'
    if idx == 2 and param in BN_KEYS:
        return f'{slot.shared[0]}.{bn}.{param}'
    return None


def _fill_num_batches_tracked(state: 'OrderedDict[str, torch.Tensor]') -> int:
    n = 0
    for key in list(state):
        if key.endswith('.running_mean'):
            nbt = key[:-len('running_mean')] + 'num_batches_tracked'
            if nbt not in state:
                state[nbt] = torch.tensor(0, dtype=torch.long)
                n += 1
    return n


def infer_space(state: Mapping[str, torch.Tensor]) -> SearchSpace:
    """The preset whose stem width (and, to break ties, blocks) match these source keys:
    :func:`pinas_mm.models.backbones.layout.infer_space` of the stem and block keys in
    our naming (source block names are ours)."""
    from pinas_mm.models.backbones.layout import infer_space as infer_layout_space
    if 'conv1.6.weight' not in state:
        raise ValueError('Cannot infer the search space: no deep-stem key conv1.6.weight '
                         f'(first keys: {_show(list(state), 5)}).')
    ours = {STEM_MAP[k]: v for k, v in state.items() if k in STEM_MAP}
    ours.update((k, v) for k, v in state.items() if k.startswith('layer'))
    try:
        return infer_layout_space(ours, space_types=(SearchSpace, ))
    except ValueError as e:
        raise ValueError(f'{e} Pass space= / --space.') from None


def infer_subnet_arch(state: Mapping[str, torch.Tensor], space: SearchSpace) -> Arch:
    """Each block's candidate from its shapes (block names: the layout's):
    width, radix and cardinality."""
    choices: List[int] = [0] * space.num_blocks
    for slot in _layout(space).slots:
        name = slot.name
        try:
            width = state[f'{name}.conv1.weight'].shape[0]
            radix = state[f'{name}.conv2.conv.weight'].shape[0] // width
            groups = width // state[f'{name}.conv2.fc1.weight'].shape[1]
            mid = state[f'{name}.conv3.weight'].shape[0] // 4
        except KeyError as e:
            raise ValueError(f'Cannot infer the arch: block {name} lacks {e.args[0]!r}.') \
                from None
        found = [c for c, cand in enumerate(space.candidates)
                 if cand.radix == radix and cand.groups == groups
                 and cand.groups * (cand.base_width * mid // 64) == width]
        if len(found) != 1:
            raise ValueError(f'Cannot infer the arch: block {name} (width {width}, radix '
                             f'{radix}, cardinality {groups}) matches candidates {found} '
                             f'of space {space.name}. Pass arch= / --arch.')
        choices[slot.position] = found[0]
    return space.arch(choices)


def _verify(state, space: SearchSpace, arch: Optional[Arch]) -> None:
    from pinas_mm.models.backbones import PiNASResNeSt, PiNASSuperNet
    from pinas_mm.models.inherit import check_state_matches
    if arch is None:
        model, what = PiNASSuperNet(space=space), 'converted supernet state'
    else:
        model, what = PiNASResNeSt(arch=arch, space=space), 'converted subnet state'
    check_state_matches(model, state, what)


# ---- the mappings (backbone keys only, no prefix) ------------------------------------
def map_subnet_keys(state: Mapping[str, torch.Tensor], space='resnest50'
                    ) -> Tuple['OrderedDict[str, torch.Tensor]', Dict[str, torch.Tensor],
                               List[str]]:
    """timm / authors' subnet backbone keys -> :class:`PiNASResNeSt` keys.

    Returns (mapped, head, unmapped): ``head`` holds ``fc.*`` under our ``head.fc.*``.
    """
    space = SearchSpace.get(space)
    layout = _layout(space)
    out, head, unmapped = OrderedDict(), OrderedDict(), []
    for key, value in state.items():
        if key in STEM_MAP:
            out[STEM_MAP[key]] = value
            continue
        if key in HEAD_MAP:
            head[HEAD_MAP[key]] = value
            continue
        m = _SUB.match(key)
        slot = _source_block(layout, m[1], m[2]) if m else None
        if slot is not None:
            rest = m[3]
            if rest in BLOCK_KEYS:
                out[f'{slot.name}.{rest}'] = value
                continue
            down = _map_downsample(rest, int(m[1]), slot)
            if down is not None:
                out[down] = value
                continue
        unmapped.append(key)
    return out, head, unmapped


def map_supernet_keys(state: Mapping[str, torch.Tensor], space='resnest50',
                      downsample_from: Optional[int] = None
                      ) -> Tuple['OrderedDict[str, torch.Tensor]', List[str]]:
    """Authors' ``SuperResNet`` keys -> :class:`PiNASSuperNet` keys.

    Returns (mapped, unmapped). The per-candidate copies of a shared downsample must be
    equal; if the source did not share it (``downsample_share=False``), pick one
    candidate's copy with ``downsample_from``.
    """
    space = SearchSpace.get(space)
    layout = _layout(space)
    out, unmapped = OrderedDict(), []
    copies: Dict[str, Dict[int, Tuple[str, torch.Tensor]]] = {}
    for key, value in state.items():
        if key in STEM_MAP:
            out[STEM_MAP[key]] = value
            continue
        m = _SUPER.match(key)
        slot = _source_block(layout, m[1], m[2]) if m else None
        if slot is not None and int(m[3]) < layout.num_choices:
            c, rest = int(m[3]), m[4]
            if rest in BLOCK_KEYS:
                out[f'{slot.candidates[c]}.{rest}'] = value
                continue
            down = _map_downsample(rest, int(m[1]), slot)
            if down is not None:
                copies.setdefault(down, {})[c] = (key, value)
                continue
        unmapped.append(key)
    differ = []
    for dst, by_cand in copies.items():
        if downsample_from is not None:
            if downsample_from not in by_cand:
                raise ValueError(f'downsample_from={downsample_from}: no copy of {dst} '
                                 f'under candidate {downsample_from} (have '
                                 f'{sorted(by_cand)}).')
            out[dst] = by_cand[downsample_from][1]
            continue
        (first_key, first), *others = [by_cand[c] for c in sorted(by_cand)]
        for key, value in others:
            if value.shape != first.shape or not torch.equal(value, first):
                differ.append(f'{key} != {first_key}')
        out[dst] = first
    if differ:
        raise ValueError('The supernet checkpoint has different downsample weights per '
                         'candidate (trained with downsample_share=False?), but '
                         'PiNASSuperNet shares one downsample per stage: '
                         f'{_show(differ, 6)}. Choose one copy with downsample_from= / '
                         '--downsample-from C.')
    return out, unmapped


# ---- whole-checkpoint conversions ----------------------------------------------------
def select_backbone(state: Mapping[str, torch.Tensor], src_prefix: Optional[str] = None,
                    encoder: str = 'q'
                    ) -> Tuple[str, 'OrderedDict[str, torch.Tensor]', Dict[str, int]]:
    """Pick the backbone part of a (whole-model) state dict.

    ``src_prefix`` None: the student/query encoder (``encoder='q'``: ``encoder_q.0.``,
    then ``backbone.``, ``pretrained.``, or a bare backbone) or the teacher/key encoder
    (``encoder='k'``: ``encoder_k.0.``). Keys outside the chosen prefix must belong to a
    known other part (:data:`OTHER_PARTS`), else ValueError; with an explicit
    ``src_prefix`` everything outside it is dropped. Returns (prefix, backbone state,
    {dropped part: number of keys}).
    """
    if encoder not in ('q', 'k'):
        raise ValueError(f"encoder must be 'q' (query / student) or 'k' (key / teacher), "
                         f'got {encoder!r}.')
    explicit = src_prefix is not None
    if explicit:
        prefix = src_prefix
        if not any(k.startswith(prefix) for k in state):
            raise ValueError(f'No key starts with {prefix!r} (first keys: '
                             f'{_show(list(state), 5)}).')
    else:
        tried = STUDENT_PREFIXES if encoder == 'q' else TEACHER_PREFIXES
        found = [p for p in tried if f'{p}conv1.0.weight' in state]
        if not found:
            raise ValueError(
                f'No {"query/student" if encoder == "q" else "key/teacher"} backbone found: '
                f'none of {[p + "conv1.0.weight" for p in tried]} is a key (first keys: '
                f'{_show(list(state), 5)}). Pass src_prefix= / --src-prefix.')
        prefix = found[0]
    backbone, dropped, unknown = OrderedDict(), {}, []
    for key, value in state.items():
        if key.startswith(prefix):
            backbone[key[len(prefix):]] = value
            continue
        part = next((p for p in OTHER_PARTS if key == p or (p.endswith('.')
                                                             and key.startswith(p))), None)
        if part is None and explicit:
            part = key.split('.', 1)[0] + ('.' if '.' in key else '')
        if part is None:
            unknown.append(key)
        else:
            dropped[part] = dropped.get(part, 0) + 1
    if unknown:
        raise ValueError(f'Unknown keys outside the backbone {prefix!r}: {_show(unknown)}. '
                         'They belong to no known part of a Pi-NAS / OpenSelfSup / timm '
                         'checkpoint; pass src_prefix= / --src-prefix to take only the '
                         'keys under one prefix.')
    return prefix, backbone, dropped


def _finish(mapped, head, space, arch, out_prefix, drop_head, verify, meta):
    meta['filled_num_batches_tracked'] = _fill_num_batches_tracked(mapped)
    if verify:
        _verify(mapped, space, arch)
    out = OrderedDict((out_prefix + k, v) for k, v in mapped.items())
    if head:
        if out_prefix and not drop_head:
            out.update(head)
            meta['head'] = sorted(head)
        else:
            meta['dropped']['fc.'] = len(head)
    meta['num_keys'] = len(out)
    return out, meta


def convert_timm_resnest(state: Mapping[str, torch.Tensor], space='resnest50',
                         arch: ArchLike = 'resnest50', out_prefix: str = '',
                         drop_head: bool = False, verify: bool = True
                         ) -> Tuple['OrderedDict[str, torch.Tensor]', dict]:
    """timm ``resnest50d`` state dict -> ``PiNASResNeSt(arch='resnest50')`` keys.

    ``out_prefix=''``: backbone keys only, ``fc`` dropped (reported in meta).
    ``out_prefix='backbone.'``: an mmpretrain ``ImageClassifier`` checkpoint (backbone +
    ``head.fc.*`` of a ``LinearClsHead``) unless ``drop_head``. The arch is checked
    against the shapes (timm's ResNeSt-50 is candidate 1 everywhere).
    Returns (state, meta) with meta of plain types.
    """
    space = SearchSpace.get(space)
    arch = space.arch(arch)
    state = strip_module_prefix(state)
    mapped, head, unmapped = map_subnet_keys(state, space)
    if unmapped:
        raise ValueError(f'Unmapped keys in the timm ResNeSt state dict: {_show(unmapped)}.'
                         ' Expected timm resnest50d keys (conv1.*, bn1.*, layer*, fc.*).')
    inferred = infer_subnet_arch(state, space)
    if inferred != arch:
        raise ValueError(f'The timm checkpoint holds arch {inferred} in space {space.name}, '
                         f'not {arch}.')
    meta = dict(source_format='timm resnest', space=space.name, arch=str(arch),
                kind='subnet', dropped={})
    return _finish(mapped, head, space, arch, out_prefix, drop_head, verify, meta)


def convert_pinas_authors(state: Mapping[str, torch.Tensor], kind: str = 'auto',
                          arch: Optional[ArchLike] = None, space=None, encoder: str = 'q',
                          src_prefix: Optional[str] = None, out_prefix: str = '',
                          drop_head: bool = False,
                          downsample_from: Optional[int] = None, verify: bool = True
                          ) -> Tuple['OrderedDict[str, torch.Tensor]', dict]:
    """The Pi-NAS authors' checkpoints -> pinas_mm keys.

    ``kind``: ``'supernet'`` (OpenSelfSup ``SuperResNet``, -> :class:`PiNASSuperNet`),
    ``'subnet'`` (PyTorch-Encoding ``alone_resnest50``, -> :class:`PiNASResNeSt`) or
    ``'auto'`` (supernet when keys ``layer{s}.{b}.{c}.*`` exist). ``arch`` (subnets):
    inferred from the shapes when None, checked against them otherwise. ``space``:
    inferred from the stem width and stage layout when None. ``encoder``/``src_prefix``:
    see :func:`select_backbone`. ``out_prefix``/``drop_head``: as in
    :func:`convert_timm_resnest` (only subnets carry ``fc``).
    """
    state = strip_module_prefix(state)
    prefix, backbone, dropped = select_backbone(state, src_prefix, encoder)
    is_super = any(_SUPER.match(k) for k in backbone)
    if kind == 'auto':
        kind = 'supernet' if is_super else 'subnet'
    if kind not in ('supernet', 'subnet'):
        raise ValueError(f"kind must be 'auto', 'supernet' or 'subnet', got {kind!r}.")
    if kind == 'supernet' and arch is not None:
        raise ValueError('arch= is for subnet checkpoints; a supernet holds every arch '
                         '(use tools/export_subnet.py on the converted supernet).')
    if space is None:
        # the supernet's layer{s}.{b}.{c}.* keys also match the subnet pattern layer{s}.{b}
        space = infer_space(backbone)
    space = SearchSpace.get(space)
    meta = dict(source_format=f'Pi-NAS authors {kind}', space=space.name, kind=kind,
                source_prefix=prefix, encoder=encoder, dropped=dict(dropped))
    if kind == 'supernet':
        mapped, unmapped = map_supernet_keys(backbone, space, downsample_from)
        head = {}
        target_arch = None
    else:
        mapped, head, unmapped = map_subnet_keys(backbone, space)
    if unmapped:
        hint = (' (the keys look like a supernet: pass kind=auto/supernet)'
                if kind == 'subnet' and is_super else '')
        raise ValueError(f'Unmapped keys in the {kind} checkpoint (prefix {prefix!r}): '
                         f'{_show([prefix + k for k in unmapped])}{hint}.')
    if kind == 'subnet':
        inferred = infer_subnet_arch(backbone, space)
        if arch is not None and space.arch(arch) != inferred:
            raise ValueError(f'arch {space.arch(arch)} does not fit the checkpoint, whose '
                             f'shapes say {inferred} (space {space.name}).')
        target_arch = inferred
        meta['arch'] = str(inferred)
    return _finish(mapped, head, space, target_arch, out_prefix, drop_head, verify, meta)


def save_converted(state: Mapping[str, torch.Tensor], meta: dict, dst: str,
                   src: Optional[str] = None) -> None:
    """Write ``{'state_dict': ..., 'meta': ...}`` (meta of plain types)."""
    meta = dict(meta)
    if src is not None:
        meta['source'] = osp.abspath(src)
    meta['converter'] = 'pinas_mm.models.converters'
    d = osp.dirname(osp.abspath(dst))
    if d:
        import os
        os.makedirs(d, exist_ok=True)
    torch.save({'state_dict': OrderedDict(state), 'meta': meta}, dst)


# ---- the command-line converters -----------------------------------------------------
def converter_cli(argv: Optional[Sequence[str]], doc: str, src_help: str,
                  add_arguments: Callable[['argparse.ArgumentParser'], None],
                  convert: Callable[..., Tuple['OrderedDict[str, torch.Tensor]', dict]],
                  summary: Callable[[dict], str], prefix_help: str, drop_head_help: str,
                  verify_help: str) -> dict:
    """The shape both converter CLIs share (``pinas_mm.cli.timm_resnest_to_pinas``,
    ``pinas_mm.cli.pinas_authors_to_pinas``).

    Arguments ``SRC DST``, the converter's own (``add_arguments``), ``--prefix``,
    ``--drop-head`` and ``--no-verify``. Reads SRC (:func:`load_state_dict_file`), calls
    ``convert(state, args, out_prefix=, drop_head=, verify=)``, writes DST
    (:func:`save_converted`) and prints ``DST: <summary(meta)>``. A ``ValueError`` /
    ``FileNotFoundError`` exits with ``error: <message>`` and writes nothing. Returns
    the meta.
    """
    import argparse
    parser = argparse.ArgumentParser(description=doc.split('\n')[0])
    parser.add_argument('src', help=src_help)
    parser.add_argument('dst', help='output checkpoint (.pth)')
    add_arguments(parser)
    parser.add_argument('--prefix', default='', help=prefix_help)
    parser.add_argument('--drop-head', action='store_true', help=drop_head_help)
    parser.add_argument('--no-verify', action='store_true', help=verify_help)
    args = parser.parse_args(argv)
    try:
        state = load_state_dict_file(args.src)
        out, meta = convert(state, args, out_prefix=args.prefix, drop_head=args.drop_head,
                            verify=not args.no_verify)
    except (ValueError, FileNotFoundError) as e:
        raise SystemExit(f'error: {e}') from None
    save_converted(out, meta, args.dst, src=args.src)
    print(f'{args.dst}: {summary(meta)}')
    return meta
