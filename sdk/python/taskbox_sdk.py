"""Write taskbox tasks and retry controllers in Python.

A task is a function decorated with :func:`task`. Its parameters are the
task's arguments, decoded by name from the JSON object the host passes; what
it returns, encoded as JSON, is its result::

    from taskbox_sdk import Failure, info, task

    @task(provides="quotient")
    def divide(numerator: int, denominator: int) -> int:
        \"\"\"Divides two integers.\"\"\"
        if denominator == 0:
            raise Failure("math.division-by-zero", "cannot divide by zero")
        info(f"dividing {numerator} by {denominator}")
        return numerator // denominator

A task that can be undone registers its revert with ``@<task>.revert``. The
revert function's parameters are execute's arguments by name, plus
``result`` (execute's result, ``None`` when execute failed or never
returned) and ``flow_failures`` (a list of :class:`AtomFailure`: why the
flow is reverting)::

    @divide.revert
    def undo(result, flow_failures):
        info(f"forgetting {result} after {len(flow_failures)} failure(s)")

A retry controller is a function decorated with :func:`retry`, its execute;
``@<retry>.on_failure`` registers the function that decides and
``@<retry>.revert`` an optional revert. All three may take ``history``, a
:class:`History` of the attempts so far.

What the decorators derive, as the Rust SDK's macros do:

- **name**: the function's name with ``_`` replaced by ``-``, or ``name=``;
- **version**: ``version=``, default ``"0.1.0"``;
- **description**: the function's docstring;
- **requires** / **optional**: execute's parameters (but ``history``); a
  parameter with a default value or an ``Optional[...]`` / ``X | None``
  annotation is optional, the others are required. A missing optional
  argument is its default (``None`` without one); a missing required one,
  or one that does not match a plain annotation (``str``, ``int``,
  ``float``, ``bool``, ``list``, ``dict``), fails the call with kind
  ``invalid-arguments``;
- **provides**: ``provides="name"`` stores the whole result under ``name``,
  ``provides=["a", "b"]`` the elements of a result list, and
  ``provides={"name": "key"}`` ``result["key"]`` under ``name``.

Raising :class:`Failure` fails the call with its kind, message and details.
Any other exception fails it with kind ``exception``, the exception's type
and text as the message and the traceback in ``details``; ``MemoryError``
is left to trap, so the host reports ``limit.memory``. A result that is not
JSON-serializable fails with ``invalid-result``.

A component holds one task or one retry controller. Build the directory
holding ``app.py`` with ``just plugin-py DIR`` (``scripts/plugin-py.sh``).

Outside a component (say, in unit tests under plain CPython) the decorated
functions stay callable as before, logging writes to standard error and
progress reports are dropped.
"""

from __future__ import annotations

import enum
import inspect
import json
import sys
import traceback
import types as _pytypes
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

__all__ = [
    "AtomFailure",
    "Attempt",
    "Decision",
    "Failure",
    "History",
    "debug",
    "error",
    "info",
    "log",
    "progress",
    "retry",
    "task",
    "trace",
    "warn",
]

INVALID_ARGUMENTS = "invalid-arguments"
INVALID_RESULT = "invalid-result"
EXCEPTION = "exception"

_SPECIAL_REVERT = ("result", "flow_failures")
_HISTORY = "history"


class Failure(Exception):
    """Why a call failed: a dotted ``kind`` a retry controller can reason on
    (``payment.declined``), a human ``message`` and optional JSON ``details``."""

    def __init__(self, kind: str, message: str, details: Any = None):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.details = details

    def __repr__(self) -> str:
        return f"Failure({self.kind!r}, {self.message!r}, {self.details!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Failure) and (self.kind, self.message, self.details) == (
            other.kind,
            other.message,
            other.details,
        )

    __hash__ = Exception.__hash__


@dataclass
class AtomFailure:
    """A failure together with the name of the atom it happened in."""

    atom: str
    failure: Failure

    def __str__(self) -> str:
        return f"atom `{self.atom}` failed: {self.failure.kind}: {self.failure.message}"


@dataclass
class Attempt:
    """One attempt of a retry controller's scope: the value its execute
    provided and the failures of the scope's atoms."""

    value: Any
    failures: list = field(default_factory=list)


@dataclass
class History:
    """What a retry controller has seen so far, oldest attempt first, and
    its own failure when its execute failed."""

    attempts: list = field(default_factory=list)
    failure: Optional[Failure] = None

    def last(self) -> Optional[Attempt]:
        """The newest attempt, if any."""
        return self.attempts[-1] if self.attempts else None

    def last_failures(self) -> list:
        """The failures of the newest attempt."""
        last = self.last()
        return list(last.failures) if last else []


