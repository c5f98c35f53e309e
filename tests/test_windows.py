"""The evaluator off between windows (runtime._update_window, csrc/hook.c).

With sampling on (the default), restrain's evaluator is switched off once
nothing new turns hot for QUIET_SECONDS, so uncompiled code runs with the
interpreter's inlined calls; compiled functions are then entered through
their function objects, which get a C subclass of `function`.  Each test
runs a program in a fresh interpreter (the windows are process-wide) and
checks what the program sees against plain CPython's behaviour.
"""
import json
import subprocess
import sys
import textwrap

import pytest

# Shared by the programs below: a function with a typed loop (compiles),
# compiled explicitly, then left alone until the window closes.
PRELUDE = textwrap.dedent("""
    import copy, inspect, json, pickle, sys, time, types, weakref
    import restrain
    from restrain import _hook

    def work(n, scale=2, *, bias=0):
        total = bias
        for i in range(n):
            total += (i * scale) % 7
        return total

    class Shape:
        def area_sum(self, n):
            s = 0.0
            for i in range(n):
                s += i * 0.5
            return s

    def wait_closed(timeout=10.0):
        deadline = time.monotonic() + timeout
        while _hook.window()[1] and time.monotonic() < deadline:
            time.sleep(0.05)
        return not _hook.window()[1]

    restrain.enable(threshold=1000000)       # the sampler runs: windows mode
    assert restrain.compile(work).ok and restrain.compile(Shape.area_sum).ok
    work(10); Shape().area_sum(10)          # seen by the evaluator: swapped
    closed = wait_closed()
    out = {"closed": closed, "window": list(_hook.window())}
""")


def run_source(source, evaluator="windows", timeout=300):
    """Run `source` in a fresh interpreter: windows mode (the default, with
    sampling) or the evaluator always on; returns the finished process."""
    import os
    env = dict(os.environ)
    env.pop("RESTRAIN_SAMPLE", None)
    env.pop("RESTRAIN_EVALUATOR", None)
    if evaluator == "always":
        env["RESTRAIN_EVALUATOR"] = "always"
    proc = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True,
                          timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def result_of(proc):
    """The JSON the program printed after RESULT."""
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def run_program(body):
    proc = run_source(PRELUDE + textwrap.dedent(body) + "\nprint('RESULT ' + json.dumps(out))\n")
    return result_of(proc), proc


def test_window_closes_and_compiled_code_still_runs():
    out, _ = run_program("""
        calls_before = _hook.info(work.__code__)[0]
        out["results"] = [work(1000), work(1000, 3), work(1000, scale=5, bias=1)]
        out["calls_added"] = _hook.info(work.__code__)[0] - calls_before
        out["installed"] = _hook.is_installed()
        out["state"] = _hook.info(work.__code__)[1]
    """)
    assert out["closed"], out
    windows, counting, swaps = out["window"]
    assert windows == 1 and counting == 0 and swaps >= 2
    expected = [sum((i * s) % 7 for i in range(1000)) + b for s, b in ((2, 0), (3, 0), (5, 1))]
    assert out["results"] == expected
    assert out["calls_added"] == 3          # every call entered the compiled code
    assert out["installed"] and out["state"] == "compiled"


