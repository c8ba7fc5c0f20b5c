"""Jobman's parameter syntax, on the command line and in ``.conf`` files.

    key=value              a plain value, typed as a Python literal without running code
                           (int, float, bool, None, str, list, tuple, dict; inf/nan), else the raw string
    key:=expression        Python evaluated at parse time (= schedule time); ``@a.b.c`` imports a.b.c:
                           ``lr:=@numpy.random.uniform(1e-6, 1e-1)`` stores the drawn number
    key::builder           ``key.__builder__ = 'builder'``
    prefix <- file.conf    the keys of file.conf (or of a nested ``y <- f.conf``), prefixed ``prefix.``
    file.conf              any other argument is a conf file: one of the above per line,
                           ``#`` comments (not inside quotes), blank lines skipped

Files and includes are merged left to right, depth first: the last assignment wins. Relative paths
inside a file resolve against that file's directory. Keys cannot contain ``:`` or ``=``.

Parsing is split in two: :meth:`ParamParser.compile` turns arguments into a list of assignments
(files read once and cached), :meth:`ParamParser.evaluate` builds one flat dict from them, running
``:=`` expressions again each time, so that every job of a sweep gets its own draw.
"""
from __future__ import annotations

import ast
import copy
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ExperimentError, ParamError
from ..shipped import shipped_conf
from .resolve import resolve

ACCEPTED = "expected key=value, key:=expression, key::builder, prefix <- file.conf or a conf file path"
_SPLIT_RE = re.compile(r"([^:=]*)(:=|=|::)(.*)\Z", re.S)
_AT_NAME_RE = re.compile(r"@([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)")
_FLOAT_NAMES = {"inf": math.inf, "nan": math.nan}
_PLAIN_SCALARS = (int, float, bool, str, type(None))


@dataclass(frozen=True)
class Assignment:
    """One parsed ``key op value``; ``origin`` says where it came from, for messages."""

    key: str
    op: str  # '=', ':=' or '::'
    raw: str
    value: Any  # the typed value for '='; (code, globals) for ':='; the builder name for '::'
    origin: str
    mutable: bool = False  # a list or dict value, copied for every job

    def prefixed(self, prefix: str) -> Assignment:
        return Assignment(prefix + self.key, self.op, self.raw, self.value, self.origin, self.mutable)


Plan = list  # of dict[str, Any] (constant values) and Assignment (':=' or a list/dict to copy)


# -- value typing ----------------------------------------------------------------------------------
class _FloatNames(ast.NodeTransformer):
    def visit_Name(self, node: ast.Name) -> ast.AST:  # noqa: N802 - ast API
        if node.id in _FLOAT_NAMES:
            return ast.copy_location(ast.Constant(_FLOAT_NAMES[node.id]), node)
        return node


def _is_plain(v: Any) -> bool:
    if isinstance(v, _PLAIN_SCALARS):
        return True
    if isinstance(v, (list, tuple)):
        return all(_is_plain(x) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, _PLAIN_SCALARS) and _is_plain(x) for k, x in v.items())
    return False


def convert(text: str) -> Any:
    """Type a plain value as a Python literal, without executing anything.

    ``'1'`` → 1, ``'1e-3'`` → 0.001, ``'True'`` → True, ``'None'`` → None, ``'[1, 2]'`` → [1, 2],
    ``'1,2'`` → (1, 2), ``"'x'"`` → 'x', ``'inf'``/``'-inf'``/``'nan'`` → floats; anything else
    (``hello``, ``a.b``, ``2+3``) stays the raw string. Sets, bytes and complex numbers stay strings
    too: they cannot be stored as they are."""
    s = text.strip()
    if not s:
        return text
    try:
        tree = _FloatNames().visit(ast.parse(s, mode="eval"))
        value = ast.literal_eval(tree.body)
    except Exception:  # noqa: BLE001 - SyntaxError, ValueError, RecursionError...: not a literal
        return text
    return value if _is_plain(value) else text


_OPENERS = "[({"


def _check_not_broken(key: str, raw: str, value: Any, origin: str) -> None:
    """A value that opens a list, tuple or dict but is not valid Python (``[1,2``) would be stored
    as that string, and every job of the sweep would get it: refuse it, naming the key."""
    text = raw.strip()
    if value is not raw or not text or text[0] not in _OPENERS:
        return
    try:
        ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise ParamError(f"malformed value for key {key!r} ({origin}): {raw!r} opens a list, tuple or dict but "
                         f"is not valid Python ({e.msg}); write a literal such as [1, 2], or quote it to store "
                         f"the string: {key}=\"{raw}\"") from None


