"""The architecture value type: one candidate index per searchable block.

An :class:`Arch` is an immutable tuple of choice indices (``num_blocks`` of them, each in
``0..num_choices-1``) in the space's block order. It parses the forms users write (a digit
string, space/comma separated indices, a list, a named arch, or a YAML/JSON arch file)
and formats back to the compact digit string. A space with its own names or text form
(e.g. NAS-Bench-201's ``|nor_conv_3x3~0|+|...|``) passes an :class:`ArchFormat`; the
default format is the ResNeSt space's (16 blocks x 4 candidates, its named archs).
"""
import json
import os.path as osp
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Optional, Sequence, Tuple, Union

NUM_BLOCKS = 16
NUM_CHOICES = 4

#: Published architectures (block choices in stage order), see PAPERS.md.
NAMED_ARCHS = {
    'pinas-cls': '3013231203213032',
    'pinas-trans': '3333113330011021',
    'resnest50': '1' * NUM_BLOCKS,
}

VALID_FORMS = (
    "a string of {n} digits in 0..{c} (e.g. '{ex}'), {n} indices separated by "
    "spaces or commas, a list/tuple of {n} ints, a named arch ({names}), or a path to a "
    ".yaml/.yml/.json arch file holding one of these under the key 'arch'")

ArchLike = Union['Arch', str, Sequence[int]]


@dataclass(frozen=True)
class ArchFormat:
    """How a space names and writes its archs, beyond digits and lists.

    Args:
        named: name (lower case) -> digit string.
        parse_text: ``text -> indices or None``: the space's own text form (tried first
            on every string; None means "not this form"); it raises ``ValueError`` for
            a malformed string of its form.
        forms: extra valid forms for error messages (e.g. the text form, with an example).
        example: a valid digit string for error messages.
    """
    named: Mapping[str, str] = field(default_factory=lambda: NAMED_ARCHS)
    parse_text: Optional[Callable[[str], Optional[Tuple[int, ...]]]] = None
    forms: str = ''
    example: str = '3013231203213032'

    def describe(self, num_blocks: int, num_choices: int) -> str:
        text = VALID_FORMS.format(n=num_blocks, c=num_choices - 1, ex=self.example,
                                  names=', '.join(sorted(self.named)) or 'none')
        return text + (f', or {self.forms}' if self.forms else '')


#: The ResNeSt space's format (the default everywhere).
DEFAULT_FORMAT = ArchFormat()


def _forms(num_blocks: int, num_choices: int, fmt: Optional[ArchFormat] = None) -> str:
    return (fmt or DEFAULT_FORMAT).describe(num_blocks, num_choices)