def test_interpreted_calls_with_every_argument_enter_compiled_code_directly():
    # a call of a swapped function with exactly its positional arguments
    # runs the compiled entry on a frame hook.c pushes itself (run_direct);
    # defaults or keywords go through _PyEval_Vector and the evaluator
    out, _ = run_program("""
        def scaled(n, k, base=0):
            total = base
            for i in range(n):
                total += i * k
            return total
        assert restrain.compile(scaled, arg_types=(int, int, int)).ok
        scaled(3, 1, 0)
        wait_closed()
        calls = _hook.info(scaled.__code__)[0]
        before = _hook.direct_calls()
        out["direct_results"] = [scaled(10, 2, 0), scaled(5, 3, 1),
                                 scaled(4, 0.5, 0), scaled(10, 2 ** 62, 0)]   # deoptimise: a float, big ints
        out["direct"] = _hook.direct_calls() - before
        before = _hook.direct_calls()
        out["other_results"] = [scaled(10, 2), scaled(5, k=3, base=1), scaled(*[10, 2, 0])]
        out["other_direct"] = _hook.direct_calls() - before
        out["calls"] = _hook.info(scaled.__code__)[0] - calls
        out["swapped"] = type(scaled) is not types.FunctionType
        try:
            scaled("x", 2, 0)
        except TypeError as e:
            out["error"] = str(e)
    """)
    assert out["swapped"]
    assert out["direct_results"] == [90, 31, 3.0, 45 * 2 ** 62]
    assert out["direct"] == 4
    assert out["other_results"] == [90, 31, 90]
    assert out["other_direct"] == 1                  # f(*[...]) is positional and complete too
    assert out["calls"] == 7                         # every call entered the compiled code
    assert out["error"] == "'str' object cannot be interpreted as an integer"


def test_swapped_function_behaves_like_a_function():
    out, _ = run_program("""
        out["type_name"] = type(work).__name__
        out["isinstance"] = isinstance(work, types.FunctionType)
        out["isfunction"] = inspect.isfunction(work)
        out["signature"] = str(inspect.signature(work))
        out["pickle"] = pickle.loads(pickle.dumps(work)) is work
        out["copy"] = copy.copy(work) is work and copy.deepcopy(work) is work
        out["weakref"] = weakref.ref(work)() is work
        work.tag = "x"
        out["dict"] = work.__dict__ == {"tag": "x"}
        out["repr"] = repr(work).startswith("<function work at ")
        out["name"] = [work.__name__, work.__qualname__, work.__code__.co_name]
        out["method"] = Shape().area_sum(4)
        out["bound"] = repr(Shape().area_sum).startswith("<bound method Shape.area_sum of")
        out["sorted"] = sorted([3, 1, 2], key=work)
    """)
    assert out["closed"]
    assert out["type_name"] == "function"
    assert out["isinstance"] and out["isfunction"]
    assert out["signature"] == "(n, scale=2, *, bias=0)"
    assert out["pickle"] and out["copy"] and out["weakref"] and out["dict"] and out["repr"]
    assert out["name"] == ["work", "work", "work"]
    assert out["method"] == 3.0 and out["bound"]
    assert out["sorted"] == sorted([3, 1, 2], key=lambda n: sum((i * 2) % 7 for i in range(n)))


def test_errors_frames_and_tracing_through_a_swapped_function():
    out, _ = run_program("""
        def failing(n):
            total = 0
            for i in range(n):
                total += 10 // (3 - i)
            return total
        def frames(n):
            for i in range(n):
                pass
            return sys._getframe().f_code.co_name, sys._getframe(1).f_code.co_name
        for f in (failing, frames):
            assert restrain.compile(f).ok
        frames(1)
        try:
            failing(1)
        except ZeroDivisionError:
            pass
        wait_closed()
        out["swapped"] = type(failing) is not types.FunctionType
        try:
            failing(5)
        except ZeroDivisionError as e:
            import traceback
            out["tb"] = [(fs.name, fs.lineno - failing.__code__.co_firstlineno, fs.line)
                         for fs in traceback.extract_tb(e.__traceback__)][-1]
        out["frames"] = list(frames(2))
        def traced(func):
            events = []
            def tracer(frame, event, arg):
                if frame.f_code.co_name == "work":
                    events.append((event, frame.f_lineno))
                return tracer
            sys.settrace(tracer)
            result = func(3)
            sys.settrace(None)
            return result, events
        uncompiled = types.FunctionType(work.__code__.replace(), globals(), "work", work.__defaults__)
        uncompiled.__kwdefaults__ = work.__kwdefaults__
        out["traced"] = traced(work)
        out["traced_plain"] = traced(uncompiled)
        def deep(n):
            for i in range(1):
                pass
            return deep(n + 1)
        assert restrain.compile(deep).ok
        try:
            deep(0)
        except RecursionError:
            out["recursion"] = True
    """)
    assert out["swapped"]
    assert out["tb"][:2] == ["failing", 3]       # (the -c source has no line text)
    assert out["frames"] == ["frames", "<module>"]
    assert out["traced"] == out["traced_plain"]
    result, events = out["traced"]
    assert result == 6 and events[0][0] == "call" and events[-1][0] == "return" and len(events) > 5
    assert out["recursion"]