def _storable(value: Any) -> Any:
    """NumPy scalars and arrays (what ``@numpy.random...`` returns) become plain Python values."""
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    return value


# -- tokens ------------------------------------------------------------------------------------------
def split_assignment(token: str, origin: str | None = None) -> tuple[str, str, str]:
    """``'a.b = 1'`` → ``('a.b', '=', '1')``; ``ParamError`` if ``token`` is not ``key op value``."""
    where = f" ({origin})" if origin else ""
    m = _SPLIT_RE.match(token)
    if not m:
        raise ParamError(f"malformed parameter {token!r}{where}: keys cannot contain ':' or '='; {ACCEPTED}")
    key, op, value = m.group(1).strip(), m.group(2), m.group(3).strip()
    if not key:
        raise ParamError(f"malformed parameter {token!r}{where}: empty key; {ACCEPTED}")
    return key, op, value


def is_assignment(token: str) -> bool:
    return "=" in token or "::" in token


def _include_split(token: str) -> tuple[str, str] | None:
    """``'x <- f.conf'`` → ``('x', 'f.conf')``; None if ``token`` is not an include. A ``<-`` after
    an ``=`` or ``:`` belongs to a value (``a=x<-y``)."""
    head, sep, rest = token.partition("<-")
    if not sep or "=" in head or ":" in head:
        return None
    return head.strip(), rest.strip()


def strip_comment(line: str) -> str:
    """Remove a ``#`` comment, keeping a ``#`` inside quotes (``c = "x#y"``)."""
    quote = ""
    i = 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "#":
            return line[:i]
        i += 1
    return line


