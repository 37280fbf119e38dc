"""CEL (Common Expression Language) for sgrule's policies: the webhook's ``authorize``, apply's guardrails.

A narrow seam over the library (``common-expression-language``, a compiled implementation; why that one:
``docs/cel.md``)::

    program = compile('block.from == "description"', variables={"payload", "block"})  # or CompileError
    value = evaluate(program, {"payload": {...}, "block": {...}})                       # or EvaluationError
    allowed = is_true(program, activation)   # exactly ``true``; any error or other value is False
    values = evaluate_all([p1, p2], activation)  # one activation for several programs: a value or an error each

Activations are plain JSON-like Python values (dict, list, str, int, float, bool, None); values come back
the same way. :func:`register` adds a custom function (plain Python values in and out; an exception it
raises is a CEL error, absorbed by ``||``/``&&`` as CEL's own errors are). The library loads on the first
:func:`compile`, never on import of this module: a function that never evaluates a policy never pays for it.
"""
from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

MAX_EXPRESSION_CHARS = 4096
MAX_DEPTH = 64  # deeper activation values are absent at that depth (reading them is an error), not a crash
_INT64 = (-(2 ** 63), 2 ** 63 - 1)
# Names CEL's macros bind (``l`` in ``labels.exists(l, ...)``) are not free variables.
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
# What the library knows without registration: functions, macros, and type names usable as values.
_BUILTINS = frozenset({
    "has", "size", "contains", "startsWith", "endsWith", "matches", "string", "bytes", "double", "int", "uint",
    "bool", "dyn", "type", "timestamp", "duration", "getFullYear", "getMonth", "getDayOfYear", "getDayOfMonth",
    "getDate", "getDayOfWeek", "getHours", "getMinutes", "getSeconds", "getMilliseconds"}) | _MACROS
_TYPE_NAMES = frozenset({"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type"})
# size() counts a string's code points (CEL's rule); the library counts UTF-8 bytes, so calls go to ours.
_SIZE = "sgrule_size"

_functions: dict[str, Callable[..., Any]] = {}
_lock = threading.Lock()
_lib: Any = None


class CelError(Exception):
    """A CEL expression that cannot be compiled or evaluated. ``line``/``column`` (1-based) when known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        where = f" (line {line}, column {column})" if line is not None and column is not None else ""
        super().__init__(message + where)
        self.message = message
        self.line = line
        self.column = column


class CompileError(CelError):
    """The expression is not CEL, names an undeclared variable or an unknown function, or is too long."""


class EvaluationError(CelError):
    """Evaluation failed: an absent field, no matching overload, overflow, a custom function's failure."""


@dataclass(frozen=True, eq=False)  # identity: programs are keys of the evaluation plans (_plan)
class Program:
    expression: str
    variables: frozenset[str]
    _runner: Any = field(repr=False, compare=False)
    _functions: dict[str, Callable[..., Any]] = field(repr=False, compare=False, default_factory=dict)


def register(name: str, function: Callable[..., Any]) -> None:
    """Make ``function`` callable from every program compiled after this (``name(args...)``, or as a
    method ``x.name(args...)`` with ``x`` first). Arguments arrive as Python values; return one."""
    with _lock:
        _functions[name] = function


def compile(expression: str, variables: Iterable[str]) -> Program:  # the seam's own verb (shadows the builtin)
    """Parse ``expression``; every free identifier must be one of ``variables``. :class:`CompileError`
    with the position otherwise."""
    if not isinstance(expression, str) or not expression.strip():
        raise CompileError("the expression is empty")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CompileError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    declared = frozenset(variables)
    lib = _library()
    tokens = _tokens(expression)
    try:
        runner = lib.compile(_with_our_size(expression, tokens))
    except (ValueError, RuntimeError) as exc:
        raise _parse_error(str(exc)) from None
    except RecursionError:
        raise CompileError("the expression is nested too deeply") from None
    bound = _bound(tokens)
    free = set(runner.variables()) - bound - _TYPE_NAMES
    for name in sorted(free, key=lambda n: _where(expression, tokens, n)):
        if name not in declared:
            raise CompileError(f"undeclared variable {name!r} (declared: {', '.join(sorted(declared))})",
                               *_where(expression, tokens, name))
    with _lock:
        functions = {name: _wrap(name, fn) for name, fn in _functions.items()}
    functions[_SIZE] = _size
    known = set(functions) | _BUILTINS
    for name in runner.functions():
        if name[:1].isalpha() and name not in known:
            raise CompileError(f"unknown function {name!r}", *_where(expression, tokens, name))
    return Program(expression, declared, runner, functions)


def evaluate(program: Program, activation: Mapping[str, Any]) -> Any:
    """The value of ``program`` for ``activation`` (Python values); :class:`EvaluationError` otherwise."""
    value = evaluate_all([program], activation)[0]
    if isinstance(value, EvaluationError):
        raise value
    return value