def test_disable_turns_swapped_functions_back():
    out, _ = run_program("""
        out["before"] = type(work) is types.FunctionType
        restrain.disable()
        out["result"] = work(100)
        out["after"] = type(work) is types.FunctionType
        out["installed"] = _hook.is_installed()
    """)
    assert out["before"] is False
    assert out["result"] == sum((i * 2) % 7 for i in range(100))
    assert out["after"] is True and out["installed"] is False


def test_function_made_while_the_window_is_closed_gets_routed():
    out, _ = run_program("""
        def make(k):
            def inner(n):
                t = 0
                for i in range(n):
                    t += (i * k) % 5
                return t
            return inner
        first = make(1)
        assert restrain.compile(first).ok
        wait_closed()
        late = make(3)                        # a new function object, window closed
        out["late_plain_at_first"] = type(late) is types.FunctionType
        deadline = time.monotonic() + 20
        while type(late) is types.FunctionType and time.monotonic() < deadline:
            late(200000)                      # long enough for the sampler to see it
        out["late_swapped"] = type(late) is not types.FunctionType
        out["result"] = late(1000)
    """)
    assert out["late_plain_at_first"]
    assert out["late_swapped"]
    assert out["result"] == sum((i * 3) % 5 for i in range(1000))


LOOPLESS = """
import restrain, json
def small(a, b):
    return a * b + 1
restrain.enable(threshold=50, sync=True)
for i in range(200):
    small(i, 2)
print("RESULT " + json.dumps({f["name"]: [f["status"], f["reason"]] for f in restrain.stats()["functions"]}))
"""


@pytest.mark.parametrize("evaluator", ["windows", "always"])
def test_loopless_functions_are_left_to_the_interpreter_only_in_windows_mode(evaluator):
    status, reason = result_of(run_source(LOOPLESS, evaluator))["small"]
    if evaluator == "windows":
        assert status == "interpreted" and "no loop" in reason
    else:
        assert status == "compiled"


LEAF = """
import json, restrain
from restrain import _hook

def leaf(i, j):                     # no loop: left to the interpreter...
    return 1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)

def helper(i):                      # ...and this one, which calls a Python function
    return leaf(i, 2) + 1.0

def outer(n):
    total = 0.0
    for i in range(n):
        total += leaf(i, 3) * 2.0 + helper(i)
    return total

def status(f):
    return [(r["status"], r["compiled_callers_only"]) for r in restrain.stats()["functions"]
            if r["qualname"] == f.__qualname__]

restrain.enable(threshold=50)
for _ in range(60):
    leaf(1, 2)
    helper(1)
before = status(leaf), status(helper)
expected = outer(200)
assert restrain.compile(outer).ok
got = outer(200)                    # compiled: calls leaf 200 times, the threshold is 50
assert restrain.wait(60)
got_again = outer(200)              # helper and leaf compiled: calls between them are direct
direct_before = _hook.direct_calls()
for _ in range(100):
    leaf(1, 2)                      # interpreted callers: the interpreter's own (inlined) calls
print("RESULT " + json.dumps({"before": before, "after": [status(leaf), status(helper)],
                              "same": got == expected == got_again,
                              "swapped": type(leaf) is not type(status),
                              "direct_from_interpreter": _hook.direct_calls() - direct_before}))
"""


def test_leaf_called_from_compiled_code_is_compiled():
    """Deterministic, not left to the sampler's luck: the direct-call path
    counts the calls compiled code makes to a function left to the
    interpreter (hook.c, leaf_callback).  Both functions are drawn in,
    helper although it calls a Python function (runtime._compile_leaf),
    for compiled callers only: the interpreter's calls of leaf stay its
    own inlined calls, the function object keeps its type."""
    out = result_of(run_source(LEAF))
    assert out["before"] == [[["interpreted", False]], [["interpreted", False]]]
    assert out["after"] == [[["compiled", True]], [["compiled", True]]]
    assert out["same"]
    assert not out["swapped"]
    assert out["direct_from_interpreter"] == 0