class Arch(tuple):
    """``num_blocks`` (default 16) candidate indices in ``0..num_choices-1`` (default 4);
    hashable, comparable, immutable. ``fmt`` only shapes the error message."""

    def __new__(cls, choices: Iterable[int], num_blocks: int = NUM_BLOCKS,
                num_choices: int = NUM_CHOICES, fmt: Optional[ArchFormat] = None):
        given = choices if isinstance(choices, (list, tuple)) else None
        choices = tuple(choices)
        bad = None
        if len(choices) != num_blocks:
            bad = f'it has {len(choices)} indices, not {num_blocks}'
        else:
            for i, c in enumerate(choices):
                if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < num_choices:
                    bad = f'index {c!r} at block {i} is not an int in 0..{num_choices - 1}'
                    break
        if bad:
            raise ValueError(f'Invalid arch {given if given is not None else choices!r}: '
                             f'{bad}. Valid forms: '
                             f'{_forms(num_blocks, num_choices, fmt)}.')
        return super().__new__(cls, choices)

    @classmethod
    def parse(cls, value: ArchLike, num_blocks: int = NUM_BLOCKS,
              num_choices: int = NUM_CHOICES, fmt: Optional[ArchFormat] = None) -> 'Arch':
        """Parse any accepted form; raises ``ValueError`` naming the value and the forms.

        ``fmt``: the space's named archs and text form (default: the ResNeSt space's)."""
        fmt = fmt or DEFAULT_FORMAT
        if isinstance(value, Arch):
            return cls(value, num_blocks, num_choices, fmt)
        forms = _forms(num_blocks, num_choices, fmt)
        if isinstance(value, str):
            text = value.strip()
            if text.lower() in fmt.named:
                return cls.parse(fmt.named[text.lower()], num_blocks, num_choices, fmt)
            if text.lower().endswith(('.yaml', '.yml', '.json')):
                return cls.from_file(text, num_blocks, num_choices, fmt)
            if fmt.parse_text is not None:
                choices = fmt.parse_text(text)
                if choices is not None:
                    return cls(tuple(choices), num_blocks, num_choices, fmt)
            tokens = text.replace(',', ' ').split()
            if len(tokens) == 1:
                tokens = list(tokens[0])
            if not tokens or not all(t.isdigit() for t in tokens):
                raise ValueError(f'Invalid arch {value!r}: not a named arch, an arch file, '
                                 f'or a list of digits. Valid forms: {forms}.')
            return cls(tuple(int(t) for t in tokens), num_blocks, num_choices, fmt)
        if isinstance(value, (list, tuple)):
            return cls(value, num_blocks, num_choices, fmt)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value:
            # ``--cfg-options model.backbone.arch=0123...`` arrives as an int: mmengine
            # parses digit strings as numbers, dropping leading zeros.
            digits = str(value)
            if len(digits) <= num_blocks:
                return cls.parse(digits.zfill(num_blocks), num_blocks, num_choices, fmt)
        raise ValueError(f'Invalid arch {value!r} of type {type(value).__name__}. '
                         f'Valid forms: {forms}.')

    @classmethod
    def from_file(cls, path: str, num_blocks: int = NUM_BLOCKS,
                  num_choices: int = NUM_CHOICES, fmt: Optional[ArchFormat] = None) -> 'Arch':
        if not osp.isfile(path):
            raise ValueError(f'Invalid arch {path!r}: arch file not found. Valid forms: '
                             f'{_forms(num_blocks, num_choices, fmt)}.')
        try:
            with open(path) as f:
                if path.lower().endswith('.json'):
                    data = json.load(f)
                else:
                    import yaml
                    data = yaml.safe_load(f)
        except Exception as e:  # noqa: BLE001 - re-raised with the path named
            raise ValueError(f'Invalid arch file {path!r}: cannot be read ({e}).') from e
        if isinstance(data, dict):
            if 'arch' not in data:
                raise ValueError(f'Invalid arch file {path!r}: no key "arch" (keys: '
                                 f'{sorted(data)}).')
            data = data['arch']
        if isinstance(data, str) and data.lower().endswith(('.yaml', '.yml', '.json')):
            raise ValueError(f'Invalid arch file {path!r}: it points to another arch file.')
        try:
            return cls.parse(data, num_blocks, num_choices, fmt)
        except ValueError as e:
            raise ValueError(f'Invalid arch file {path!r}: {e}') from None

    def dump(self, path: str, **meta) -> None:
        """Write ``{'arch': '3013...', **meta}`` as YAML or JSON (by extension)."""
        data = dict(arch=str(self), **meta)
        with open(path, 'w') as f:
            if path.lower().endswith('.json'):
                json.dump(data, f, indent=2)
            else:
                import yaml
                yaml.safe_dump(data, f, sort_keys=False)

    def __reduce__(self):
        # copy / deepcopy / pickle of an arch of any size (already validated)
        return _rebuild_arch, (tuple(self), )

    def __str__(self) -> str:
        return ''.join(str(c) for c in self)

    def __repr__(self) -> str:
        return f"Arch('{self}')"

    @property
    def spaced(self) -> str:
        return ' '.join(str(c) for c in self)


def _rebuild_arch(choices: Tuple[int, ...]) -> Arch:
    return tuple.__new__(Arch, choices)
