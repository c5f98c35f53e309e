"""Differential test harness for restrain.

A test hands a plain Python function to :func:`check` together with some
arguments.  The harness

* makes an independent *clone* of the function (``code.replace()`` gives a
  distinct code object, and restrain attaches compiled code to the code
  object), compiles the clone with ``restrain.compile`` exactly once per
  function (cached for the whole session), and asserts that it compiled;
* runs the original (interpreted) function and the compiled clone on deep
  copies of the same arguments, with stdout redirected;
* compares everything observable: the return value (``==`` plus exact type,
  NaN-aware, recursive through containers and plain objects), the raised
  exception (type, ``args``, ``str``, ``__cause__``/``__context__``,
  traceback entries below the harness frame as ``(filename, lineno, name,
  colno, end_colno)`` and finally the full ``traceback.format_exception``
  text), the printed output, the arguments after the call (mutations),
  selected globals and, optionally, closure cells;
* raises an ``AssertionError`` with a readable report on any difference.

Quick reference::

    check(func, *args, **kwargs)                 # compile (cached) + compare
    check(func, *args, expect_unsupported=True)  # compile must be refused,
                                                 # the function must still work
    pair = compiled_pair(func)                   # compile once ...
    pair.check(*args, **kwargs)                  # ... check many inputs
    interp, comp = pair.outcomes(*args)          # raw outcomes, no asserting

Options (keyword-only, so functions under test must not use these names):

``globals_reset={"NAME": value}``
    before *each* run the module global ``NAME`` is set to a deep copy of
    ``value`` (``MISSING`` deletes it); afterwards its value is compared.
``check_globals=[...]``
    names whose values after the run are compared (default: the keys of
    ``globals_reset``).
``rebind=True`` or ``rebind=[f, g]`` (pair option)
    during the compiled run the module globals naming ``func`` (``True``)
    or ``f``, ``g`` point at their compiled clones, so recursive calls and
    calls between module-level functions go through compiled code.
``reset_cells=True`` (pair option)
    closure cells of ``func`` are reset to (deep copies of) their initial
    contents before each run and compared afterwards, for closures that
    mutate ``nonlocal`` state.

Arguments that cannot be deep-copied can be wrapped: ``Fresh(factory)``
calls ``factory()`` for every run (generators, iterators), ``Shared(obj)``
passes the very same object to both runs.

Running compiled code: restrain runs a compiled entry only while its
evaluator hook is installed.  For the compiled side the harness therefore
enables restrain (with a threshold nothing reaches, so nothing else gets
compiled) unless it is enabled already, and disables it again afterwards.
Tests that call a compiled clone themselves must do it inside
``with pair.side(True) as fn:`` (or use ``pair.call(...)``), never by calling
``pair.compiled`` bare.  When restrain can say how often a compiled entry
ran (``restrain._hook.info``), ``check`` also fails if the compiled code
never ran although the interpreted run got into the function body.

Hangs: a compiled function stuck in a loop cannot be interrupted, so every
compiled run is guarded by ``faulthandler``: after
``RESTRAIN_DIFFTEST_TIMEOUT`` seconds (default 120, 0 = off) the stacks of
all threads are written to ``HANG_REPORT`` (a file named
``restrain-difftest-hang-<pid>.txt`` in the temp directory, headed by the
call that hung) and the process exits with status 1.  The file is removed
at a normal exit.

Setting the environment variable ``RESTRAIN_DIFFTEST_FAKE=1`` replaces the
compile step by a stub that pretends success without compiling anything.  It
exists only to validate the harness and the tests themselves while the
runtime is not there; it is never the default.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import difflib
import inspect
import io
import math
import os
import reprlib
import tempfile
import time
import traceback
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

__all__ = [
    "FAKE", "MISSING", "Fresh", "Shared", "Outcome", "CompileInfo",
    "CompiledPair", "check", "compiled_pair", "compile_clone", "make_clone",
    "same", "hyp_settings", "compile_log", "compare_outcomes", "line_of",
]

# Exactly as it appears in code objects and traceback entries.
_THIS_FILE = (lambda: None).__code__.co_filename

FAKE = os.environ.get("RESTRAIN_DIFFTEST_FAKE", "").strip().lower() not in (
    "", "0", "false", "no", "off")

if FAKE:
    warnings.warn(
        "RESTRAIN_DIFFTEST_FAKE is set: restrain.compile is NOT called, the "
        "'compiled' side runs interpreted.  This only validates the tests.",
        stacklevel=1)

# Suffixes of files a compiled frame must never be attributed to.
_GENERATED_SUFFIXES = (".pyx", ".pxd", ".c", ".cpp", ".so", ".pyd")


# --------------------------------------------------------------------------
# small helpers

class _Missing:
    """Sentinel: a global/cell that is absent (or empty)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self):
        return "<missing>"

    def __reduce__(self):
        return (_Missing, ())

    def __deepcopy__(self, memo):
        return self

    def __copy__(self):
        return self