DRAWN_IN = """
import json, restrain

class Shape:
    def __init__(self, k):
        self.k = k

    def area(self):                 # no loop: left to the interpreter...
        return self.k * 2 + self.unit()

    def unit(self):                 # ...and this one, which area calls
        return 1

class Other:
    def area(self):                 # same name, another class: drawn in too (by name)
        return 0

def total(shapes, n):
    t = 0
    for i in range(n):
        t += (i * 3 + 1) * 2 - (i ^ 5) + (i & 7) * 3
        if i < 0:                   # never: compiled, it never calls area itself
            t += shapes[i % 10].area()
    return t

def status(f):
    return [(r["status"], r["compiled_callers_only"]) for r in restrain.stats()["functions"]
            if r["qualname"] == f.__qualname__]

shapes = [Shape(i) for i in range(9)] + [Other()]
restrain.enable(threshold=50)
for _ in range(60):
    [s.area() for s in shapes]
before = status(Shape.area), status(Shape.unit), status(Other.area)
expected = total(shapes, 300)
for _ in range(60):                 # hot by its calls: a typed loop, compiled...
    got = total(shapes, 300)
assert restrain.wait(60)
got = total(shapes, 300)
print("RESULT " + json.dumps({"before": before, "total": status(total),
                              "after": [status(Shape.area), status(Shape.unit), status(Other.area)],
                              "same": got == expected}))
"""


def test_hot_callees_are_drawn_in_with_their_caller():
    """A function compiled for being hot: the hot methods it calls by name,
    and the ones those call, come along in the same compile
    (runtime._leaf_callees), for compiled callers only, instead of each
    turning hot later through calls from compiled code (which this
    compiled loop never makes: only the compile itself draws them in)."""
    out = result_of(run_source(DRAWN_IN))
    assert out["before"] == [[["interpreted", False]]] * 3
    assert out["total"] == [["compiled", False]]
    assert out["after"] == [[["compiled", True]]] * 3
    assert out["same"]


DEEP = """
import sys, json, restrain
from restrain import _hook
sys.setrecursionlimit(150000)

def depth(n):
    if n == 0:
        return 0
    return depth(n - 1) + 1

restrain.enable()
assert restrain.compile(depth, arg_types=(int,)).ok
depth(10)                                   # seen by the evaluator: swapped
import time
deadline = time.monotonic() + 10
while _hook.window()[1] and time.monotonic() < deadline:
    time.sleep(0.05)
before = _hook.direct_calls()
result = depth(100000)                      # plain 3.11 recurses this deep without the C stack
print("RESULT " + json.dumps({"result": result, "direct": _hook.direct_calls() - before,
                              "closed": not _hook.window()[1]}))
"""


def test_deep_recursion_does_not_exhaust_the_c_stack():
    out = result_of(run_source(DEEP))
    assert out["result"] == 100000 and out["closed"]
    assert out["direct"] > 1000         # compiled as deep as the C stack allows, then interpreted


DEEP_AT_START = """
import sys, restrain
sys.setrecursionlimit(150000)
restrain.enable()                 # the window is open: the evaluator sees every call

def walk(n):
    return 0 if n == 0 else walk(n - 1) + 1

print(walk(100000), restrain.is_enabled())
print(walk(100000), restrain.is_enabled())
"""


@pytest.mark.parametrize("evaluator", ["windows", "always"])
def test_deep_recursion_while_the_evaluator_is_on(evaluator):
    proc = run_source(DEEP_AT_START, evaluator)
    assert proc.stdout.split() == ["100000", "True", "100000", "True"]



HOT_LOOP = """
def hot(n):                       # a loop of typed work: compiled once hot
    s = 0
    for i in range(n):
        s += i * i
    return s
"""

