"""Direct calls: compiled code calling a compiled function runs its compiled
entry straight away (csrc/hook.c call_function) on a frame it pushes itself,
without vectorcall or the evaluator (frameless versions, tried before that,
are switched off here).  Every test compares the compiled pair
against plain CPython (tests/difftest.py) and checks that the direct path
really ran (restrain._hook.direct_calls)."""
import sys

import pytest

from difftest import compiled_pair
from restrain import _hook


@pytest.fixture(autouse=True)
def frames_only():
    """These tests are about the direct path with a frame: the small
    callees here would otherwise be answered by their frameless versions
    (test_frameless.py)."""
    previous = _hook.use_frameless(False)
    yield
    _hook.use_frameless(previous)


def direct_calls_during(pair, *args):
    before = _hook.direct_calls()
    pair.check(*args)
    return _hook.direct_calls() - before


# -- frames that outlive the call ---------------------------------------------------

def callee_frame(x):
    y = x * 2
    return sys._getframe()


def keeps_frames(n):
    frames = []
    for i in range(n):
        frames.append(callee_frame(i))
    # the callee's frames are gone from the stack but still readable
    return [(f.f_code.co_name, f.f_locals["x"], f.f_locals["y"], f.f_lineno - f.f_code.co_firstlineno,
             f.f_back.f_code.co_name if f.f_back else None) for f in frames]


def test_frame_objects_outlive_a_direct_call():
    pair = compiled_pair(keeps_frames, rebind=[keeps_frames, callee_frame])
    assert direct_calls_during(pair, 3) == 3


# -- exceptions through direct calls ------------------------------------------------

def divide(a, b):
    q = a // b
    return q


def sum_of_quotients(n):
    total = 0
    for i in range(n):
        total += divide(100, 3 - i)
    return total


def test_exception_traceback_through_a_direct_call():
    pair = compiled_pair(sum_of_quotients, rebind=[sum_of_quotients, divide])
    assert direct_calls_during(pair, 3) == 3
    assert direct_calls_during(pair, 5) == 4       # ZeroDivisionError at i == 3: same traceback


def traceback_locals(n):
    try:
        sum_of_quotients(n)
    except ZeroDivisionError as e:
        tb = e.__traceback__
        out = []
        while tb is not None:
            out.append((tb.tb_frame.f_code.co_name, dict(tb.tb_frame.f_locals)))
            tb = tb.tb_next
        return out[1:]


def test_frames_held_by_a_traceback_keep_their_locals():
    pair = compiled_pair(traceback_locals, rebind=[traceback_locals, sum_of_quotients, divide])
    assert direct_calls_during(pair, 5) >= 4


# -- deoptimisation inside a directly called function ------------------------------------

def grow(x):
    return x * x + 1


def iterate_grow(n):
    v = 2
    for i in range(n):
        v = grow(v)        # outgrows int64 on the way: grow deoptimises
    return v


def test_deoptimisation_in_a_directly_called_function():
    pair = compiled_pair(iterate_grow, rebind=[iterate_grow, grow])
    assert direct_calls_during(pair, 9) == 9


# -- recursion ----------------------------------------------------------------------------

def depth(n):
    if n == 0:
        return 0
    return depth(n - 1) + 1


@pytest.mark.parametrize("n", [10, 200, 100000])
def test_recursion_and_recursion_error(n):
    pair = compiled_pair(depth, rebind=True)
    assert direct_calls_during(pair, n) >= min(n, 100)
    # the recursion counter is balanced afterwards
    pair.check(50)


# -- what is not a direct call -------------------------------------------------------------

def with_defaults(a, b=3):
    return a + b


def star_args(*args):
    return len(args)


def calls_other_shapes(n):
    t = 0
    for i in range(n):
        t += with_defaults(i) + with_defaults(i, 1) + star_args(i, i) + with_defaults(b=2, a=i)
    return t


def test_calls_the_direct_path_does_not_take_stay_correct():
    pair = compiled_pair(calls_other_shapes, rebind=[calls_other_shapes, with_defaults, star_args])
    assert direct_calls_during(pair, 4) == 4        # only with_defaults(i, 1) fits exactly