MISSING = _Missing()


class Fresh:
    """Argument produced anew by ``factory()`` for every run."""

    def __init__(self, factory: Callable[[], Any], label: str | None = None):
        self.factory = factory
        self.label = label

    def __deepcopy__(self, memo):
        return self.factory()

    def __repr__(self):
        return f"Fresh({self.label or getattr(self.factory, '__name__', '?')})"


class Shared:
    """Argument passed as the very same object to both runs."""

    def __init__(self, obj: Any):
        self.obj = obj

    def __deepcopy__(self, memo):
        return self.obj

    def __repr__(self):
        return f"Shared({_short(self.obj)})"


_repr = reprlib.Repr()
_repr.maxstring = 120
_repr.maxother = 120
_repr.maxlong = 80
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 12


def _short(obj: Any, limit: int = 300) -> str:
    try:
        text = _repr.repr(obj)
    except Exception as e:  # noqa: BLE001 - a broken __repr__ must not hide the report
        text = f"<{type(obj).__name__} object; repr raised {type(e).__name__}>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def _tname(t: type) -> str:
    mod = getattr(t, "__module__", "")
    if mod in ("builtins", None, ""):
        return t.__qualname__
    return f"{mod}.{t.__qualname__}"


def _fmt_call(func: Callable, args: tuple, kwargs: dict) -> str:
    parts = [_short(a, 80) for a in args]
    parts += [f"{k}={_short(v, 80)}" for k, v in kwargs.items()]
    return f"{getattr(func, '__name__', '?')}({', '.join(parts)})"


def _where(func: Callable) -> str:
    code = getattr(func, "__code__", None)
    if code is None:
        return "?"
    return f"{code.co_filename}:{code.co_firstlineno}"


def _indent(text: str, prefix: str = "      ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def hyp_settings(**overrides):
    """Hypothesis settings used by the construct tests: modest and fast."""
    from hypothesis import HealthCheck, settings

    kw = dict(max_examples=50, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow,
                                     HealthCheck.function_scoped_fixture])
    kw.update(overrides)
    return settings(**kw)


# --------------------------------------------------------------------------
# cloning and compiling

@dataclass
class CompileInfo:
    ok: bool
    reason: str | None
    seconds: float | None
    source_path: str | None
    raw: Any = None
    fake: bool = False

    def describe(self) -> str:
        if self.fake:
            return "FAKE (RESTRAIN_DIFFTEST_FAKE set; nothing was compiled)"
        secs = f"{self.seconds:.2f}s" if isinstance(self.seconds, (int, float)) else "?s"
        if self.ok:
            return f"ok in {secs}, source {self.source_path}"
        return f"NOT compiled ({secs}): {self.reason}"


# (qualname, ok, seconds, reason) for every compile, in order.
compile_log: list[tuple[str, bool, float | None, str | None]] = []

_clone_cache: dict[Any, tuple[types.FunctionType, CompileInfo]] = {}


def make_clone(func: types.FunctionType) -> types.FunctionType:
    """An independent function object over a *distinct* copy of the code."""
    if not isinstance(func, types.FunctionType):
        raise TypeError(f"difftest needs a plain Python function, got {func!r}")
    code = func.__code__.replace()
    assert code is not func.__code__, "code.replace() returned the same object"
    clone = types.FunctionType(code, func.__globals__, func.__name__,
                               func.__defaults__, func.__closure__)
    clone.__kwdefaults__ = (dict(func.__kwdefaults__)
                            if func.__kwdefaults__ is not None else None)
    clone.__qualname__ = func.__qualname__
    clone.__module__ = func.__module__
    clone.__doc__ = func.__doc__
    clone.__annotations__ = dict(func.__annotations__)
    clone.__dict__.update(func.__dict__)
    return clone


