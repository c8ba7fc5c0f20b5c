"""``{{a,b,c}}`` expansion of argument lists (``jobman sqlschedules`` parameters and the
``jobdispatch`` command line).

Each ``{{...}}`` segment is split on ``,`` (empty items allowed: ``{{}}`` is one empty value).
Several segments in one argument expand as a product within the argument; arguments expand as
a cartesian product, the first argument varying slowest, order preserved. Jobman allowed only one
segment per argument and broke on two.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence

from ..errors import ParamError

OPEN = "{{"
CLOSE = "}}"
_ACCEPTED = "expected {{a,b,...}} with matching '{{' and '}}', not nested"


def split_segments(arg: str) -> list[str | list[str]]:
    """``'a={{1,2}}_{{x}}'`` → ``['a=', ['1', '2'], '_', ['x']]``: literal text and choice lists.

    A ``}}`` that closes ordinary braces (``x={'a': {'b': 1}}``) is literal text; a ``}}`` with no
    brace open, a ``{{`` never closed, or a ``{{`` inside a segment is a :class:`ParamError`."""
    parts: list[str | list[str]] = []
    text: list[str] = []
    depth = 0  # ordinary (single) braces open outside segments
    i, n = 0, len(arg)
    while i < n:
        if arg.startswith(OPEN, i):
            end = arg.find(CLOSE, i + 2)
            inner_open = arg.find(OPEN, i + 2)
            if end < 0:
                raise ParamError(f"unbalanced '{OPEN}' in {arg!r}: {_ACCEPTED}")
            if 0 <= inner_open < end:
                raise ParamError(f"nested '{OPEN}' in {arg!r}: {_ACCEPTED}")
            if text:
                parts.append("".join(text))
                text = []
            parts.append(arg[i + 2:end].split(","))
            i = end + 2
            continue
        c = arg[i]
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0 and arg.startswith(CLOSE, i):
                raise ParamError(f"unbalanced '{CLOSE}' in {arg!r}: {_ACCEPTED}")
            depth = max(0, depth - 1)
        text.append(c)
        i += 1
    if text:
        parts.append("".join(text))
    return parts


def expand_arg(arg: str) -> tuple[list[str], bool]:
    """All the strings one argument expands to, and whether it had any ``{{...}}`` segment."""
    parts = split_segments(arg)
    if not any(isinstance(p, list) for p in parts):
        return [arg], False
    choices = [p if isinstance(p, list) else [p] for p in parts]
    return ["".join(combo) for combo in itertools.product(*choices)], True


def expand_braces(args: Sequence[str]) -> list[tuple[list[str], list[str]]]:
    """Expand ``{{...}}`` in ``args``: one ``(expanded args, varying args)`` pair per combination.

    ``['f.conf', 'a={{1,2}}', 'b={{x,y}}']`` → ``(['f.conf', 'a=1', 'b=x'], ['a=1', 'b=x'])``,
    ``(['f.conf', 'a=1', 'b=y'], ['a=1', 'b=y'])``, ... (first argument varying slowest). The
    varying args are the expanded forms of the arguments that held a segment (for display and
    log names)."""
    expanded = [expand_arg(a) for a in args]
    varying_idx = [i for i, (_, has) in enumerate(expanded) if has]
    out: list[tuple[list[str], list[str]]] = []
    for combo in itertools.product(*(alts for alts, _ in expanded)):
        values = list(combo)
        out.append((values, [values[i] for i in varying_idx]))
    return out


def count_combinations(args: Sequence[str]) -> int:
    """How many combinations :func:`expand_braces` would return, without building them."""
    total = 1
    for a in args:
        total *= len(expand_arg(a)[0])
    return total