# -- the parser ------------------------------------------------------------------------------------
class ParamParser:
    """Parses argument lists; one instance caches files and expressions across the jobs of a sweep."""

    def __init__(self, cwd: str | None = None) -> None:
        self.cwd = os.path.abspath(cwd or os.getcwd())
        self._files: dict[str, list[Assignment]] = {}
        self._args: dict[str, list[Assignment]] = {}
        self._names: dict[str, Any] = {}

    # compile: syntax, files, types; no expression runs here
    def compile(self, args: Iterable[str]) -> list[Assignment]:
        out: list[Assignment] = []
        for arg in args:
            compiled = self._args.get(arg)
            if compiled is None:
                compiled = self._compile_token(arg, self.cwd, (), "command line")
                self._args[arg] = compiled
            out.extend(compiled)
        return out

    def _compile_token(self, token: str, base: str, stack: tuple[str, ...], origin: str) -> list[Assignment]:
        token = token.strip()
        inc = _include_split(token)
        if inc is not None:
            prefix, rest = inc
            if not prefix or any(c.isspace() for c in prefix):
                raise ParamError(f"malformed include {token!r} ({origin}): expected prefix <- file.conf "
                                 f"with a key as prefix")
            if not rest:
                raise ParamError(f"malformed include {token!r} ({origin}): nothing after '<-'; "
                                 f"expected prefix <- file.conf")
            return [a.prefixed(prefix + ".") for a in self._compile_token(rest, base, stack, origin)]
        if is_assignment(token):
            return [self._assignment(token, origin)]
        if not token:
            raise ParamError(f"empty parameter ({origin}): {ACCEPTED}")
        return self._compile_file(token, base, stack, origin)

    def _assignment(self, token: str, origin: str) -> Assignment:
        key, op, raw = split_assignment(token, origin)
        if op == "=":
            value = convert(raw)
            _check_not_broken(key, raw, value, origin)
            return Assignment(key, op, raw, value, origin, isinstance(value, (list, dict)))
        if op == "::":
            return Assignment(key + ".__builder__", op, raw, raw, origin)
        names: dict[str, str] = {}

        def sub(m: re.Match[str]) -> str:
            var = f"__at{len(names)}"
            names[var] = m.group(1)
            return var

        source = _AT_NAME_RE.sub(sub, raw)
        try:
            code = compile(source, "<parameter>", "eval")
        except SyntaxError as e:
            raise ParamError(f"cannot evaluate {token!r} ({origin}): SyntaxError: {e.msg}; "
                             f"':=' takes a Python expression, '@module.name' imports a name") from None
        env: dict[str, Any] = dict(_FLOAT_NAMES)
        for var, name in names.items():  # import now: a typo fails before anything is written
            if name not in self._names:
                try:
                    self._names[name] = resolve(name)
                except ExperimentError as e:
                    raise ParamError(f"cannot evaluate {token!r} ({origin}): {e}") from None
            env[var] = self._names[name]
        return Assignment(key, op, raw, (code, env), origin)

    def _compile_file(self, path: str, base: str, stack: tuple[str, ...], origin: str) -> list[Assignment]:
        full = os.path.realpath(os.path.join(base, os.path.expanduser(path)))
        if full in stack:
            chain = " -> ".join([*stack, full])
            raise ParamError(f"include cycle: {chain} ({origin}): a conf file cannot include itself")
        cached = self._files.get(full)
        if cached is not None:
            return cached
        if not os.path.isfile(full):
            shipped = shipped_conf(path) if not stack else None
            if shipped is None:
                raise ParamError(f"no conf file {path!r} ({origin}; looked for {full}): {ACCEPTED}")
            full = str(shipped)
        try:
            with open(full, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise ParamError(f"cannot read conf file {path!r} ({origin}): {e}") from None
        out: list[Assignment] = []
        here = os.path.dirname(full)
        for lineno, line in enumerate(lines, 1):
            line = strip_comment(line).strip()
            if line:
                out.extend(self._compile_token(line, here, (*stack, full), f"{full}:{lineno}"))
        self._files[full] = out
        return out

    # evaluate: one flat dict; ':=' runs here, once per call
    def evaluate(self, assignments: Sequence[Assignment]) -> dict[str, Any]:
        state: dict[str, Any] = {}
        for a in assignments:
            if a.op == ":=":
                state[a.key] = self._run(a)
            elif a.mutable:
                state[a.key] = copy.deepcopy(a.value)
            else:
                state[a.key] = a.value
        return state

    def _run(self, a: Assignment) -> Any:
        code, env = a.value
        try:
            value = eval(code, dict(env))  # noqa: S307 - ':=' is Jobman's explicit "run this code" syntax
        except Exception as e:  # noqa: BLE001 - reported as one line naming the parameter
            raise ParamError(f"cannot evaluate {a.key + ':=' + a.raw!r} ({a.origin}): {type(e).__name__}: {e} "
                             f"(':=' takes a Python expression, run at schedule time)") from None
        return _storable(value)

    def parse(self, args: Iterable[str]) -> dict[str, Any]:
        """Arguments → one flat dict (``{'a.b': 1, ...}``)."""
        return self.evaluate(self.compile(args))

    # plans: compile() with runs of constant assignments merged into dicts, so that a sweep of
    # 100,000 jobs costs a few dict.update calls per job
    def plan(self, args: Iterable[str]) -> Plan:
        out: Plan = []
        for a in self.compile(args):
            if a.op == ":=" or a.mutable:
                out.append(a)
            elif out and type(out[-1]) is dict:
                out[-1][a.key] = a.value  # type: ignore[index]
            else:
                out.append({a.key: a.value})
        return out

    def evaluate_plans(self, plans: Iterable[Plan]) -> dict[str, Any]:
        """The flat dict of the plans applied in order (same result as :meth:`evaluate`)."""
        state: dict[str, Any] = {}
        for plan in plans:
            for chunk in plan:
                if type(chunk) is dict:
                    state.update(chunk)
                elif chunk.op == ":=":  # type: ignore[union-attr]
                    state[chunk.key] = self._run(chunk)  # type: ignore[union-attr, arg-type]
                else:
                    state[chunk.key] = copy.deepcopy(chunk.value)  # type: ignore[union-attr]
        return state


def parse_params(args: Iterable[str], cwd: str | None = None) -> dict[str, Any]:
    """Parse Jobman parameters (command-line arguments and conf files) into one flat dict."""
    return ParamParser(cwd).parse(args)


def parse_select(token: str) -> tuple[str, Any]:
    """``--select=key=value`` → ``(key, typed value)``, typed like a parameter."""
    key, op, raw = split_assignment(token, "--select")
    if op != "=":
        raise ParamError(f"malformed selection {token!r}: expected key=value")
    return key, convert(raw)