THREADS_SEEN = """
import threading, restrain
restrain.enable(threshold=5)      # sampling and background compiles: two threads of restrain's
""" + HOT_LOOP + """
for _ in range(20):
    hot(1000)
assert restrain.wait(60)
status = [f["status"] for f in restrain.stats()["functions"] if f["name"] == "hot"]
print(status, threading.active_count(), [t.name for t in threading.enumerate()])
"""


def test_restrain_threads_are_not_the_programs():
    # a program (or its test suite) that checks its threads sees only its own
    proc = run_source(THREADS_SEEN)
    assert proc.stdout.split("\n")[0] == "['compiled'] 1 ['MainThread']"


PREWARM = """
import sys, restrain
from restrain import _hook, runtime
runtime.QUIET_SECONDS = 60        # the window stays open: every call below is counted
restrain.enable(threshold=10)

def loopless(x):
    return x + 1
""" + HOT_LOOP + """
for _ in range(7):
    loopless(1)                   # halfway to hot, but it will not be compiled
before = "restrain.load" in sys.modules
for _ in range(7):
    hot(10)                       # halfway to hot, and worth compiling
print(before, "restrain.load" in sys.modules, _hook.info(hot.__code__)[1])
"""


def test_loader_is_imported_before_the_first_compiled_function_turns_hot():
    # a function that will not be compiled does not use up the one early
    # import: a warm start then loads its first function in about a
    # millisecond instead of importing the loader at that moment
    assert run_source(PREWARM).stdout.split() == ["False", "True", "counting"]


LEAF_WITH_CALLER = """
import json, tempfile, restrain
from restrain import runtime
runtime.QUIET_SECONDS = 60        # the window stays open: every call below is counted
restrain.configure(cache_dir=tempfile.mkdtemp())    # built here, not found in the cache
restrain.enable(threshold=50)

def leaf(x):
    return x * 3 + 1              # no loop: left to the interpreter when it turns hot

def caller(n):
    s = 0
    for i in range(n):
        s += leaf(i) * 2 + i * i - i % 7 + (i << 1)    # typed work enough to be worth compiling
    return s

for _ in range(60):
    leaf(1)
first = {f["name"]: f["status"] for f in restrain.stats()["functions"]}
for _ in range(60):
    caller(10)
assert restrain.wait(120)
out = {f["name"]: f for f in restrain.stats()["functions"]}
print("RESULT " + json.dumps({"leaf_first": first["leaf"], "status": {k: v["status"] for k, v in out.items()},
                              "sources": {k: open(v["source_path"]).read() for k, v in out.items() if v["source_path"]},
                              "result": caller(10)}))
"""


def test_leaf_is_compiled_with_its_caller():
    # a small function left to the interpreter, called by a function that
    # turns hot, is compiled with it, into the same module
    out = result_of(run_source(LEAF_WITH_CALLER))
    assert out["leaf_first"] == "interpreted"
    assert out["status"] == {"leaf": "compiled", "caller": "compiled"}
    assert out["result"] == sum((i * 3 + 1) * 2 + i * i - i % 7 + (i << 1) for i in range(10))
    for source in out["sources"].values():
        assert "for leaf (" in source or "for caller (" in source
        assert "rs_entry(RsFrame *f)" in source and source.count("_rs_entry(RsFrame *f):") == 2


SAMPLED_ON_MAIN_THREAD = """
import json, threading, time, restrain
from restrain import runtime
threads = []
real = runtime._on_hot
def on_hot(code, *args, **kwargs):
    if code.co_name == "spin":
        threads.append(threading.current_thread() is threading.main_thread())
    return real(code, *args, **kwargs)
runtime._on_hot = on_hot
joined = threading.Event()
real_decision = runtime._why_not_compile
def slow_decision(*args, **kwargs):   # still deciding when the main thread calls wait()
    if threading.current_thread() is not threading.main_thread():
        joined.wait(30)
        time.sleep(0.3)
    return real_decision(*args, **kwargs)
runtime._why_not_compile = slow_decision
restrain.enable()

def spin(n):                      # called 15 times: found by the sampler, not by counting calls
    s = 0
    for i in range(n):
        s += i * i % 7
    return s

def main():
    for _ in range(15):
        spin(1000000)

if MAIN_BLOCKED:                  # the main thread waits in join() while another thread spins
    t = threading.Thread(target=main)
    t.start()
    t.join()
    joined.set()
else:
    main()
restrain.wait(120)
status = [f["status"] for f in restrain.stats()["functions"] if f["name"] == "spin"]
print("RESULT " + json.dumps({"threads": threads, "status": status}))
"""