class Decision(enum.Enum):
    """How a retry controller resolves a failure in its scope."""

    RETRY = "retry"
    """Revert the scope and run it again."""
    REVERT = "revert"
    """Revert the scope, then defer to the enclosing retry if any."""
    REVERT_ALL = "revert-all"
    """Revert the whole flow."""


# --- host powers ---------------------------------------------------------

_LEVELS = ("trace", "debug", "info", "warn", "error")


def _host():
    """The generated host bindings inside a component, ``None`` outside."""
    try:
        from wit_world.imports import host  # type: ignore[import-not-found]
    except ImportError:
        return None
    return host


def log(level: str, message: str) -> None:
    """Writes ``message`` to the host's log at ``level`` (one of trace,
    debug, info, warn, error)."""
    if level not in _LEVELS:
        raise ValueError(f"unknown log level {level!r}; use one of {', '.join(_LEVELS)}")
    host = _host()
    if host is None:
        print(f"[{level}] {message}", file=sys.stderr)
    else:
        host.log(getattr(host.Level, level.upper()), str(message))


def trace(message: str) -> None:
    """Logs at trace level."""
    log("trace", message)


def debug(message: str) -> None:
    """Logs at debug level."""
    log("debug", message)


def info(message: str) -> None:
    """Logs at info level."""
    log("info", message)


def warn(message: str) -> None:
    """Logs at warn level."""
    log("warn", message)


def error(message: str) -> None:
    """Logs at error level."""
    log("error", message)


def progress(fraction: float) -> None:
    """Reports the call's progress as a fraction in ``[0, 1]``."""
    host = _host()
    if host is not None:
        host.update_progress(float(fraction))


# --- parameters ------------------------------------------------------------

_PLAIN = {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
          list: "a list", dict: "an object"}


def _is_optional(annotation: Any) -> bool:
    return type(None) in _union_members(annotation)


def _union_members(annotation: Any) -> tuple:
    if typing.get_origin(annotation) in (typing.Union, _pytypes.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _matches(value: Any, annotation: Any) -> bool:
    """Whether ``value`` fits a plain annotation; anything fancier passes."""
    for member in _union_members(annotation):
        plain = typing.get_origin(member) or member
        if member is type(None):
            if value is None:
                return True
        elif plain not in _PLAIN:
            return True
        elif plain is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        elif plain is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        elif plain not in (int, float) and isinstance(value, plain):
            return True
    return False


def _describe_type(annotation: Any) -> str:
    names = [_PLAIN.get(typing.get_origin(m) or m, getattr(m, "__name__", str(m)))
             for m in _union_members(annotation) if m is not type(None)]
    return " or ".join(names)


@dataclass
class _Param:
    name: str
    required: bool
    default: Any
    annotation: Any


def _params(fn: Callable, skip: tuple = ()) -> list:
    """The arguments ``fn`` takes, as :class:`_Param`, leaving out ``skip``."""
    hints = typing.get_type_hints(fn)
    params = []
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"{fn.__qualname__}: *args and **kwargs cannot be task arguments")
        if p.name in skip:
            continue
        annotation = hints.get(p.name, Any)
        has_default = p.default is not inspect.Parameter.empty
        required = not has_default and not _is_optional(annotation)
        params.append(_Param(p.name, required, p.default if has_default else None, annotation))
    return params


def _decode_args(text: str, params: list) -> dict:
    """The keyword arguments for ``params`` from the JSON object ``text``."""
    try:
        args = json.loads(text)
    except ValueError as e:
        raise Failure(INVALID_ARGUMENTS, f"arguments are not valid JSON: {e}") from None
    if not isinstance(args, dict):
        raise Failure(INVALID_ARGUMENTS, f"arguments must be a JSON object, not {_json_type(args)}")
    out = {}
    for p in params:
        if p.name not in args or args[p.name] is None:
            if p.required:
                raise Failure(INVALID_ARGUMENTS, f"missing required argument `{p.name}`")
            out[p.name] = p.default
            continue
        value = args[p.name]
        if not _matches(value, p.annotation):
            raise Failure(
                INVALID_ARGUMENTS,
                f"argument `{p.name}`: expected {_describe_type(p.annotation)}, got {_json_type(value)}",
            )
        out[p.name] = value
    return out


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _check_subset(owner: str, fn: Callable, execute_params: list, special: tuple) -> list:
    """``fn``'s parameters, which must be execute's or one of ``special``."""
    known = {p.name for p in execute_params}
    params = _params(fn)
    for p in params:
        if p.name not in known and p.name not in special:
            extra = ", ".join(f"`{s}`" for s in special)
            raise TypeError(
                f"{owner}: parameter `{p.name}` of {fn.__name__} is not an argument of execute"
                f" (allowed besides execute's arguments: {extra})"
            )
    return params