def _restrain_compile(clone: types.FunctionType) -> CompileInfo:
    if FAKE:
        return CompileInfo(True, None, 0.0, None, None, fake=True)
    t0 = time.perf_counter()
    try:
        import restrain
    except Exception:  # noqa: BLE001
        return CompileInfo(False, "cannot import restrain:\n" + traceback.format_exc(),
                           0.0, None)
    try:
        r = restrain.compile(clone)
    except Exception:  # noqa: BLE001
        return CompileInfo(False, "restrain.compile() raised:\n" + traceback.format_exc(),
                           time.perf_counter() - t0, None)
    seconds = getattr(r, "seconds", None)
    if seconds is None:
        seconds = time.perf_counter() - t0
    return CompileInfo(bool(getattr(r, "ok", False)), getattr(r, "reason", None),
                       seconds, getattr(r, "source_path", None), r)


def compile_clone(func: types.FunctionType) -> tuple[types.FunctionType, CompileInfo]:
    """Clone ``func`` and compile the clone; cached per function object."""
    hit = _clone_cache.get(func)
    if hit is None:
        clone = make_clone(func)
        info = _restrain_compile(clone)
        compile_log.append((func.__qualname__, info.ok, info.seconds, info.reason))
        hit = _clone_cache[func] = (clone, info)
    return hit


# --------------------------------------------------------------------------
# comparing values