@pytest.mark.parametrize("main_blocked", [False, True])
def test_sampled_hot_function_is_taken_up_by_the_main_thread(main_blocked):
    # on the main thread a cache lookup does not wait for the GIL after every
    # system call; a main thread blocked in join() is not waited for
    out = result_of(run_source(SAMPLED_ON_MAIN_THREAD.replace("MAIN_BLOCKED", str(main_blocked))))
    assert out["status"] == ["compiled"]
    assert out["threads"][0] is (not main_blocked)


SEEN_ONCE = """
import json, tempfile, time, restrain
from restrain import runtime
runtime.SAMPLE_SECONDS = runtime.QUIET_SAMPLE_SECONDS = 0.1
restrain.configure(cache_dir=tempfile.mkdtemp())
restrain.enable()

def LOOPING(n):                   # one call of 0.2-0.3 s: seen in 1-3 samples
    s = 0
    for i in range(n):
        s += i * i % 7
    return s

def main():                       # (a function called by the module body is not compiled)
    n = 1000
    start = time.perf_counter()
    while time.perf_counter() - start < 0.01:
        n *= 2
        start = time.perf_counter()
        LOOPING(n)
    LOOPING(int(n * 0.2 / max(time.perf_counter() - start, 1e-6)))

main()
deadline = time.monotonic() + 10
status = {}
while time.monotonic() < deadline:
    status = {f["name"]: f["status"] for f in restrain.stats()["functions"]}
    if status.get("LOOPING") == "compiled":
        break
    time.sleep(0.05)
print("RESULT " + json.dumps(status))
"""


def test_a_function_with_a_loop_is_hot_after_one_sample():
    # a long loop called once per round of a program is found at once, not
    # after three rounds (runtime.LOOP_HOT_SAMPLES; fails with 3)
    out = result_of(run_source(SEEN_ONCE.replace("LOOPING", "spin")))
    assert out.get("spin") == "compiled"


OVERFLOWING_LOOP = """
import json, tempfile, types, restrain
from restrain import runtime
runtime.QUIET_SECONDS = 60
restrain.configure(cache_dir=tempfile.mkdtemp())
restrain.enable(threshold=20)

def power_sum(base, count):       # outgrows 64 bits: every guess of its loop fails
    total = 0
    power = 1
    for _ in range(count):
        total += power
        power *= base
    return total

def small_sum(count):             # stays small: compiled for good
    total = 0
    for i in range(count):
        total += i * 3
    return total

for _ in range(30):
    power_sum(3, 10), small_sum(10)
assert restrain.wait(120)
results = []
for _ in range(3):                # each version deoptimises DEOPT_LIMIT times, at other sites
    results += [power_sum(3, 60 + k) for k in range(30)]
    assert restrain.wait(120)
results.append(small_sum(100))
out = {f["name"]: [f["status"], f["reason"]] for f in restrain.stats()["functions"]}
print("RESULT " + json.dumps({"results": [str(r) for r in results], "functions": out,
                              "plain": [type(f) is types.FunctionType for f in (power_sum, small_sum)]}))
"""


def test_loop_whose_guesses_all_fail_goes_back_to_the_interpreter():
    # without its failed guesses the loop would do generic work on big ints,
    # which the interpreter does as fast: no second version is compiled
    out = result_of(run_source(OVERFLOWING_LOOP))
    expected = [sum(3 ** k for k in range(60 + j)) for j in range(30)] * 3 + [sum(i * 3 for i in range(100))]
    assert out["results"] == [str(r) for r in expected]
    assert out["functions"]["power_sum"][0] == "interpreted"
    assert out["functions"]["power_sum"][1].startswith("deoptimised")
    assert out["functions"]["small_sum"][0] == "compiled"
    # a plain function again, which the interpreter calls inlined (a compiled
    # one has restrain's function type, which routes calls to its entry)
    assert out["plain"] == [True, False]