# --- what a plugin is ---------------------------------------------------------


def _provides_value(provides: Any) -> Any:
    if provides is None or isinstance(provides, str):
        return provides
    if isinstance(provides, (list, tuple)) and all(isinstance(n, str) for n in provides):
        return list(provides)
    if isinstance(provides, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in provides.items()
    ):
        return dict(provides)
    raise TypeError(
        "provides must be a name, a list of names or a dict of name -> result key,"
        f" not {provides!r}"
    )


class _Plugin:
    """What :func:`task` and :func:`retry` return: the decorated execute,
    still callable, plus what the component exports."""

    world = ""
    # Parameters of execute that are not arguments, and those revert may
    # take besides execute's arguments.
    _special: tuple = ()
    _revert_special: tuple = ()

    def __init__(self, fn: Callable, name: Optional[str], version: str, provides: Any):
        self.fn = fn
        self.name = name or fn.__name__.replace("_", "-")
        self.version = version
        self.description = inspect.getdoc(fn) or ""
        self.provides = _provides_value(provides)
        self.params = _params(fn, skip=self._special)
        self.revert_fn: Optional[Callable] = None
        self._revert_params: list = []
        _register(self)

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def revert(self, fn: Callable) -> Callable:
        """Registers ``fn`` as this plugin's revert; use as a decorator."""
        self._revert_params = _check_subset(self.name, fn, self.params, self._revert_special)
        self.revert_fn = fn
        return fn

    @property
    def requires(self) -> list:
        return [p.name for p in self.params if p.required]

    @property
    def optional(self) -> list:
        return [p.name for p in self.params if not p.required]


class _Task(_Plugin):
    world = "task"
    _revert_special = _SPECIAL_REVERT


class _Retry(_Plugin):
    world = "retry"
    _special = (_HISTORY,)
    _revert_special = (_HISTORY,)

    def __init__(self, *args):
        super().__init__(*args)
        self.on_failure_fn: Optional[Callable] = None
        self._on_failure_params: list = []

    def on_failure(self, fn: Callable) -> Callable:
        """Registers ``fn`` as the function that decides how a failure is
        resolved; use as a decorator. It returns a :class:`Decision`."""
        self._on_failure_params = _check_subset(self.name, fn, self.params, (_HISTORY,))
        self.on_failure_fn = fn
        return fn


_registered: list = []


def _register(plugin: _Plugin) -> None:
    _registered.append(plugin)


def task(provides: Any = None, *, name: Optional[str] = None, version: str = "0.1.0"):
    """Makes the decorated function the task's execute. See the module docs."""
    if callable(provides):
        return _Task(provides, None, version, None)
    return lambda fn: _Task(fn, name, version, provides)


def retry(provides: Any = None, *, name: Optional[str] = None, version: str = "0.1.0"):
    """Makes the decorated function a retry controller's execute; register
    its decision with ``@<retry>.on_failure``. See the module docs."""
    if callable(provides):
        return _Retry(provides, None, version, None)
    return lambda fn: _Retry(fn, name, version, provides)


# --- the component's exports ----------------------------------------------------


def _call(fn: Callable, params: list, values: dict) -> Any:
    return fn(**{p.name: values[p.name] for p in params})


def _run(body: Callable) -> Any:
    """Runs ``body``, turning what it raises into a WIT ``failure``."""
    from componentize_py_types import Err  # type: ignore[import-not-found]

    try:
        return body()
    except Failure as f:
        raise Err(_to_wire(f)) from None
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - every other exception is a failure
        detail = {"type": type(e).__name__, "traceback": traceback.format_exc()}
        raise Err(_to_wire(Failure(EXCEPTION, f"{type(e).__name__}: {e}", detail))) from None


def _encode(value: Any) -> str:
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise Failure(INVALID_RESULT, f"cannot serialize the result: {e}") from None


