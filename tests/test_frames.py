"""Frame fidelity of compiled functions.

Whatever looks at the Python stack -- sys._getframe, inspect, logging,
warnings, tracebacks, locals(), zero-argument super() -- must see a compiled
function exactly as it would see the interpreted one.  Each function below
is compiled through difftest (a clone of its code is compiled, see
difftest.py); calls between compiled functions go through module globals
that are rebound to the compiled clones for the compiled run.
"""

import inspect
import logging
import os
import subprocess
import sys
import traceback
import warnings
from pathlib import Path

import pytest

from difftest import check, compiled_pair, line_of

THIS_FILE = str(Path(__file__).resolve())
TESTS_DIR = str(Path(__file__).resolve().parent)


def _both(pair, *args, **kwargs):
    """Call the interpreted then the compiled side from the *same line*, so
    that everything above the functions under test is identical too.
    Returns [(value, exception), (value, exception)]."""
    results = []
    for compiled in (False, True):
        with pair.side(compiled) as fn:
            try:
                results.append((fn(*args, **kwargs), None))
            except Exception as e:  # noqa: BLE001
                results.append((None, e))
    return results


def _assert_no_generated_files(pair, filenames):
    cache_dir = None
    if pair.info.source_path:
        cache_dir = str(Path(pair.info.source_path).resolve().parent)
    for name in filenames:
        assert not name.endswith((".pyx", ".pxd", ".c", ".so")), name
        if cache_dir:
            assert not str(Path(name).resolve()).startswith(cache_dir), name


# --------------------------------------------------------------------------
# sys._getframe

def own_frame():
    f = sys._getframe()
    return f, f.f_back, f.f_code, f.f_lineno, f.f_globals, f.f_code.co_name


def test_getframe_inside_compiled_function():
    pair = compiled_pair(own_frame)
    me = sys._getframe()
    for compiled in (False, True):
        with pair.side(compiled) as fn:
            f, back, code, lineno, glob, name = fn()
        assert code is fn.__code__
        assert f.f_code is fn.__code__
        assert back is me, "f_back must be the caller's frame"
        assert lineno == line_of(own_frame, "return f, f.f_back")
        assert glob is globals()
        assert name == "own_frame"
    assert pair.compiled.__code__ is not own_frame.__code__


def _probe_caller():
    f = sys._getframe(1)
    return f.f_code.co_name, f.f_lineno, f.f_code.co_filename, f.f_back.f_code.co_name


def calls_probe(probe):
    a = probe()  # PROBE-1
    b = [0,
         probe()]  # PROBE-2
    c = (probe()  # PROBE-3
         if a else None)
    for _ in range(2):
        d = probe()  # PROBE-4
    return a, b[1], c, d


def test_getframe_1_lineno_from_callee():
    out = check(calls_probe, _probe_caller)
    a, b, c, d = out.value
    assert a == ("calls_probe", line_of(calls_probe, "PROBE-1"), THIS_FILE, "_run")
    assert b[1] == line_of(calls_probe, "PROBE-2")
    assert c[1] == line_of(calls_probe, "PROBE-3")
    assert d[1] == line_of(calls_probe, "PROBE-4")


# --------------------------------------------------------------------------
# inspect.stack()

def _probe_stack():
    stack = inspect.stack()
    try:
        return [(fi.function, fi.lineno, fi.filename, fi.code_context, fi.index,
                 tuple(fi.positions)) for fi in stack[:5]]
    finally:
        del stack


def stack_inner(probe, x):
    y = x + 1
    return probe(), y  # STACK-INNER


def stack_outer(probe, x):
    r = stack_inner(probe, x * 2)  # STACK-OUTER
    return r


def test_inspect_stack_matches_interpreted():
    pair = compiled_pair(stack_outer, rebind=[stack_inner])
    (interp, e1), (comp, e2) = _both(pair, _probe_stack, 1)
    assert e1 is None and e2 is None, (e1, e2)
    assert comp == interp
    names = [entry[0] for entry in comp[0][:4]]
    assert names == ["_probe_stack", "stack_inner", "stack_outer", "_both"]
    assert comp[0][1][1] == line_of(stack_inner, "STACK-INNER")
    assert comp[0][2][1] == line_of(stack_outer, "STACK-OUTER")
    _assert_no_generated_files(pair, [entry[2] for entry in comp[0]])