GROWING_PAIR = """
import json, tempfile, restrain
from restrain import runtime
runtime.QUIET_SECONDS = 60
restrain.configure(cache_dir=tempfile.mkdtemp())
restrain.enable(threshold=20)

def fibonacci(count):             # outgrows 64 bits after 92 steps
    a, b = 0, 1
    for _ in range(count):
        a, b = b, a + b
    return a

for _ in range(30):
    fibonacci(10)
# too little typed work for a function found by its call count (the sampler
# finds int_overflow's running): compiled on request
assert restrain.compile(fibonacci).ok
results = []
for _ in range(3):
    results += [fibonacci(80 + k) for k in range(30)]
    assert restrain.wait(120)
out = {f["name"]: [f["status"], f["versions"], f["deopt_sites"]] for f in restrain.stats()["functions"]}
print("RESULT " + json.dumps({"results": [str(r) for r in results], "functions": out}))
"""


def test_a_range_loop_with_one_big_integer_operation_is_compiled_again_without_its_guess():
    # a range loop's step and its loads and stores gain when compiled, and
    # a big-integer addition costs compiled code what it costs the
    # interpreter: the version without the failed guess stays compiled
    # (power_sum above, with two such operations to one step, does not)
    out = result_of(run_source(GROWING_PAIR))

    def fibonacci(count):
        a, b = 0, 1
        for _ in range(count):
            a, b = b, a + b
        return a
    assert out["results"] == [str(fibonacci(80 + k)) for k in range(30)] * 3
    status, versions, sites = out["functions"]["fibonacci"]
    assert status == "compiled" and versions >= 2 and sites


SMALL_STACK = """
import sys, threading, restrain
sys.setrecursionlimit(30000)

def down(n):                      # pure typed recursion: its C version
    if n == 0:
        return 0
    return down(n - 1) + 1

def down_obj(n, seen):            # compiled with frames
    if n == 0:
        return len(seen)
    return down_obj(n - 1, seen) + 1

for _ in range(3):
    down(10), down_obj(10, [])
assert restrain.compile(down, (int,)).ok and restrain.compile(down_obj, (int, list)).ok
out = []
threading.stack_size(STACK_KIB * 1024)
t = threading.Thread(target=lambda: out.append((down(15000), down_obj(15000, [1]))))
t.start()
t.join()
print(out)
"""


@pytest.mark.parametrize("stack_kib", [64, 256, 1024])
def test_deep_recursion_in_a_thread_with_a_small_stack(stack_kib):
    # the interpreter recurses 15000 deep there without C recursion; compiled
    # code recursed on the C stack and crashed the process below 1 MiB of
    # stack (its limit was "unknown, never low")
    proc = run_source(SMALL_STACK.replace("STACK_KIB", str(stack_kib)), evaluator="always")
    assert proc.stdout.split("\n")[0] == "[(15000, 15001)]"


PENDING_CALLS = """
import sys
from restrain import _hook
called = []

def note(where):
    def callback():
        called.append(where)
        raise ValueError("restrain's callbacks log their own errors")   # must not reach the program
    return callback

def queue_and_run(where):
    _hook.call_on_main_thread(note(where))
    for _ in range(1000):        # the main thread polls its eval breaker on this back-edge
        pass

def deep(n):
    if n == 0:
        queue_and_run("deep")
        return
    deep(n - 1)

queue_and_run("shallow")
deep(sys.getrecursionlimit() - 60)   # under 200 frames left: skipped (the sampler does it)
queue_and_run("shallow again")
print(called)
"""


def test_main_thread_callbacks_keep_out_of_deep_recursion():
    # restrain's code run near the recursion limit could hit it there; and
    # an Exception it raises is dropped, never printed or raised in the program
    proc = run_source(PENDING_CALLS)
    assert proc.stdout.split("\n")[0] == "['shallow', 'shallow again']"
    assert proc.stderr == ""