def first_version(x):
    return x + 1


def second_version(x):
    return x + 100


def calls_first(n):
    t = 0
    for i in range(n):
        t += first_version(i)
    return t


def test_replaced_code_is_honoured():
    pair = compiled_pair(calls_first, rebind=[calls_first, first_version])
    pair.check(3)
    clone = [c for f, c in pair._rebind if f is first_version][0]
    original, compiled_code = first_version.__code__, clone.__code__
    try:
        # first_version's compiled clone now has other code: the call site
        # must run that code (second_version's is not compiled: generic path)
        clone.__code__ = first_version.__code__ = second_version.__code__
        pair.check(3)
    finally:
        first_version.__code__, clone.__code__ = original, compiled_code
    pair.check(3)


def test_tracing_takes_the_generic_path():
    pair = compiled_pair(calls_first, rebind=[calls_first, first_version])
    events = []

    def tracer(frame, event, arg):
        if frame.f_code.co_name == "first_version":
            events.append(event)
        return tracer
    with pair.side(True) as fn:
        sys.settrace(tracer)
        try:
            result = fn(2)
        finally:
            sys.settrace(None)
    assert result == 1 + 2
    assert events.count("call") == 2 and events.count("return") == 2


def test_a_paused_thread_takes_the_generic_path():
    """restrain's own threads (hook.pause_thread) never run compiled code
    directly; the direct path reads that per thread, and a thread switch
    in between must not carry one thread's answer over to another."""
    import threading
    pair = compiled_pair(sum_of_quotients, rebind=[sum_of_quotients, divide])
    counts = {}

    def on_a_paused_thread(fn):
        _hook.pause_thread()          # (it runs nothing compiled: no pair.check here)
        before = _hook.direct_calls()
        counts["result"] = fn(3)
        counts["paused"] = _hook.direct_calls() - before

    assert direct_calls_during(pair, 3) == 3          # this thread: direct
    with pair.side(True) as fn:
        worker = threading.Thread(target=on_a_paused_thread, args=(fn,))
        worker.start()
        worker.join()
    assert counts == {"result": sum_of_quotients(3), "paused": 0}
    assert direct_calls_during(pair, 3) == 3          # and this thread again


# -- guards on what a call site found when it was compiled ---------------------------------

class Counter:
    def __init__(self):
        self.n = 0

    def bump(self, k):
        self.n += k
        return self.n


def bump_many(c, n):
    t = 0
    for i in range(n):
        t += c.bump(i)
    return t


def test_method_rebound_after_compiling():
    import restrain
    assert restrain.compile(Counter.bump).ok      # runs only while restrain is active
    pair = compiled_pair(bump_many)
    assert direct_calls_during(pair, Counter(), 5) == 5
    original = Counter.bump
    try:
        Counter.bump = lambda self, k: -k           # the class changed: its version tag too
        assert direct_calls_during(pair, Counter(), 5) == 0
    finally:
        Counter.bump = original
    pair.check(Counter(), 5)


def scaled(x, factor=2):
    return x * factor


def sum_scaled(n):
    t = 0
    for i in range(n):
        t += scaled(i) + scaled(i, 3)
    return t


def test_defaults_replaced_after_compiling():
    pair = compiled_pair(sum_scaled, rebind=[sum_scaled, scaled])
    pair.check(5)
    clone = [c for f, c in pair._rebind if f is scaled][0]
    try:
        scaled.__defaults__ = clone.__defaults__ = (10,)
        assert direct_calls_during(pair, 5) == 5     # scaled(i, 3) only: exact arguments
    finally:
        scaled.__defaults__ = clone.__defaults__ = (2,)


def test_global_function_rebound_after_compiling():
    pair = compiled_pair(calls_first, rebind=[calls_first, first_version])
    pair.check(4)
    g = calls_first.__globals__
    original = g["first_version"]
    try:
        with pair.side(True) as fn:
            g["first_version"] = second_version        # rebound while compiled code runs
            assert fn(4) == sum(i + 100 for i in range(4))
    finally:
        g["first_version"] = original
    pair.check(4)