def test_currentframe_chain():
    def probe():
        f = inspect.currentframe().f_back
        chain = []
        while f is not None and f.f_code.co_name != "_both":
            chain.append((f.f_code.co_name, f.f_lineno, f.f_code.co_filename,
                          sorted(f.f_locals)))
            f = f.f_back
        return chain
    pair = compiled_pair(stack_outer, rebind=[stack_inner])
    (interp, _), (comp, _) = _both(pair, probe, 3)
    assert comp == interp
    assert [c[0] for c in comp[0]] == ["stack_inner", "stack_outer"]


# --------------------------------------------------------------------------
# logging

_LOG = logging.getLogger("restrain.tests.frames")


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def _log_helper(msg):
    _LOG.warning(msg, stacklevel=2)


def log_from_compiled(x):
    _LOG.info("value is %s", x)  # LOG-CALL
    _log_helper("via helper")  # LOG-HELPER
    try:
        1 / x
    except ZeroDivisionError:
        _LOG.exception("failed")  # LOG-EXC
    return x * 2


@pytest.fixture
def log_records():
    handler = _Collect()
    old_level, old_propagate = _LOG.level, _LOG.propagate
    _LOG.addHandler(handler)
    _LOG.setLevel(logging.DEBUG)
    _LOG.propagate = False
    try:
        yield handler.records
    finally:
        _LOG.removeHandler(handler)
        _LOG.setLevel(old_level)
        _LOG.propagate = old_propagate


@pytest.mark.parametrize("x", [3, 0])
def test_logging_attribution(log_records, x):
    check(log_from_compiled, x)
    n = len(log_records) // 2
    assert n == (3 if x == 0 else 2)
    interp, comp = log_records[:n], log_records[n:]
    fmt = logging.Formatter()
    for ri, rc in zip(interp, comp):
        for attr in ("funcName", "lineno", "pathname", "filename", "module", "levelname"):
            assert getattr(rc, attr) == getattr(ri, attr), attr
        assert rc.getMessage() == ri.getMessage()
        if ri.exc_info:
            assert fmt.formatException(rc.exc_info) == fmt.formatException(ri.exc_info)
    assert comp[0].funcName == "log_from_compiled"
    assert comp[0].lineno == line_of(log_from_compiled, "LOG-CALL")
    assert comp[0].pathname == THIS_FILE
    assert comp[1].funcName == "log_from_compiled"
    assert comp[1].lineno == line_of(log_from_compiled, "LOG-HELPER")
    if x == 0:
        assert comp[2].lineno == line_of(log_from_compiled, "LOG-EXC")


def log_stack_info():
    _LOG.info("with stack", stack_info=True)  # LOG-STACK


def test_logging_stack_info(log_records):
    pair = compiled_pair(log_stack_info)
    _both(pair)
    ri, rc = log_records
    assert rc.stack_info == ri.stack_info
    assert f'line {line_of(log_stack_info, "LOG-STACK")}, in log_stack_info' in rc.stack_info


# --------------------------------------------------------------------------
# warnings

def _warn_helper(msg):
    warnings.warn(msg, UserWarning, stacklevel=2)


def warn_from_compiled(kind):
    if kind == 1:
        warnings.warn("direct", UserWarning)  # WARN-DIRECT
    elif kind == 2:
        _warn_helper("via helper")  # WARN-HELPER
    elif kind == 3:
        warnings.warn("to caller", UserWarning, stacklevel=2)
    elif kind == 4:
        warnings.warn("too far up", UserWarning, stacklevel=50)
    return kind


@pytest.mark.parametrize("kind,marker", [(1, "WARN-DIRECT"), (2, "WARN-HELPER"), (3, None),
                                         (4, None)])