def test_a_loop_left_after_deoptimising_is_not_loaded_again_in_the_next_run(tmp_path):
    """The cache notes that power_sum deoptimised for good: the next run
    leaves it to the interpreter at once instead of loading its version and
    deoptimising again, with the same results; small_sum is compiled in
    both runs.  Noted for a limited number of runs (cache.LEFT_RUNS)."""
    from restrain import cache
    from restrain.runtime import DEOPTIMISED_BEFORE_REASON, DEOPTIMISED_REASON
    source = OVERFLOWING_LOOP.replace("tempfile.mkdtemp()", repr(str(tmp_path / "cache")))
    first = result_of(run_source(source))
    second = result_of(run_source(source))
    assert first["results"] == second["results"]
    assert first["functions"]["power_sum"] == ["interpreted", DEOPTIMISED_REASON]
    assert second["functions"]["power_sum"] == ["interpreted", DEOPTIMISED_BEFORE_REASON]
    assert first["functions"]["small_sum"][0] == second["functions"]["small_sum"][0] == "compiled"
    notes = list((tmp_path / "cache").glob("*/left_*"))
    assert len(notes) == 1 and notes[0].read_text() == "1"
    notes[0].write_text(str(cache.LEFT_RUNS - 1))      # its last run: tried again
    third = result_of(run_source(source))
    assert third["results"] == first["results"]
    assert third["functions"]["power_sum"] == ["interpreted", DEOPTIMISED_REASON]


def test_the_sampler_slows_down_once_the_program_has_settled(monkeypatch):
    # every sample hands the GIL over and back: once nothing has turned hot
    # for SETTLED_SECONDS, one every SETTLED_SAMPLE_SECONDS; news, or a
    # report waiting to be taken up, brings the quicker pace back
    from restrain import runtime

    class Hook:
        counting = 0

        def window(self):
            return (1, self.counting, 0)

    hook, now = Hook(), [1000.0]
    monkeypatch.setattr(runtime.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(runtime._state, "window_until", 1000.0)
    assert runtime._sample_interval(hook, []) == runtime.QUIET_SAMPLE_SECONDS
    now[0] += runtime.SETTLED_SECONDS + 0.01
    assert runtime._sample_interval(hook, []) == runtime.SETTLED_SAMPLE_SECONDS
    assert runtime._sample_interval(hook, [(0.0, None, ())]) == runtime.QUIET_SAMPLE_SECONDS
    hook.counting = 1
    assert runtime._sample_interval(hook, []) == runtime.SAMPLE_SECONDS
    hook.counting = 0
    runtime._note_activity()
    assert runtime._sample_interval(hook, []) == runtime.QUIET_SAMPLE_SECONDS
    assert runtime.SETTLED_SAMPLE_SECONDS > 5 * runtime.QUIET_SAMPLE_SECONDS


NEW_PHASE = """
import json, time, restrain
from restrain import runtime
restrain.enable(threshold=1000000)      # found by the sampler only

def phase_two(n):                        # a long loop, called rarely
    total = 0
    for i in range(n):
        total += (i * 7) % 13
    return total

time.sleep(runtime.SETTLED_SECONDS + 0.5)    # settled: nothing turned hot
settled = runtime._sample_interval(runtime._hook(), []) == runtime.SETTLED_SAMPLE_SECONDS
start = time.monotonic()
while time.monotonic() - start < 20:
    phase_two(300_000)
    restrain.wait(5)
    if any(f["name"] == "phase_two" and f["status"] == "compiled" for f in restrain.stats()["functions"]):
        break
print("RESULT " + json.dumps({"settled": settled, "seconds": time.monotonic() - start,
                              "result": phase_two(1000)}))
"""


def test_a_settled_program_still_has_a_new_loop_compiled():
    out = result_of(run_source(NEW_PHASE))
    assert out["settled"]
    assert out["result"] == sum((i * 7) % 13 for i in range(1000))
    # found within a sample or two at the settled pace, plus the compile
    assert out["seconds"] < 15, out