def evaluate_all(programs: Sequence[Program], activation: Mapping[str, Any]) -> list[Any]:
    """Each program's value for one ``activation`` (converted once), or its :class:`EvaluationError`."""
    if not programs:
        return []
    lib = _library()
    needs, functions = _plan(tuple(programs))
    values = {}
    for k, v in activation.items():
        if k in needs:
            fields = needs[k]
            if fields is not None and isinstance(v, dict):  # only the fields read: converting costs per value
                v = {f: v[f] for f in fields if f in v}
            try:
                values[k] = _clean(v, 0)
            except _Absent:
                pass  # reading it is an error, as for a value nested in a map
    try:
        context = lib.Context(values, functions)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:  # a value the library cannot take
        return [EvaluationError(f"the activation cannot be evaluated: {_message(exc)}") for _ in programs]
    out: list[Any] = []
    for program in programs:
        missing = program.variables - set(values)
        if missing:
            out.append(EvaluationError(f"no value for {', '.join(sorted(missing))}"))
            continue
        try:
            out.append(program._runner.execute(context))
        except KeyError as exc:
            out.append(EvaluationError(f"no such key: {str(exc)[:200]}"))
        except (RuntimeError, ValueError, TypeError, ArithmeticError, IndexError, AttributeError,
                RecursionError) as exc:
            out.append(EvaluationError(_message(exc)))
    return out


@functools.lru_cache(maxsize=256)
def _plan(programs: tuple[Program, ...]) -> tuple[dict[str, frozenset[str] | None], dict[str, Callable[..., Any]]]:
    """What evaluating ``programs`` together needs: per variable, the top-level fields any of them selects
    (None: one uses the variable whole), and their functions."""
    needs: dict[str, frozenset[str] | None] = {}
    for program in programs:
        for name in program.variables:
            fields = selections(program).get(name, set())
            have = needs.get(name, frozenset())
            needs[name] = None if None in fields or (name in needs and have is None) else \
                frozenset(have or ()) | frozenset(f for f in fields if f is not None)
    return needs, {k: f for p in programs for k, f in p._functions.items()}


def selections(program: Program) -> dict[str, set[str | None]]:
    """Per variable of ``program``, the fields it selects directly (``rule.Policy`` -> ``"Policy"``), with
    None when the variable is also used otherwise (passed whole, indexed, iterated): what a caller needs to
    tell whether a value it lacks could matter."""
    tokens = _tokens(program.expression)
    out: dict[str, set[str | None]] = {}
    for i, (kind, text, _) in enumerate(tokens):
        if kind != "id" or text not in program.variables or (i > 0 and tokens[i - 1][1] == "."):
            continue
        after = [t[1] for t in tokens[i + 1:i + 4]] + ["", "", ""]
        if after[0] == "." and i + 2 < len(tokens) and tokens[i + 2][0] == "id" and after[2] != "(":
            out.setdefault(text, set()).add(after[1])
        else:
            out.setdefault(text, set()).add(None)
    return out


def is_true(program: Program | None, activation: Mapping[str, Any]) -> bool:
    """True only if ``program`` evaluates to exactly ``true``; no program, an error or any other value
    (``1``, ``"true"``, a list) is False -- a policy fails closed."""
    if program is None:
        return False
    try:
        return evaluate(program, activation) is True
    except EvaluationError:
        return False


# ----------------------------------------------------------------------------------------- internals

def _library() -> Any:
    """The library's compiled module. Loaded by itself: the package's ``__init__`` also imports its
    command-line tool (a terminal UI toolkit), which a function has no use for and would pay for on every
    cold start."""
    global _lib
    with _lock:
        if _lib is None:
            import importlib.machinery
            import importlib.util
            import os
            import sys

            if "cel.cel" in sys.modules:
                _lib = sys.modules["cel.cel"]
                return _lib
            spec = importlib.util.find_spec("cel")  # finds the package without running its __init__
            if spec is None or not spec.submodule_search_locations:
                raise CompileError("the CEL library (common-expression-language) is not installed")
            for folder in spec.submodule_search_locations:
                for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                    path = os.path.join(folder, "cel" + suffix)
                    if os.path.exists(path):
                        loader = importlib.machinery.ExtensionFileLoader("cel.cel", path)
                        module_spec = importlib.util.spec_from_file_location("cel.cel", path, loader=loader)
                        assert module_spec is not None
                        module = importlib.util.module_from_spec(module_spec)
                        loader.exec_module(module)
                        sys.modules["cel.cel"] = module  # a later ``import cel`` finds it, never loads it twice
                        _lib = module
                        return _lib
            raise CompileError("the CEL library's compiled module is missing")
        return _lib