def test_warnings_attribution(kind, marker):
    pair = compiled_pair(warn_from_compiled)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _both(pair, kind)
    assert len(caught) == 2
    wi, wc = caught
    assert (wc.filename, wc.lineno, str(wc.message), wc.category) == (
        wi.filename, wi.lineno, str(wi.message), wi.category)
    if marker:
        assert wc.filename == THIS_FILE
        assert wc.lineno == line_of(warn_from_compiled, marker)
    elif kind == 3:
        assert wc.lineno == line_of(_both, "results.append((fn(*args, **kwargs), None))")


def test_warning_registry_once_per_location():
    # The "default" action shows a warning once per (module, line): the
    # registry lives in the globals of the frame the warning is attributed to.
    pair = compiled_pair(warn_from_compiled)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        globals().pop("__warningregistry__", None)
        for _ in range(3):
            pair.call(1)
    assert len(caught) == 1
    assert caught[0].lineno == line_of(warn_from_compiled, "WARN-DIRECT")


# --------------------------------------------------------------------------
# tracebacks through three compiled levels

def tb_level3(x):
    v = int(x)
    return 10 // v


def tb_level2(x):
    y = tb_level3(x) + 1
    return y


def tb_level1(x):
    data = {"x": x}
    return tb_level2(data["x"]) * 2


def _tb_frames(exc):
    out = []
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        out.append((frame.f_code.co_name, lineno, frame.f_code.co_filename,
                    {k: repr(v) for k, v in frame.f_locals.items()}))
    return out


@pytest.mark.parametrize("x", [0, "abc", [1], "5"], ids=repr)
def test_traceback_three_levels(x):
    pair = compiled_pair(tb_level1, rebind=[tb_level2, tb_level3])
    pair.check(x)  # types, args, entries with columns and format_exception
    (vi, ei), (vc, ec) = _both(pair, x)
    if ei is None:
        assert ec is None and vi == vc
        return
    assert type(ec) is type(ei) and ec.args == ei.args
    text_i = "".join(traceback.format_exception(ei))
    text_c = "".join(traceback.format_exception(ec))
    assert text_c == text_i
    frames_i, frames_c = _tb_frames(ei), _tb_frames(ec)
    assert frames_c == frames_i  # names, lines, files and f_locals
    names = [f[0] for f in frames_c]
    assert names == ["_both", "tb_level1", "tb_level2", "tb_level3"]
    assert all(f[2] == THIS_FILE for f in frames_c)
    entries = traceback.extract_tb(ec.__traceback__)
    _assert_no_generated_files(pair, [e.filename for e in entries])
    assert entries[1].line == 'return tb_level2(data["x"]) * 2'
    assert entries[2].line == "y = tb_level3(x) + 1"
    # The compiled frames really are the compiled clones' code objects.
    codes = [frame.f_code for frame, _ in traceback.walk_tb(ec.__traceback__)][1:]
    assert codes[0] is pair.compiled.__code__


def tb_chain_level1(x):
    try:
        return tb_level1(x)
    except ZeroDivisionError as e:
        raise RuntimeError("wrapped") from e


def test_traceback_chained_through_compiled_levels():
    pair = compiled_pair(tb_chain_level1, rebind=[tb_level1, tb_level2, tb_level3])
    out = pair.check(0)
    assert out.exc_type is RuntimeError
    (_, ei), (_, ec) = _both(pair, 0)
    assert "".join(traceback.format_exception(ec)) == "".join(traceback.format_exception(ei))
    _assert_no_generated_files(
        pair, [e.filename for e in traceback.extract_tb(ec.__cause__.__traceback__)])


# --------------------------------------------------------------------------
# deep recursion: RecursionError, not a crash (checked in a subprocess so a
# crash cannot take the test session down)

def deep_recurse(n):
    return deep_recurse(n + 1) + 1


def count_down(n):
    return 0 if n == 0 else count_down(n - 1) + 1