def _to_wire(f: Failure):
    from wit_world.imports import types  # type: ignore[import-not-found]

    details = None if f.details is None else json.dumps(f.details, default=str)
    return types.Failure(str(f.kind), str(f.message), details)


def _json_or_string(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _from_wire(f) -> Failure:
    return Failure(f.kind, f.message, None if f.details is None else _json_or_string(f.details))


def _from_wire_atom(f) -> AtomFailure:
    return AtomFailure(f.atom, _from_wire(f.failure))


def _from_wire_history(h) -> History:
    return History(
        [Attempt(_json_or_string(a.value), [_from_wire_atom(f) for f in a.failures]) for a in h.attempts],
        None if h.failure is None else _from_wire(h.failure),
    )


def _task_info(plugin: _Plugin):
    from wit_world.imports import types  # type: ignore[import-not-found]

    p = plugin.provides
    if p is None:
        provides = types.Provides_None_()
    elif isinstance(p, str):
        provides = types.Provides_Single(p)
    elif isinstance(p, list):
        provides = types.Provides_Positional(p)
    else:
        provides = types.Provides_Keyed(list(p.items()))
    return types.TaskInfo(plugin.name, plugin.version, plugin.description,
                          plugin.requires, plugin.optional, provides)


class _TaskExports:
    """The ``task`` world's exports for the registered task."""

    plugin: _Task

    def describe(self):
        return _task_info(self.plugin)

    def execute(self, args: str) -> str:
        plugin = self.plugin
        return _run(lambda: _encode(_call(plugin.fn, plugin.params, _decode_args(args, plugin.params))))

    def revert(self, args: str, result: Optional[str], flow_failures: list) -> None:
        plugin = self.plugin
        if plugin.revert_fn is None:
            return

        def body():
            values = _decode_args(args, [p for p in plugin.params if p.name in
                                         {q.name for q in plugin._revert_params}])
            values["result"] = None if result is None else _json_or_string(result)
            values["flow_failures"] = [_from_wire_atom(f) for f in flow_failures]
            _call(plugin.revert_fn, plugin._revert_params, values)

        _run(body)


class _RetryExports:
    """The ``retry`` world's exports for the registered retry controller."""

    plugin: _Retry

    def describe(self):
        return _task_info(self.plugin)

    def _values(self, history, args: str, params: list) -> dict:
        names = {p.name for p in params}
        values = _decode_args(args, [p for p in self.plugin.params if p.name in names])
        values[_HISTORY] = _from_wire_history(history)
        return values

    def execute(self, history, args: str) -> str:
        plugin = self.plugin
        params = _params(plugin.fn)
        return _run(lambda: _encode(_call(plugin.fn, params, self._values(history, args, params))))

    def revert(self, history, args: str) -> None:
        plugin = self.plugin
        if plugin.revert_fn is None:
            return
        params = plugin._revert_params
        _run(lambda: _call(plugin.revert_fn, params, self._values(history, args, params)))

    def on_failure(self, history, args: str):
        from wit_world.imports import types  # type: ignore[import-not-found]

        plugin = self.plugin
        params = plugin._on_failure_params
        try:
            decision = _call(plugin.on_failure_fn, params, self._values(history, args, params))
        except Failure as f:
            error(
                "on-failure cannot decode its arguments, so it reverts the whole flow: "
                f"{f.kind}: {f.message}"
            )
            return types.Decision.REVERT_ALL
        if not isinstance(decision, Decision):
            error(f"on-failure returned {decision!r}, not a Decision, so it reverts the whole flow")
            return types.Decision.REVERT_ALL
        return getattr(types.Decision, decision.name)


def _export(world: str) -> type:
    """The class componentize-py instantiates for ``world``: the exports of
    the one task or retry controller the app module registered."""
    found = [p for p in _registered if p.world == world]
    others = [p for p in _registered if p.world != world]
    if len(_registered) != 1 or not found:
        what = ", ".join(f"@{p.world} {p.fn.__name__}" for p in _registered) or "nothing"
        hint = ""
        if others and not found:
            hint = f" (it defines a {others[0].world}: build it as world `{others[0].world}`)"
        raise RuntimeError(
            f"a component holds exactly one @{world}; app.py registers {what}{hint}"
        )
    plugin = found[0]
    if isinstance(plugin, _Retry) and plugin.on_failure_fn is None:
        raise RuntimeError(f"retry {plugin.name}: register its decision with @{plugin.fn.__name__}.on_failure")
    base = _TaskExports if world == "task" else _RetryExports
    return type("WitWorld", (base,), {"plugin": plugin})