# A CEL token: a string literal (any quoting, raw or bytes), an identifier, or any other character.
_TOKEN = re.compile(r"""(?P<str>[rRbB]{0,2}(?:'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\"|'(?:\\.|[^\\'\n])*'|"(?:\\.|[^\\"\n])*"))
                        |(?P<id>[A-Za-z_][A-Za-z0-9_]*)
                        |(?P<other>\S)""", re.VERBOSE | re.DOTALL)


def _tokens(expression: str) -> list[tuple[str, str, int]]:
    """(kind, text, offset) of each token outside comments."""
    out = []
    for m in _TOKEN.finditer(expression):
        kind = m.lastgroup or "other"
        out.append((kind, m.group(), m.start()))
    return out


def _bound(tokens: list[tuple[str, str, int]]) -> set[str]:
    """Names bound by macros: the first argument of ``.all(x, ...)``, ``.map(x, ...)`` ..."""
    bound = set()
    for i in range(len(tokens) - 4):
        (_, dot, _), (k1, name, _), (_, paren, _), (k2, var, _), (_, comma, _) = tokens[i:i + 5]
        if dot == "." and k1 == "id" and name in _MACROS and paren == "(" and k2 == "id" and comma == ",":
            bound.add(var)
    return bound


def _where(expression: str, tokens: list[tuple[str, str, int]], name: str) -> tuple[int, int]:
    """Line and column (1-based) of the first identifier ``name``; ``(1, 1)`` if not found."""
    offset = next((at for kind, text, at in tokens if kind == "id" and text == name), 0)
    line = expression.count("\n", 0, offset) + 1
    return line, offset - (expression.rfind("\n", 0, offset) + 1) + 1


def _with_our_size(expression: str, tokens: list[tuple[str, str, int]]) -> str:
    """``size(`` -> ``sgrule_size(`` on identifiers followed by a parenthesis (calls, not fields)."""
    parts: list[str] = []
    last = 0
    for i, (kind, text, offset) in enumerate(tokens[:-1]):
        if kind == "id" and text == "size" and tokens[i + 1][1] == "(":
            parts.append(expression[last:offset] + _SIZE)
            last = offset + len(text)
    return "".join(parts) + expression[last:] if parts else expression


def _size(value: Any) -> int:
    if isinstance(value, (str, bytes, list, dict)):
        return len(value)
    raise TypeError(f"size() of {type(value).__name__}")


_POSITION = re.compile(r"<input>:(\d+):(\d+):\s*(?:Syntax error:\s*)?(.*)")


def _parse_error(text: str) -> CompileError:
    m = _POSITION.search(text)
    if not m:
        return CompileError(f"not a CEL expression: {text.splitlines()[0][:200] if text else 'syntax error'}")
    # The library points at the token it could not take (past the end: the column after the last character).
    what = m.group(3).split(" expecting ", 1)[0].splitlines()[0]
    return CompileError(f"not a CEL expression: {what[:200]}", int(m.group(1)), int(m.group(2)))


def _wrap(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        try:
            return _clean(function(*args), 0)
        except Exception as exc:  # noqa: BLE001 - a custom function's failure is a CEL error
            raise RuntimeError(f"{name}: {str(exc)[:200] or type(exc).__name__}") from None

    return call


def _message(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    text = text.replace("Python function call failed: ", "").split(". Check ", 1)[0]
    for prefix in ("Function '", ):
        if text.startswith(prefix):  # "Function 'f' error: f: boom" -> "f: boom"
            text = text.split(" error: ", 1)[-1]
    return text[:300]


class _Absent(Exception):
    """A value the library cannot hold faithfully: its key is left out, so reading it is an error."""


_PLAIN = (str, bool, float, type(None), bytes)


def _clean(value: Any, depth: int) -> Any:
    """``value`` as the library takes it: an integer outside int64 or a value deeper than
    :data:`MAX_DEPTH` is left out of its map (the library would turn a big integer into a double)."""
    kind = type(value)
    if kind is dict and depth < MAX_DEPTH - 1 and all(  # the common case, a flat map of plain values: as it is
            type(v) in _PLAIN or (type(v) is int and _INT64[0] <= v <= _INT64[1]) for v in value.values()) \
            and all(type(k) is str for k in value):
        return value
    if value is None or isinstance(value, (bool, float, str, bytes)):
        return value
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise _Absent
        return value
    if depth >= MAX_DEPTH:
        raise _Absent
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            try:
                out[str(k)] = _clean(v, depth + 1)
            except _Absent:
                continue
        return out
    if isinstance(value, (list, tuple)):
        return [_clean(v, depth + 1) for v in value]  # an absent element leaves its whole list out
    raise TypeError(f"{type(value).__name__} is not a JSON value")
