"""Pure typed recursion (emit.PureEmitter): a function whose body is typed
arithmetic on its C-typed arguments and calls of itself also gets a C
version without frames.  Whenever that version cannot go on (an overflow,
division by zero, the recursion limit, the global rebound) the call runs
again with frames, so every result, exception and traceback is the
interpreter's.  Each function is made twice from the same source, each
calling itself through its own globals: one compiled, one interpreted."""
from __future__ import annotations

import sys
import traceback
import uuid

import pytest

import restrain

SOURCES = {
    "fib": "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "fact": "def fact(n):\n    if n <= 1:\n        return 1\n    return n * fact(n - 1)\n",
    "decay": "def decay(n, x):\n    if n <= 0:\n        return x\n    return decay(n - 1, x * 0.5 + 1.0)\n",
    "down": "def down(n):\n    if n == 0:\n        return 0\n    return down(n - 1) + 1\n",
    "divides": ("def divides(n):\n    if n < 0:\n        return 0\n"
                "    return 100 // (n - 3) + divides(n - 1)\n"),
    "linear": "def linear(n):\n    if n < 0:\n        return -n\n    return n * 3 + 1\n",
    "counted": ("CALLS = 0\ndef counted(n):\n    global CALLS\n    CALLS += 1\n"
                "    if n < 2:\n        return n\n    return counted(n - 1) + counted(n - 2)\n"),
}
TYPES = {"decay": (int, float)}
WARMUP = {"decay": (5, 1.0), "divides": (2,)}      # arguments that run every operation


def make(name: str):
    """A fresh function from SOURCES (its own globals and code object)."""
    ns: dict = {}
    exec(compile(SOURCES[name], f"<pure {name} {uuid.uuid4().hex}>", "exec"), ns)
    return ns[name]


def pair(name: str):
    interpreted, compiled = make(name), make(name)
    for _ in range(3):                  # the interpreter's own specialisations: type feedback
        try:
            compiled(*WARMUP.get(name, (5,)))
        except Exception:  # noqa: BLE001
            pass
    result = restrain.compile(compiled, TYPES.get(name, (int,)))
    assert result.ok, result.reason
    return interpreted, compiled, result.source_path.read_text()


def outcome(func, *args):
    try:
        value = func(*args)
        return ("value", type(value), value)
    except Exception as e:  # noqa: BLE001
        frames = [(f.name, f.lineno) for f in traceback.extract_tb(e.__traceback__)[1:]]
        return ("error", type(e), str(e), frames)


def test_fib_has_a_c_version_and_the_same_results():
    interpreted, compiled, source = pair("fib")
    assert "rs_pure(" in source
    for n in list(range(-2, 26)):
        assert outcome(compiled, n) == outcome(interpreted, n)
    # the calls of fib(20) ran in the C version: its compiled entry ran once
    before = restrain._hook.info(compiled.__code__)[0]
    compiled(20)
    assert restrain._hook.info(compiled.__code__)[0] == before + 1


def test_overflow_gives_the_interpreters_big_integers():
    interpreted, compiled, source = pair("fact")
    assert "rs_pure(" in source
    for n in (1, 5, 20, 21, 25, 60, 120):
        assert outcome(compiled, n) == outcome(interpreted, n)


def test_float_recursion():
    interpreted, compiled, source = pair("decay")
    assert "cdef double rs_pure(" in source
    for n, x in [(0, 3.5), (1, -2.0), (30, 0.1), (200, 1e300), (10, float("inf")), (5, float("nan"))]:
        a, b = outcome(compiled, n, x), outcome(interpreted, n, x)
        assert a[:2] == b[:2] and (a[2] == b[2] or (a[2] != a[2] and b[2] != b[2]))


def test_recursion_limit_is_the_interpreters():
    interpreted, compiled, source = pair("down")
    assert "rs_pure(" in source
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(300)
    try:
        for n in (50, 250, 290, 400, 5000):
            a, b = outcome(compiled, n), outcome(interpreted, n)
            assert a[:3] == b[:3], (n, a[:3], b[:3])
            if a[0] == "error":         # the same frames, each at the same line
                assert a[3] == b[3]
    finally:
        sys.setrecursionlimit(limit)


def test_division_by_zero_has_the_interpreters_traceback():
    interpreted, compiled, source = pair("divides")
    assert "rs_pure(" in source
    for n in (0, 2, 3, 10):
        assert outcome(compiled, n) == outcome(interpreted, n)


def test_rebound_global_is_followed():
    interpreted, compiled, _ = pair("fib")
    assert compiled(10) == 55
    for func in (interpreted, compiled):
        func.__globals__["fib"] = lambda n: 100      # the inner calls now go elsewhere
    assert outcome(compiled, 10) == outcome(interpreted, 10) == ("value", int, 200)


@pytest.mark.parametrize("name", ["counted", "linear"])
def test_side_effects_or_no_recursion_are_not_run_by_a_c_version(name):
    interpreted, compiled, source = pair(name)
    assert "rs_pure_budget" not in source       # the entry does not try one
    if name == "counted":                         # a side effect: there is none
        assert "rs_pure(" not in source           # (linear has one, for its callers: test_pure_calls)
    compiled.__globals__["CALLS"] = interpreted.__globals__["CALLS"] = 0
    assert outcome(compiled, 12) == outcome(interpreted, 12)
    assert compiled.__globals__["CALLS"] == interpreted.__globals__["CALLS"]
    assert outcome(compiled, -4) == outcome(interpreted, -4)