def _same_float(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def _tb_entries(tb) -> list[tuple]:
    """Traceback entries below the harness frame."""
    entries = [(f.filename, f.lineno, f.name, getattr(f, "colno", None),
                getattr(f, "end_colno", None))
               for f in traceback.extract_tb(tb)]
    while entries and entries[0][0] == _THIS_FILE:
        entries.pop(0)
    return entries


def _fmt_entries(entries: list[tuple]) -> str:
    if not entries:
        return "(no entries)"
    lines = []
    for fn, ln, name, c0, c1 in entries:
        lines.append(f"{os.path.basename(fn)}:{ln} in {name} [cols {c0}-{c1}]")
    return "\n".join(lines)


def _object_state(o: Any) -> dict | None:
    state: dict = {}
    found = False
    try:
        d = object.__getattribute__(o, "__dict__")
    except Exception:  # noqa: BLE001
        d = None
    if isinstance(d, dict):
        state.update(d)
        found = True
    for cls in type(o).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        if isinstance(slots, str):
            slots = (slots,)
        for s in slots:
            if s in ("__dict__", "__weakref__"):
                continue
            name = s
            if s.startswith("__") and not s.endswith("__"):
                name = f"_{cls.__name__.lstrip('_')}{s}"
            try:
                state[f"<slot {name}>"] = object.__getattribute__(o, name)
            except AttributeError:
                state[f"<slot {name}>"] = MISSING
            found = True
    return state if found else None


_DICT_VALUES = type({}.values())


class _Memo:
    def __init__(self):
        self.seen: set = set()
        self.keep: list = []

    def enter(self, a, b) -> bool:
        key = (id(a), id(b))
        if key in self.seen:
            return False
        self.seen.add(key)
        self.keep.append((a, b))
        return True


def same(a: Any, b: Any) -> bool:
    """True when the harness considers ``a`` and ``b`` equal."""
    return _diff(a, b, "value") is None


def _diff(a: Any, b: Any, path: str, memo: _Memo | None = None,
          depth: int = 0) -> str | None:
    """First difference between ``a`` (interpreted) and ``b`` (compiled)."""
    if memo is None:
        memo = _Memo()
    if a is b:
        return None
    ta, tb = type(a), type(b)
    if ta is not tb:
        return (f"{path}: type {_tname(ta)} != {_tname(tb)} "
                f"(interpreted {_short(a, 120)}, compiled {_short(b, 120)})")
    if depth > 60:
        return None
    if ta is float:
        return None if _same_float(a, b) else f"{path}: {a!r} != {b!r}"
    if ta is complex:
        ok = _same_float(a.real, b.real) and _same_float(a.imag, b.imag)
        return None if ok else f"{path}: {a!r} != {b!r}"
    if ta in (int, bool, str, bytes, type(None), range, slice, bytearray):
        return None if a == b else f"{path}: {_short(a)} != {_short(b)}"
    if not memo.enter(a, b):
        return None
    if isinstance(a, BaseException):
        problems = _exc_problems(a, b, path, memo, depth)
        return problems[0] if problems else None
    if isinstance(a, types.TracebackType):
        ea, eb = _tb_entries(a), _tb_entries(b)
        if ea != eb:
            return (f"{path}: traceback differs\n    interpreted:\n{_indent(_fmt_entries(ea))}"
                    f"\n    compiled:\n{_indent(_fmt_entries(eb))}")
        return None
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return (f"{path}: length {len(a)} != {len(b)} "
                    f"(interpreted {_short(a)}, compiled {_short(b)})")
        for i, (x, y) in enumerate(zip(a, b)):
            d = _diff(x, y, f"{path}[{i}]", memo, depth + 1)
            if d:
                return d
        if ta in (list, tuple):
            return None
        return _diff_state(a, b, path, memo, depth)
    if isinstance(a, dict):
        ka, kb = list(a), list(b)
        if len(ka) != len(kb):
            return (f"{path}: {len(ka)} keys != {len(kb)} keys "
                    f"(interpreted keys {_short(ka)}, compiled keys {_short(kb)})")
        for i, (x, y) in enumerate(zip(ka, kb)):
            d = _diff(x, y, f"{path}.keys()[{i}]", memo, depth + 1)
            if d:
                return d
        for x, y in zip(ka, kb):
            d = _diff(a[x], b[y], f"{path}[{x!r}]", memo, depth + 1)
            if d:
                return d
        if ta is dict:
            return None
        return _diff_state(a, b, path, memo, depth)
    if isinstance(a, (set, frozenset)):
        if a == b:
            return None
        if sorted(map(_short, a)) == sorted(map(_short, b)):
            return None
        return f"{path}: {_short(a)} != {_short(b)}"
    if isinstance(a, _DICT_VALUES):
        return _diff(list(a), list(b), f"{path}(values)", memo, depth + 1)
    if isinstance(a, (types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
        qa = getattr(a, "__qualname__", None)
        qb = getattr(b, "__qualname__", None)
        return None if qa == qb else f"{path}: function {qa} != {qb}"
    if isinstance(a, types.CodeType):
        ka = (a.co_qualname, a.co_filename, a.co_firstlineno)
        kb = (b.co_qualname, b.co_filename, b.co_firstlineno)
        return None if ka == kb else f"{path}: code {ka} != {kb}"
    if isinstance(a, types.FrameType):
        ka = (a.f_code.co_qualname, a.f_code.co_filename, a.f_lineno)
        kb = (b.f_code.co_qualname, b.f_code.co_filename, b.f_lineno)
        return None if ka == kb else f"{path}: frame {ka} != {kb}"
    if isinstance(a, type):
        # Classes created by a class statement inside the function differ
        # per run; compare them by name.
        ka = (a.__module__, a.__qualname__)
        kb = (b.__module__, b.__qualname__)
        return None if ka == kb else f"{path}: class {ka} != {kb}"
    if isinstance(a, types.ModuleType):
        return None if a.__name__ == b.__name__ else f"{path}: {a!r} != {b!r}"
    if isinstance(a, (types.GeneratorType, types.CoroutineType,
                      types.AsyncGeneratorType)):
        # Distinct objects per run; their type matching is all we can say
        # without consuming them.
        return None
    # Generic objects: their own __eq__ if they have one, else their state.
    if ta.__eq__ is not object.__eq__:
        try:
            eq = bool(a == b)
        except Exception as e:  # noqa: BLE001
            return f"{path}: comparing raised {type(e).__name__}: {e}"
        if not eq:
            return f"{path}: {_short(a)} != {_short(b)}"
        return None
    return _diff_state(a, b, path, memo, depth)


def _diff_state(a, b, path, memo, depth) -> str | None:
    sa, sb = _object_state(a), _object_state(b)
    if sa is None and sb is None:
        return None
    return _diff(sa, sb, f"{path}.<state>", memo, depth + 1)


def _exc_problems(a: BaseException, b: BaseException, path: str,
                  memo: _Memo | None = None, depth: int = 0,
                  full_text: bool = True) -> list[str]:
    if memo is None:
        memo = _Memo()
    if type(a) is not type(b):
        return [f"{path}: {_short(a, 200)} is not {_short(b, 200)} "
                f"(type {_tname(type(a))} != {_tname(type(b))})"]
    problems = []
    d = _diff(a.args, b.args, f"{path}.args", memo, depth + 1)
    if d:
        problems.append(d)
    try:
        stra, strb = str(a), str(b)
    except Exception:  # noqa: BLE001
        stra = strb = None
    if stra != strb:
        problems.append(f"{path} message: {stra!r} != {strb!r}")
    for attr in ("__cause__", "__context__"):
        ca, cb = getattr(a, attr), getattr(b, attr)
        if type(ca) is not type(cb):
            problems.append(f"{path}.{attr}: {_short(ca)} vs {_short(cb)}")
        elif ca is not None and depth < 8 and memo.enter(ca, cb):
            problems.extend(_exc_problems(ca, cb, f"{path}.{attr}", memo,
                                          depth + 1, full_text=False))
    if a.__suppress_context__ != b.__suppress_context__:
        problems.append(f"{path}.__suppress_context__: {a.__suppress_context__} "
                        f"!= {b.__suppress_context__}")
    ea, eb = _tb_entries(a.__traceback__), _tb_entries(b.__traceback__)
    bad = [e for e in eb if _is_generated(e[0])]
    if bad:
        problems.append(f"{path}: compiled traceback names generated file(s) "
                        f"{sorted({e[0] for e in bad})}")
    if ea != eb:
        problems.append(
            f"{path} traceback differs (filename, line, name, cols):\n"
            f"    interpreted:\n{_indent(_fmt_entries(ea))}\n"
            f"    compiled:\n{_indent(_fmt_entries(eb))}")
    if full_text and not problems:
        ta, tb = _format_exc(a), _format_exc(b)
        if ta != tb:
            diff = "".join(difflib.unified_diff(
                ta.splitlines(True), tb.splitlines(True),
                "interpreted", "compiled"))
            problems.append(f"{path}: traceback.format_exception text differs:\n"
                            f"{_indent(diff)}")
    return problems


def _format_exc(e: BaseException) -> str:
    try:
        return "".join(traceback.format_exception(e))
    except Exception as err:  # noqa: BLE001
        return f"<format_exception raised {err!r}>"


_cache_dirs: set[str] = set()


def _is_generated(filename: str) -> bool:
    if filename.endswith(_GENERATED_SUFFIXES):
        return True
    return any(filename.startswith(d) for d in _cache_dirs)


# --------------------------------------------------------------------------
# running

@dataclass
class Outcome:
    """Everything observable about one run."""

    label: str
    value: Any = None
    exc: BaseException | None = None
    stdout: str = ""
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    globals: dict = field(default_factory=dict)
    cells: list = field(default_factory=list)
    # calls of the compiled entry during the run, when restrain can tell
    entry_calls: int | None = None

    @property
    def raised(self) -> bool:
        return self.exc is not None

    @property
    def exc_type(self) -> type | None:
        return type(self.exc) if self.exc is not None else None

    @property
    def message(self) -> str | None:
        return str(self.exc) if self.exc is not None else None

    @property
    def tb(self) -> list[tuple]:
        return _tb_entries(self.exc.__traceback__) if self.exc is not None else []

    def summary(self) -> str:
        if self.exc is None:
            text = f"returned {_short(self.value)}"
        else:
            text = f"raised {_short(self.exc, 250)}"
            ctx = self.exc.__cause__ or self.exc.__context__
            if ctx is not None:
                text += f" (chained from {_tname(type(ctx))})"
        if self.stdout:
            text += f"; printed {_short(self.stdout, 150)}"
        return text


def _entry_calls(code) -> int | None:
    """How often restrain's evaluator ran ``code`` (None if unknown)."""
    if FAKE:
        return None
    try:
        from restrain import _hook
        calls, state = _hook.info(code)
    except Exception:  # noqa: BLE001 - internal API; the check is optional
        return None
    return calls if state == "compiled" else None


def _body_ran(func, interp: Outcome) -> bool:
    """Did the interpreted run get into the function body (as opposed to
    failing while binding the arguments)?"""
    if interp.exc is None:
        return True
    code = func.__code__
    return any(fn == code.co_filename and name == code.co_name
               for fn, _, name, _, _ in _tb_entries(interp.exc.__traceback__))


@contextlib.contextmanager
def _restrain_active():
    """Make sure restrain's evaluator is installed, so that code objects with
    a compiled entry run it.  When restrain is not enabled already, it is
    enabled for the duration with a threshold nothing reaches (so nothing
    else gets compiled) and switched off again afterwards."""
    if FAKE:
        yield
        return
    import restrain

    if restrain.is_enabled():
        yield
        return
    old_threshold = restrain.stats().get("threshold")
    old_sample = restrain.runtime._state.config.sample
    restrain.enable(threshold=_NEVER_HOT, sample=False)
    try:
        yield
    finally:
        restrain.disable()
        if old_threshold is not None:
            restrain.configure(threshold=old_threshold, sample=old_sample)


_NEVER_HOT = 1 << 40

# A miscompiled loop may never end, and on CI nobody presses Ctrl-C, so each
# compiled run is guarded by faulthandler: after this many seconds the
# traceback of every thread is written to HANG_REPORT and the process exits
# with status 1.
try:
    HANG_SECONDS = float(os.environ.get("RESTRAIN_DIFFTEST_TIMEOUT", "120"))
except ValueError:
    HANG_SECONDS = 120.0
HANG_REPORT = os.path.join(tempfile.gettempdir(), f"restrain-difftest-hang-{os.getpid()}.txt")
_hang_file = None


def _remove_hang_report() -> None:
    try:
        _hang_file.close()
        os.unlink(HANG_REPORT)
    except Exception:  # noqa: BLE001
        pass


@contextlib.contextmanager
def _watchdog(compiled: bool, fn, args, kwargs):
    global _hang_file
    if not compiled or FAKE or HANG_SECONDS <= 0:
        yield
        return
    import faulthandler

    if _hang_file is None:
        _hang_file = open(HANG_REPORT, "w+", encoding="utf-8")  # noqa: SIM115
        atexit.register(_remove_hang_report)  # only a hang leaves the file behind
    _hang_file.seek(0)
    _hang_file.truncate()
    _hang_file.write(
        f"restrain difftest: the compiled {fn.__qualname__} ({_where(fn)}) did not "
        f"return within {HANG_SECONDS:g} s\n  call: {_fmt_call(fn, args, kwargs)}\n"
        f"  (RESTRAIN_DIFFTEST_TIMEOUT sets the limit; 0 disables the watchdog)\n\n")
    _hang_file.flush()
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=True, file=_hang_file)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def _set_global(g: dict, name: str, value: Any) -> None:
    if value is MISSING:
        g.pop(name, None)
    else:
        g[name] = value


def _snapshot(value: Any) -> Any:
    try:
        return copy.deepcopy(value)
    except Exception:  # noqa: BLE001
        return value


def _cell_get(cell) -> Any:
    try:
        return cell.cell_contents
    except ValueError:
        return MISSING


def _cell_set(cell, value) -> None:
    if value is MISSING:
        try:
            del cell.cell_contents
        except ValueError:
            pass
    else:
        cell.cell_contents = value


def _deepcopy_args(func, args, kwargs):
    try:
        return copy.deepcopy(args), copy.deepcopy(kwargs)
    except Exception as e:  # noqa: BLE001
        raise TypeError(
            f"difftest: arguments of {func.__qualname__} cannot be deep-copied "
            f"({type(e).__name__}: {e}); wrap them in Fresh(factory) or Shared(obj)"
        ) from e


class CompiledPair:
    """An original function and its compiled clone, compiled once."""

    def __init__(self, func: types.FunctionType, *, expect_unsupported: bool = False,
                 rebind: bool | Iterable[types.FunctionType] = (),
                 reset_cells: bool = False, _substitute: Callable | None = None):
        self.original = func
        self.expect_unsupported = expect_unsupported
        if _substitute is not None:  # harness self-tests only
            self.compiled, self.info = _substitute, CompileInfo(True, None, 0.0, None)
        else:
            self.compiled, self.info = compile_clone(func)
        if self.info.source_path:
            _cache_dirs.add(str(Path(self.info.source_path).resolve().parent))
        self._assert_compile_status()
        if rebind is True:
            rebind = [func]
        elif rebind is False or rebind is None:
            rebind = []
        self._rebind: list[tuple[types.FunctionType, types.FunctionType]] = []
        for f in rebind:
            if f is func:
                clone = self.compiled
            else:
                clone, info = compile_clone(f)
                if not info.ok and not info.fake:
                    raise AssertionError(
                        f"restrain could not compile {f.__qualname__} (rebound "
                        f"companion of {func.__qualname__}) at {_where(f)}:\n"
                        f"  reason: {info.reason}")
            self._rebind.append((f, clone))
        self.reset_cells = reset_cells
        closure = func.__closure__ or ()
        self._cell_init = [_snapshot(_cell_get(c)) for c in closure] if reset_cells else []

    # -- compile status ---------------------------------------------------
    @property
    def result(self) -> CompileInfo:
        return self.info

    def _assert_compile_status(self) -> None:
        info, func = self.info, self.original
        if info.fake:
            return
        if self.expect_unsupported:
            if info.ok:
                raise AssertionError(
                    f"expected restrain to refuse {func.__qualname__} "
                    f"({_where(func)}), but it compiled it "
                    f"(source {info.source_path})")
        elif not info.ok:
            raise AssertionError(
                f"restrain could not compile {func.__qualname__} at {_where(func)}\n"
                f"  reason: {info.reason}")

    # -- running ------------------------------------------------------------
    @contextlib.contextmanager
    def side(self, compiled: bool):
        """Context yielding the function of one side.  For the compiled side
        restrain's evaluator is made active and the ``rebind`` globals point
        at the compiled clones.  Call ``pair.compiled`` only inside it."""
        if not compiled:
            yield self.original
            return
        saved = []
        try:
            with _restrain_active():
                for f, clone in self._rebind:
                    g, name = f.__globals__, f.__name__
                    current = g.get(name, MISSING)
                    if current is not f:
                        raise RuntimeError(
                            f"difftest: cannot rebind {name}: the global is "
                            f"{_short(current)}, not the function")
                    saved.append((g, name, current))
                    g[name] = clone
                yield self.compiled
        finally:
            for g, name, value in reversed(saved):
                g[name] = value

    def _run(self, compiled: bool, args, kwargs, globals_reset, names) -> Outcome:
        g = self.original.__globals__
        for name, value in globals_reset.items():
            _set_global(g, name, _snapshot(value))
        closure = self.original.__closure__ or ()
        if self.reset_cells:
            for cell, init in zip(closure, self._cell_init):
                _cell_set(cell, _snapshot(init))
        a, k = _deepcopy_args(self.original, args, kwargs)
        out = Outcome("compiled" if compiled else "interpreted", args=a, kwargs=k)
        buf = io.StringIO()
        with self.side(compiled) as fn:
            calls_before = _entry_calls(fn.__code__) if compiled else None
            try:
                with contextlib.redirect_stdout(buf), _watchdog(compiled, fn, a, k):
                    out.value = fn(*a, **k)
            except KeyboardInterrupt:
                raise
            except BaseException as e:  # noqa: BLE001 - SystemExit etc. are outcomes too
                out.exc = e
            if calls_before is not None:
                calls_after = _entry_calls(fn.__code__)
                if calls_after is not None:
                    out.entry_calls = calls_after - calls_before
        out.stdout = buf.getvalue()
        out.globals = {n: _snapshot(g.get(n, MISSING)) for n in names}
        if self.reset_cells:
            out.cells = [_snapshot(_cell_get(c)) for c in closure]
        return out

    def outcomes(self, *args, globals_reset: dict | None = None,
                 check_globals: Iterable[str] | None = None,
                 **kwargs) -> tuple[Outcome, Outcome]:
        """Run both sides; return (interpreted, compiled) without comparing."""
        globals_reset = dict(globals_reset or {})
        names = list(check_globals) if check_globals is not None else list(globals_reset)
        interp = self._run(False, args, kwargs, globals_reset, names)
        comp = self._run(True, args, kwargs, globals_reset, names)
        return interp, comp

    def call(self, *args, compiled: bool = True, **kwargs):
        """Call one side directly (restrain active for the compiled one)."""
        with self.side(compiled) as fn:
            return fn(*args, **kwargs)

    def check(self, *args, globals_reset: dict | None = None,
              check_globals: Iterable[str] | None = None, **kwargs) -> Outcome:
        """Run both sides and assert they are indistinguishable.

        Returns the compiled side's :class:`Outcome` for further asserts."""
        interp, comp = self.outcomes(*args, globals_reset=globals_reset,
                                     check_globals=check_globals, **kwargs)
        problems = compare_outcomes(interp, comp)
        if (self.info.ok and not self.info.fake and comp.entry_calls == 0
                and _body_ran(self.original, interp)):
            problems.append(
                "the compiled code did not run: restrain compiled the clone, "
                "but its entry was not called (is the evaluator hook active?)")
        if problems:
            raise AssertionError(self._report(problems, interp, comp, args, kwargs))
        return comp

    __call__ = check

    def _report(self, problems, interp, comp, args, kwargs) -> str:
        func = self.original
        lines = [
            f"compiled {func.__qualname__} differs from the interpreter",
            f"  function: {func.__qualname__} ({_where(func)})",
            f"  call:     {_fmt_call(func, args, kwargs)}",
            f"  compile:  {self.info.describe()}",
            "  differences:",
        ]
        for p in problems:
            first, *rest = p.splitlines()
            lines.append(f"    - {first}")
            lines.extend(f"  {r}" for r in rest)
        lines.append(f"  interpreted: {interp.summary()}")
        lines.append(f"  compiled:    {comp.summary()}")
        return "\n".join(lines)


def compare_outcomes(interp: Outcome, comp: Outcome) -> list[str]:
    """List of human-readable differences (empty when equal)."""
    problems: list[str] = []
    if (interp.exc is None) != (comp.exc is None):
        problems.append(f"interpreted {interp.summary()}, but compiled {comp.summary()}")
        if comp.exc is not None:
            problems.append("compiled traceback:\n" + _indent(_format_exc(comp.exc)))
    elif interp.exc is None:
        d = _diff(interp.value, comp.value, "return value")
        if d:
            problems.append(d)
    else:
        problems.extend(_exc_problems(interp.exc, comp.exc, "exception"))
    if interp.stdout != comp.stdout:
        diff = "".join(difflib.unified_diff(
            interp.stdout.splitlines(True), comp.stdout.splitlines(True),
            "interpreted", "compiled"))
        problems.append("printed output differs:\n" + _indent(diff or
                        f"{interp.stdout!r} != {comp.stdout!r}"))
    for i, (x, y) in enumerate(zip(interp.args, comp.args)):
        d = _diff(x, y, f"argument {i} after the call")
        if d:
            problems.append(d)
    for key in interp.kwargs:
        d = _diff(interp.kwargs[key], comp.kwargs.get(key, MISSING),
                  f"keyword argument {key!r} after the call")
        if d:
            problems.append(d)
    for name in interp.globals:
        d = _diff(interp.globals[name], comp.globals.get(name, MISSING),
                  f"global {name} after the call")
        if d:
            problems.append(d)
    for i, (x, y) in enumerate(zip(interp.cells, comp.cells)):
        d = _diff(x, y, f"closure cell {i} after the call")
        if d:
            problems.append(d)
    return problems


_pair_cache: dict[tuple, CompiledPair] = {}


def compiled_pair(func: types.FunctionType, *, expect_unsupported: bool = False,
                  rebind: bool | Iterable[types.FunctionType] = (),
                  reset_cells: bool = False) -> CompiledPair:
    """Compile ``func`` once (per session) and return a reusable pair."""
    rb = rebind if isinstance(rebind, bool) else tuple(rebind or ())
    key = (func, expect_unsupported, rb, reset_cells)
    pair = _pair_cache.get(key)
    if pair is None:
        pair = CompiledPair(func, expect_unsupported=expect_unsupported,
                            rebind=rb, reset_cells=reset_cells)
        _pair_cache[key] = pair
    return pair


def specialised_pair(func: types.FunctionType, arg_types: tuple,
                     warmup: Iterable[tuple] = ()) -> CompiledPair:
    """A pair whose compiled side is specialised, as a hot function is:
    the clone first runs interpreted on each ``warmup`` argument tuple (so
    that the interpreter specialises its instructions: restrain's type
    feedback), then is compiled for ``arg_types``.  Not cached: each call
    compiles (from restrain's cache when nothing changed)."""
    import restrain
    clone = make_clone(func)
    with contextlib.redirect_stdout(io.StringIO()):
        for args in warmup:
            try:
                clone(*copy.deepcopy(args))
            except Exception:  # noqa: BLE001 - warm-up only
                pass
    r = restrain.compile(clone, arg_types=tuple(arg_types))
    if not r.ok:
        raise AssertionError(f"restrain could not compile {func.__qualname__} for {arg_types}: {r.reason}")
    pair = CompiledPair(func, _substitute=clone)
    pair.info = CompileInfo(True, None, r.seconds, r.source_path, r)
    return pair


def check(func: types.FunctionType, *args, expect_unsupported: bool = False,
          globals_reset: dict | None = None,
          check_globals: Iterable[str] | None = None,
          rebind: bool | Iterable[types.FunctionType] = (),
          reset_cells: bool = False, **kwargs) -> Outcome:
    """Compile ``func`` (cached) and assert compiled == interpreted for one call."""
    pair = compiled_pair(func, expect_unsupported=expect_unsupported,
                         rebind=rebind, reset_cells=reset_cells)
    return pair.check(*args, globals_reset=globals_reset,
                      check_globals=check_globals, **kwargs)


def line_of(func: Callable, marker: str) -> int:
    """Absolute line number of the first source line of ``func`` containing
    ``marker`` (used by tests that assert exact line attribution)."""
    lines, start = inspect.getsourcelines(func)
    for i, text in enumerate(lines):
        if marker in text:
            return start + i
    raise LookupError(f"{marker!r} not found in {func.__qualname__}")
