"""Convert a timm ``resnest50d`` checkpoint to ``PiNASResNeSt(arch='resnest50')`` keys.

    python tools/model_converters/timm_resnest_to_pinas.py SRC DST [--prefix backbone.]

SRC: a ``.pth``/``.bin`` (raw state dict or a dict holding 'state_dict'/'model'; 'module.'
prefixes are stripped) or a ``.safetensors`` file. DST: ``{'state_dict', 'meta'}``.
Without ``--prefix`` DST holds backbone keys only (timm's ``fc`` is dropped): load it with
``init_cfg=dict(type='Pretrained', checkpoint=DST)``. With ``--prefix backbone.`` DST is
an mmpretrain ``ImageClassifier`` checkpoint (GlobalAveragePooling + LinearClsHead, 1000
classes): backbone keys under ``backbone.`` and timm's ``fc`` as ``head.fc.*``
(``--drop-head`` leaves the head out). Mapping: see ``pinas_mm/models/converters.py``.
"""


def main(argv=None):
    from pinas_mm.models.converters import convert_timm_resnest, converter_cli
    converter_cli(
        argv, __doc__, 'timm resnest50d checkpoint', lambda parser: None,
        lambda state, args, **common: convert_timm_resnest(state, **common),
        lambda meta: (f'{meta["num_keys"]} keys, arch {meta["arch"]}, dropped '
                      f'{meta["dropped"] or "nothing"}'),
        prefix_help="prefix of the backbone keys, e.g. 'backbone.' for a full mmpretrain "
                    'classifier checkpoint (fc -> head.fc.*)',
        drop_head_help='leave the classifier out even with --prefix',
        verify_help='skip building PiNASResNeSt to check keys and shapes')
