"""Convert the Pi-NAS authors' checkpoints (github.com/Ernie1/Pi-NAS) to pinas_mm keys.

    python tools/model_converters/pinas_authors_to_pinas.py SRC DST [--kind auto]
        [--arch ARCH] [--space NAME] [--encoder q|k] [--src-prefix P] [--prefix backbone.]

* Supernet (OpenSelfSup ``SuperResNet``: a PiNAS/MoCo training checkpoint with
  ``encoder_q.0.`` / ``encoder_k.0.`` / ``backbone.``, or the output of their
  ``extract_backbone_weights.py``) -> ``PiNASSuperNet`` keys. The query encoder (student)
  is taken by default; ``--encoder k`` takes the key encoder (teacher).
* Subnet (PyTorch-Encoding ``alone_resnest50``, e.g. ``PiNAS_cls.pth.tar``, or a
  segmentation checkpoint's ``pretrained.*``) -> ``PiNASResNeSt`` keys. The arch is read
  from the shapes; ``--arch`` is checked against them.
Unmapped keys are an error naming them; neck / teacher / queue / heads are dropped and
listed. ``--prefix backbone.`` writes backbone keys under that prefix (a subnet's ``fc``
then becomes ``head.fc.*``). Mapping and evidence: ``pinas_mm/models/converters.py``.
"""


def _add_arguments(parser):
    parser.add_argument('--kind', choices=('auto', 'supernet', 'subnet'), default='auto')
    parser.add_argument('--arch', default=None,
                        help='subnet arch in any form (digits, name, arch file); default: '
                             'inferred from the shapes')
    parser.add_argument('--space', default=None,
                        help='search space preset (default: inferred from the shapes)')
    parser.add_argument('--encoder', choices=('q', 'k'), default='q',
                        help='q: query encoder / student (default); k: key encoder / teacher')
    parser.add_argument('--src-prefix', default=None,
                        help="take only the keys under this prefix (e.g. 'pretrained.'); "
                             'everything else is dropped')
    parser.add_argument('--downsample-from', type=int, default=None, metavar='C',
                        help="supernet trained with downsample_share=False: take candidate "
                             "C's downsample")


def _convert(state, args, **common):
    from pinas_mm.models.converters import convert_pinas_authors
    return convert_pinas_authors(
        state, kind=args.kind, arch=args.arch, space=args.space, encoder=args.encoder,
        src_prefix=args.src_prefix, downsample_from=args.downsample_from, **common)


def _summary(meta):
    return (f'{meta["kind"]} of space {meta["space"]}'
            + (f', arch {meta["arch"]}' if 'arch' in meta else '')
            + f', {meta["num_keys"]} keys from {meta["source_prefix"] or "(no prefix)"}, '
            f'dropped {meta["dropped"] or "nothing"}')


def main(argv=None):
    from pinas_mm.models.converters import converter_cli
    converter_cli(argv, __doc__, "the authors' checkpoint", _add_arguments, _convert,
                  _summary,
                  prefix_help="prefix of the output backbone keys, e.g. 'backbone.'",
                  drop_head_help="leave a subnet's fc out even with --prefix",
                  verify_help='skip building the target model to check keys and shapes')