def _recursion_child():
    """Runs in the child process; prints one line per finding."""
    deep = compiled_pair(deep_recurse, rebind=True)
    count = compiled_pair(count_down, rebind=True)
    with count.side(True) as fn:
        print("BEFORE", fn(300))
    for attempt in range(2):
        with deep.side(True) as fn:
            try:
                fn(0)
            except RecursionError as e:
                print("RECURSION-ERROR", attempt, str(e)[:60])
            else:
                print("NO-ERROR", attempt)
    with count.side(True) as fn:
        print("AFTER", fn(300))
    print("DONE")


def test_deep_recursion_raises_recursion_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.setdefault("RESTRAIN_CACHE_DIR", str(tmp_path / "cache"))
    code = ("import sys; sys.path.insert(0, %r); import test_frames; "
            "test_frames._recursion_child()" % TESTS_DIR)
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=300)
    report = f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, report
    lines = proc.stdout.splitlines()
    assert "BEFORE 300" in lines, report
    assert [ln.split()[:2] for ln in lines if ln.startswith(("RECURSION", "NO-ERROR"))] == [
        ["RECURSION-ERROR", "0"], ["RECURSION-ERROR", "1"]], report
    assert all("maximum recursion depth exceeded" in ln
               for ln in lines if ln.startswith("RECURSION")), report
    assert "AFTER 300" in lines and lines[-1] == "DONE", report


# --------------------------------------------------------------------------
# locals(), eval in the frame, zero-argument super()

def with_locals(a, b=2):
    c = a + b
    first = dict(locals())
    del c
    d = [a]  # noqa: F841
    second = dict(locals())
    return first, second, sorted(sys._getframe().f_locals), sorted(vars())


def locals_with_cells(x):
    y = x * 2

    def g():
        return x + y
    inner_locals = dict(locals())
    return inner_locals, g()


def eval_in_frame(a, b):
    c = 3
    exec("d = a")
    return eval("a * b + c"), eval("(a, b, c)"), sorted(locals())


@pytest.mark.parametrize("a", [1, "s"])
def test_locals(a):
    compiled_pair(with_locals).check(a)


def test_locals_with_cells():
    out = check(locals_with_cells, 5)
    assert sorted(out.value[0]) == ["g", "x", "y"]


@pytest.mark.parametrize("a,b", [(2, 5), ("x", 2), (None, 1)], ids=repr)
def test_eval_uses_frame_locals(a, b):
    compiled_pair(eval_in_frame).check(a, b)


class Base:
    def __init__(self, v):
        self.v = v

    def describe(self, tag):
        return f"Base({self.v}, {tag})"

    @classmethod
    def make(cls, v):
        return cls.__name__, v

    def __repr__(self):
        return f"{type(self).__name__}({vars(self)})"


class Derived(Base):
    def __init__(self, v, w):
        super().__init__(v)
        self.w = w

    def describe(self, tag):
        return "Derived:" + super().describe(tag) + str(self.w) + str(super().__class__)

    @classmethod
    def make(cls, v):
        return ("derived",) + super().make(v * 2)

    def rebinds_self(self):
        self = 1  # noqa: F841 - super() then sees a non-instance
        return super().describe("x")

    def explicit(self):
        return super(Derived, self).describe("explicit"), __class__.__name__


def test_super_in_compiled_method():
    check(Derived.describe, Derived(1, 2), "t")
    out = check(Derived.__init__, Derived(0, 0), 5, 6)
    assert out.args[0].v == 5 and out.args[0].w == 6
    check(Derived.__dict__["make"].__func__, Derived, 3)
    check(Derived.explicit, Derived(1, 1))


def test_super_with_rebound_self():
    out = check(Derived.rebinds_self, Derived(1, 1))
    assert out.exc_type is TypeError


def test_super_when_called_through_the_class():
    # A compiled method installed in the class: all the usual call paths.
    pair = compiled_pair(Derived.describe)
    original = Derived.describe
    try:
        Derived.describe = pair.compiled
        d = Derived(7, 8)
        with pair.side(True):
            assert d.describe("m") == Derived.describe(d, "m") == original(d, "m")
    finally:
        Derived.describe = original
