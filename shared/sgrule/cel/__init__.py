"""CEL (Common Expression Language) for sgrule's policies: the webhook's ``authorize``, apply's guardrails.

A narrow seam over the library (cel-python, module ``celpy``; why that one: ``docs/cel.md``)::

    program = compile('block.from == "description"', variables={"payload", "block"})  # or CompileError
    value = evaluate(program, {"payload": {...}, "block": {...}})                       # or EvaluationError
    allowed = is_true(program, activation)   # exactly ``true``; any error or other value is False

Activations are plain JSON-like Python values (dict, list, str, int, float, bool, None); values come back
the same way. :func:`register` adds a custom function (plain Python values in and out; an exception it
raises is a CEL error, absorbed by ``||``/``&&`` as CEL's own errors are). The library loads on the first
:func:`compile`, never on import of this module: a function that never evaluates a policy never pays for it.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

MAX_EXPRESSION_CHARS = 4096
MAX_DEPTH = 64  # deeper activation values become an error value at that depth, not a RecursionError
_INT64 = (-(2 ** 63), 2 ** 63 - 1)
# Names CEL's macros bind (``l`` in ``labels.exists(l, ...)``) are not free variables.
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})

_functions: dict[str, Callable[..., Any]] = {}
_lock = threading.Lock()
_env: Any = None


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


@dataclass(frozen=True)
class Program:
    expression: str
    variables: frozenset[str]
    _runner: Any = field(repr=False, compare=False)


def register(name: str, function: Callable[..., Any]) -> None:
    """Make ``function`` callable from every program compiled after this (``name(args...)``, or as a
    method ``x.name(args...)`` with ``x`` first). Arguments arrive as Python values; return one."""
    with _lock:
        _functions[name] = function


def compile(expression: str, variables: Iterable[str]) -> Program:  # noqa: A001 - the seam's own verb
    """Parse ``expression``; every free identifier must be one of ``variables``. :class:`CompileError`
    with the position otherwise."""
    if not isinstance(expression, str) or not expression.strip():
        raise CompileError("the expression is empty")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CompileError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    declared = frozenset(variables)
    env = _environment()
    import celpy

    try:
        tree = env.compile(expression)
    except celpy.CELParseError as exc:
        first = str(exc.args[0]).splitlines()[0] if exc.args else "syntax error"
        raise CompileError(f"not a CEL expression near {first!r}", getattr(exc, "line", None),
                           getattr(exc, "column", None)) from None
    except RecursionError:
        raise CompileError("the expression is nested too deeply") from None
    free, calls = _names(tree)
    for name, (line, column) in free.items():
        if name not in declared:
            raise CompileError(f"undeclared variable {name!r} (declared: {', '.join(sorted(declared))})",
                               line, column)
    with _lock:
        functions = {name: _wrap(name, fn) for name, fn in _functions.items()}
    known = set(functions) | _builtin_functions()
    for name, (line, column) in calls.items():
        if name not in known:
            raise CompileError(f"unknown function {name!r}", line, column)
    return Program(expression, declared, env.program(tree, functions=functions))


def evaluate(program: Program, activation: Mapping[str, Any]) -> Any:
    """The value of ``program`` for ``activation`` (Python values); :class:`EvaluationError` otherwise."""
    import celpy

    missing = program.variables - set(activation)
    if missing:
        raise EvaluationError(f"no value for {', '.join(sorted(missing))}")
    try:
        result = program._runner.evaluate({k: _to_cel(v, 0) for k, v in activation.items()})
    except celpy.CELEvalError as exc:
        raise EvaluationError(_message(exc), getattr(exc, "line", None), getattr(exc, "column", None)) from None
    except (RecursionError, ValueError, TypeError, ArithmeticError, KeyError, IndexError, AttributeError) as exc:
        raise EvaluationError(f"{type(exc).__name__}: {str(exc)[:200]}") from None
    if isinstance(result, celpy.CELEvalError):
        raise EvaluationError(_message(result), result.line, result.column)
    return _to_python(result)


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

def _environment() -> Any:
    global _env
    with _lock:
        if _env is None:
            import celpy  # noqa: F401 - the library loads here, on the first compile

            _env = celpy.Environment()
        return _env


def _builtin_functions() -> set[str]:
    from celpy.evaluation import base_functions

    return {name for name in base_functions if name[:1].isalpha()} | _MACROS | {"has", "dyn"}


def _names(tree: Any) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int]]]:
    """Free identifiers and called function names of a parsed expression, each with its first position."""
    import lark

    bound: set[str] = set()
    free: dict[str, tuple[int, int]] = {}
    calls: dict[str, tuple[int, int]] = {}
    for node in tree.iter_subtrees():
        tokens = [c for c in node.children if isinstance(c, lark.Token)]
        if node.data == "member_dot_arg" and len(tokens) == 1 and tokens[0].value in _MACROS:
            exprs = [c for c in node.children if isinstance(c, lark.Tree) and c.data == "exprlist"]
            if exprs and exprs[0].children:
                bound.update(t.value for t in exprs[0].children[0].scan_values(
                    lambda v: isinstance(v, lark.Token) and v.type == "IDENT"))
            continue
        if node.data == "member_dot_arg" and tokens:
            calls.setdefault(tokens[0].value, (tokens[0].line, tokens[0].column))
        elif node.data == "ident_arg" and tokens:
            calls.setdefault(tokens[0].value, (tokens[0].line, tokens[0].column))
        elif node.data == "ident" and tokens:
            free.setdefault(tokens[0].value, (tokens[0].line, tokens[0].column))
    return {k: v for k, v in free.items() if k not in bound}, calls


def _wrap(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    import celpy

    def call(*args: Any) -> Any:
        for a in args:
            if isinstance(a, celpy.CELEvalError):
                return a  # an error argument stays an error (CEL's rule)
        try:
            return _to_cel(function(*(_to_python(a) for a in args)), 0)
        except Exception as exc:  # noqa: BLE001 - a custom function's failure is a CEL error value
            return celpy.CELEvalError(f"{name}: {str(exc)[:200] or type(exc).__name__}")

    return call


def _message(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return text.split(" (in activation", 1)[0][:300]


def _to_cel(value: Any, depth: int) -> Any:
    import celpy
    from celpy import celtypes

    if depth > MAX_DEPTH:
        return celpy.CELEvalError("value nested too deeply")
    if value is None:
        return None
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            return celpy.CELEvalError("integer out of the int64 range")
        return celtypes.IntType(value)
    if isinstance(value, float):
        return celtypes.DoubleType(value)
    if isinstance(value, str):
        return celtypes.StringType(value)
    if isinstance(value, (list, tuple)):
        return celtypes.ListType([_to_cel(v, depth + 1) for v in value])
    if isinstance(value, dict):
        return celtypes.MapType({celtypes.StringType(str(k)): _to_cel(v, depth + 1) for k, v in value.items()})
    if isinstance(value, celpy.CELEvalError):
        return value
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _to_python(value: Any) -> Any:
    from celpy import celtypes

    if value is None:
        return None
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, (celtypes.IntType, celtypes.UintType)):
        return int(value)
    if isinstance(value, celtypes.DoubleType):
        return float(value)
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, celtypes.BytesType):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return [_to_python(v) for v in value]
    if isinstance(value, dict):
        return {_to_python(k): _to_python(v) for k, v in value.items()}
    return value
