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
import argparse


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='timm resnest50d checkpoint')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    parser.add_argument('--prefix', default='',
                        help="prefix of the backbone keys, e.g. 'backbone.' for a full "
                             'mmpretrain classifier checkpoint (fc -> head.fc.*)')
    parser.add_argument('--drop-head', action='store_true',
                        help='leave the classifier out even with --prefix')
    parser.add_argument('--no-verify', action='store_true',
                        help='skip building PiNASResNeSt to check keys and shapes')
    args = parser.parse_args(argv)
    from pinas_mm.models.converters import (convert_timm_resnest, load_state_dict_file,
                                            save_converted)
    try:
        state = load_state_dict_file(args.src)
        out, meta = convert_timm_resnest(state, out_prefix=args.prefix, drop_head=args.drop_head,
                                         verify=not args.no_verify)
    except (ValueError, FileNotFoundError) as e:
        raise SystemExit(f'error: {e}') from None
    save_converted(out, meta, args.dst, src=args.src)
    print(f'{args.dst}: {meta["num_keys"]} keys, arch {meta["arch"]}, dropped '
          f'{meta["dropped"] or "nothing"}')
