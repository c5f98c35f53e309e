"""Finding hot functions the evaluator's call counts miss.

A function called once or twice that loops is never hot by its call count:
- its loop calls another function, which turns hot: the caller is found
  through it (runtime._report_loop_caller) and compiled with the callee's C
  version; a caller compiled before its callee is compiled again once the
  callee is (runtime._relink_callers);
- its loop runs long: the evaluator times calls of functions with loops
  while it counts (hook.c, eval_timed; runtime._on_long_call).
Each test runs a program in a fresh interpreter with a cache of its own
(without the stack sampler, which finds such functions only by luck) and
compares its results with the same functions run here by the interpreter.
"""
import json
import subprocess
import sys
import textwrap

import pytest

from conftest import clean_env

FUNCTIONS = textwrap.dedent("""
    def leaf(x, k=3):
        for _ in range(k):
            x = x * 0.5 + 1.0
        return x

    def caller(n):
        total = 0.0
        for i in range(n):
            total += leaf(i * 1.0)
        return total
""")

# a leaf taking a list it loops over: its C version takes the list as it is
LIST_FUNCTIONS = textwrap.dedent("""
    COEFFS = [0.5, -1.25, 2.0, 0.75]

    def leaf(coeffs, x):
        y = 0.0
        for c in coeffs:
            y = y * x + c
        return y

    def caller(n):
        total = 0.0
        for i in range(n):
            total += leaf(COEFFS, i * 0.001)
        return total
""")

REPORT = textwrap.dedent("""
    restrain.wait()
    frames_before = _hook.info(leaf.__code__)[0]
    second = caller(3000)
    records = {r["name"]: r for r in restrain.stats()["functions"]}
    print("RESULT " + json.dumps({
        "first": repr(first), "second": repr(second),
        "caller": _hook.info(caller.__code__)[1], "leaf": _hook.info(leaf.__code__)[1],
        "leaf_frames": _hook.info(leaf.__code__)[0] - frames_before,
        "caller_versions": records.get("caller", {}).get("versions"),
    }))
""")


def run(tmp_path, body: str, functions: str = FUNCTIONS, **env) -> dict:
    source = "import json, time, restrain\nfrom restrain import _hook\n" + functions + textwrap.dedent(body) + REPORT
    return run_source(tmp_path, source, **env)


def run_source(tmp_path, source: str, **env) -> dict:
    """Run `source` in its own interpreter; the JSON of its last RESULT line."""
    proc = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=300,
                          env=clean_env(RESTRAIN_CACHE_DIR=tmp_path / "cache", **env), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def expected(functions: str = FUNCTIONS) -> str:
    ns: dict = {}
    exec(functions, ns)
    return repr(ns["caller"](3000))


def test_a_loop_calling_a_hot_function_is_compiled_with_its_c_version(tmp_path):
    # no sampler: the caller, called once, can only be found through its callee
    out = run(tmp_path, """
        restrain.enable(threshold=200)
        first = caller(3000)
    """, RESTRAIN_SAMPLE="0")
    assert out["first"] == out["second"] == expected()
    assert out["caller"] == "compiled"
    assert out["leaf_frames"] == 0     # the C version, its default filled in


@pytest.mark.parametrize("functions", [FUNCTIONS, LIST_FUNCTIONS], ids=["floats", "list"])
def test_a_caller_compiled_first_is_compiled_again_for_its_callee(tmp_path, functions):
    out = run(tmp_path, """
        restrain.enable(threshold=200)
        assert restrain.compile(caller, arg_types=(int,)).ok     # before leaf is hot
        first = caller(3000)                                      # leaf turns hot
    """, functions, RESTRAIN_SAMPLE="0")
    assert out["first"] == out["second"] == expected(functions)
    assert out["caller_versions"] == 2
    assert out["leaf_frames"] == 0


def test_a_c_version_with_a_default_is_called_outside_a_window(tmp_path):
    # windows mode: a compiled leaf has the swapped function type when the
    # window is closed; its defaults must still be found (rs_default_arg)
    out = run(tmp_path, """
        restrain.enable(threshold=200)
        first = caller(3000)
        restrain.wait()
        leaf(1.0); caller(1)    # in the window the compile opened: the evaluator swaps their type
        deadline = time.monotonic() + 20
        while _hook.window()[1] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _hook.window()[1], "the window did not close"
        assert type(leaf) is not type(lambda: 0), "leaf was not given the swapped type"
    """)
    assert out["first"] == out["second"] == expected()
    assert out["caller"] == out["leaf"] == "compiled"
    assert out["leaf_frames"] == 0


LONG_LOOP = textwrap.dedent("""
    import json, sys, restrain
    from restrain import _hook

    def long_loop(n, scale):
        total = 0
        for i in range(n):
            total += (i * scale) % 7
        return total

    def failing_loop(n):
        total = 0
        for i in range(n):
            total += i % 7
        raise ValueError(total)

    def driver():
        out = [long_loop(400_000, 3)]          # far over 5 ms: reported at its return
        try:
            failing_loop(400_000)
        except ValueError as e:
            out.append(e.args[0])
        restrain.wait()
        out.append(long_loop(400_000, 3))      # compiled
        return out

    restrain.enable(threshold=1000)
    top = long_loop(400_000, 5)                # called by the module body: not reported
    results = driver()
    print("RESULT " + json.dumps({"results": results, "top": top,
        "long_loop": _hook.info(long_loop.__code__)[1], "failing": _hook.info(failing_loop.__code__)[1],
        "driver": _hook.info(driver.__code__)[1],
        "types": [r["name"] for r in restrain.stats()["functions"]]}))
""")


def test_a_long_call_of_a_loop_is_reported_at_its_return(tmp_path):
    proc = subprocess.run([sys.executable, "-c", LONG_LOOP], capture_output=True, text=True, timeout=300,
                          env=clean_env(RESTRAIN_CACHE_DIR=tmp_path / "cache", RESTRAIN_SAMPLE="0"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads([l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1][len("RESULT "):])
    expected = [sum((i * 3) % 7 for i in range(400_000)), sum(i % 7 for i in range(400_000))]
    assert out["results"] == expected + expected[:1]
    assert out["top"] == sum((i * 5) % 7 for i in range(400_000))
    # the first call from a function made it hot; the call from the module
    # body before it did not (main() and the like return only once)
    assert out["long_loop"] == "compiled"
    # a call that raised is not reported: its exception reached the caller as is
    assert out["failing"] == "counting"
    assert out["driver"] == "counting"       # called once, from the module body


SHORT_CALLS = textwrap.dedent("""
    import json, time, restrain
    from restrain import _hook

    def chunk(n, scale):       # 2-4 ms a call: no single call is long
        total = 0
        for i in range(n):
            total += (i * scale) % 7
        return total

    def quick(n):              # well under a millisecond a call
        total = 0
        for i in range(n):
            total += i % 3
        return total

    n = 1000
    while True:                # calibrated on this machine before the evaluator is on
        start = time.perf_counter()
        chunk(n, 3)
        if time.perf_counter() - start >= 0.002:
            break
        n *= 2
    restrain.enable(threshold=10 ** 9)         # call counts never make either hot
    durations, statuses, results = [], [], []
    for _ in range(5):
        start = time.perf_counter()
        results.append(chunk(n, 3))
        durations.append(time.perf_counter() - start)
        restrain.wait()
        statuses.append(_hook.info(chunk.__code__)[1])
    quick_total = sum(quick(500) for _ in range(3000))
    restrain.wait()
    print("RESULT " + json.dumps({"n": n, "results": results, "durations": durations, "statuses": statuses,
                                  "quick_total": quick_total, "quick": _hook.info(quick.__code__)[1]}))
""")


def test_calls_of_a_few_milliseconds_add_up_to_a_long_call(tmp_path):
    # matmul's make_matrix (2.2 ms, three calls a round) was found only when
    # a stack sample happened to land in it: the evaluator now adds up the
    # calls of a millisecond or more (hook.c, eval_timed), not calls of
    # microseconds (quick: 3000 of them stay uncompiled)
    proc = subprocess.run([sys.executable, "-c", SHORT_CALLS], capture_output=True, text=True, timeout=300,
                          env=clean_env(RESTRAIN_CACHE_DIR=tmp_path / "cache", RESTRAIN_SAMPLE="0"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads([l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1][len("RESULT "):])
    assert out["results"] == [sum((i * 3) % 7 for i in range(out["n"]))] * 5
    assert out["quick_total"] == 3000 * sum(i % 3 for i in range(500))
    # reported once its calls had run 5 ms together: at the second or third
    assert out["statuses"][3:] == ["compiled", "compiled"], out
    assert out["quick"] == "counting"


SCRIPT = textwrap.dedent("""
    import json, restrain
    from restrain import _hook

    def main_like(n):      # called once, by the module body outside its loops
        total = 0
        for i in range(n):
            total += (i * 3) % 7
        return total

    def step(n):           # called by the module body's loop
        total = 0
        for i in range(n):
            total += (i * 5) % 7
        return total

    restrain.enable(threshold=1000)
    once = main_like(2_000_000)
    per_round, statuses = [], []
    for _ in range(2):
        per_round.append(step(400_000))
        restrain.wait()
        statuses.append(_hook.info(step.__code__)[1])
    print("RESULT " + json.dumps({"once": once, "per_round": per_round, "statuses": statuses,
                                  "main_like": _hook.info(main_like.__code__)[1]}))
""")


@pytest.mark.parametrize("sample", ["1", "0"])
def test_a_module_body_call_counts_only_from_inside_its_loops(tmp_path, sample):
    # main_like runs once (a sample lands in it when the sampler is on): not
    # compiled; step, long and called by the top-level loop: compiled at
    # its first long call (the sampler off: only timing can find it).  The
    # evaluator stays on: calls are timed only while it counts, and a
    # window closed during main_like's 200 ms left step to a sample's luck
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300,
                          env=clean_env(RESTRAIN_CACHE_DIR=tmp_path / "cache", RESTRAIN_SAMPLE=sample,
                                        RESTRAIN_EVALUATOR="always"),
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads([l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1][len("RESULT "):])
    assert out["once"] == sum((i * 3) % 7 for i in range(2_000_000))
    assert out["per_round"] == [sum((i * 5) % 7 for i in range(400_000))] * 2
    assert out["main_like"] == "counting"
    assert out["statuses"] == ["compiled", "compiled"]


THREAD_TARGET = textwrap.dedent("""
    import _thread, threading, time, restrain

    def long_loop(n):
        total = 0
        for i in range(n):
            total += (i * 3) % 7
        return total

    restrain.enable(threshold=1000)
    results = []
    done = threading.Lock()
    done.acquire()
    def bare(n):
        results.append(long_loop(n))
        done.release()
    # its first long call: at its return no Python frame is left below it
    _thread.start_new_thread(long_loop, (400_000,))
    time.sleep(1.0)
    _thread.start_new_thread(bare, (400_000,))
    done.acquire()
    restrain.wait()
    print("RESULT", results)
""")


def test_a_long_call_with_no_python_caller_is_handled_quietly(tmp_path):
    proc = subprocess.run([sys.executable, "-c", THREAD_TARGET], capture_output=True, text=True, timeout=300,
                          env=clean_env(RESTRAIN_CACHE_DIR=tmp_path / "cache", RESTRAIN_SAMPLE="0"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["RESULT", f"[{sum((i * 3) % 7 for i in range(400_000))}]"]
    assert proc.stderr == ""        # no "internal error" logged


# a function passed as an argument: the evaluator samples it as its code
# object (hook.c argument_type), and its C version goes into the module of
# the function it was passed to (Feedback.arg_callees)
PASSED_FUNCTIONS = textwrap.dedent("""
    def leaf(x):
        return 4.0 / (1.0 + x * x)

    def integrate(f, n):
        total = 0.0
        for i in range(n):
            total += f(i * 0.001)
        return total

    def caller(n):
        return integrate(leaf, n)
""")


@pytest.mark.parametrize("route", ["batch", "relink"])
def test_a_function_passed_in_is_called_in_its_c_version_directly(tmp_path, route):
    # batch: integrate turns hot by its calls just before leaf does, and the
    # two are built into one module (runtime._passed_within); relink:
    # integrate compiled first, as sampled with leaf (its code object), and
    # compiled again once leaf is (runtime._relink_callers, _calls)
    # (run twice by the interpreter first: its specialisations are the type feedback)
    first = ("integrate(leaf, 50); integrate(leaf, 50)\n"
             "assert restrain.compile(integrate, arg_types=(leaf.__code__, int)).ok") if route == "relink" else ""
    source = "import json, restrain\nfrom restrain import _hook, runtime\n" + PASSED_FUNCTIONS + textwrap.dedent("""
        restrain.enable(threshold=200)
        FIRST
        for _ in range(400):
            caller(1)
        restrain.wait()
        record = runtime._state.records[id(integrate.__code__)]
        frames_before = _hook.info(leaf.__code__)[0]
        result = caller(3000)
        print("RESULT " + json.dumps({
            "result": repr(result), "versions": record.versions, "status": record.status,
            "leaf_frames": _hook.info(leaf.__code__)[0] - frames_before,
            "direct": "rs_pure_call_budget(f, <object>" in record.source_path.read_text()}))
    """).replace("FIRST", first)
    proc = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=300,
                          env=clean_env(RESTRAIN_CACHE_DIR=tmp_path / "cache", RESTRAIN_SAMPLE="0"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads([l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1][len("RESULT "):])
    ns: dict = {}
    exec(PASSED_FUNCTIONS, ns)
    assert out["result"] == repr(ns["caller"](3000))
    assert out["status"] == "compiled" and out["direct"], out
    assert out["versions"] == (2 if route == "relink" else 1)
    assert out["leaf_frames"] == 0


# a leaf compiled for 64-bit integers that meets big ones is left to the
# interpreter; its compiled caller, worth compiling only for direct calls
# of the compiled leaf, goes back to the interpreter too
OVERFLOWING = textwrap.dedent("""
    def leaf(base, count):
        total = 0
        power = 1
        for _ in range(count):
            total += power
            power *= base
        return total

    def caller(n):
        total = 0
        for i in range(n):
            total += leaf(3, 45)
        return total
""")


def test_a_caller_compiled_for_a_leaf_left_to_the_interpreter_follows_it(tmp_path):
    source = "import json, restrain\nfrom restrain import _hook, runtime\n" + OVERFLOWING + textwrap.dedent("""
        caller(20); caller(20)                 # the interpreter's specialisations: the feedback
        restrain.enable(threshold=50)
        for _ in range(100):
            leaf(2, 10)                        # hot, compiled for 64-bit integers
        restrain.wait()
        assert restrain.compile(caller, arg_types=(int,)).ok
        first = caller(3000)                   # leaf meets big integers
        restrain.wait()
        second = caller(3000)
        records = {r["name"]: r for r in restrain.stats()["functions"]}
        print("RESULT " + json.dumps({
            "first": repr(first), "second": repr(second),
            "leaf": [records["leaf"]["status"], records["leaf"]["reason"]],
            "caller": [records["caller"]["status"], records["caller"]["reason"], _hook.info(caller.__code__)[1]]}))
    """)
    out = run_source(tmp_path, source)
    ns: dict = {}
    exec(OVERFLOWING, ns)
    assert out["first"] == out["second"] == repr(ns["caller"](3000))
    assert out["leaf"][0] == "interpreted" and out["leaf"][1].startswith("deoptimised"), out
    assert out["caller"][0] == "interpreted", out
    from restrain.runtime import CALLEES_LEFT_REASON
    assert out["caller"] == ["interpreted", CALLEES_LEFT_REASON, "never"], out


BUSY_METHOD = textwrap.dedent("""
    class Node:
        def __init__(self, items):
            self.items = items

        def tiny(self, x):                     # a builtin no frameless version calls: needs a frame
            return round(x) + 1

        def busy(self, xs):                    # a loop of Python calls: stays interpreted
            t = 0
            for x in xs:
                t += self.tiny(x)
            return t


    def caller(node, n):
        total = 0
        for i in range(n):
            total += node.busy(node.items)
        return total
""")


def test_a_compiled_caller_of_a_method_left_to_the_interpreter_follows_it(tmp_path):
    """`caller` compiled before the method its loop calls turned hot (as
    deltablue's make_plan was, before add_constraints_consuming): once the
    method is left to the interpreter for good, the caller goes back too."""
    source = "import json, restrain\nfrom restrain import _hook\n" + BUSY_METHOD + textwrap.dedent("""
        node = Node([1, 2, 3])
        for _ in range(10):
            caller(node, 5)                    # quickened by the interpreter
        restrain.enable(threshold=50)
        assert restrain.compile(caller).ok
        before = _hook.info(caller.__code__)[1]
        _hook.set_counting(True)               # a window open, as after any compile
        result = caller(node, 200)             # busy turns hot, called from compiled code
        restrain.wait()
        records = {r["name"]: r for r in restrain.stats()["functions"]}
        print("RESULT " + json.dumps({
            "result": result, "before": before,
            "busy": [records["busy"]["status"], records["busy"]["reason"]],
            "caller": [records["caller"]["status"], records["caller"]["reason"], _hook.info(caller.__code__)[1]]}))
    """)
    out = run_source(tmp_path, source)
    assert out["result"] == 200 * 9 and out["before"] == "compiled", out
    assert out["busy"][0] == "interpreted", out
    from restrain.runtime import CALLEES_LEFT_REASON
    assert out["caller"] == ["interpreted", CALLEES_LEFT_REASON, "never"], out


def test_a_caller_whose_compile_finishes_after_its_method_was_left_follows_it(tmp_path):
    """The other order: `caller`'s compile is still in flight when the
    method its loop calls is left to the interpreter (then there is no
    compiled caller to release).  When the compile finishes, the caller
    goes straight back to the interpreter."""
    source = "import json, threading, restrain\nfrom restrain import _hook, runtime\n" + BUSY_METHOD + textwrap.dedent("""
        node = Node([1, 2, 3])
        for _ in range(10):
            caller(node, 5)                    # quickened by the interpreter
        restrain.enable(threshold=50)
        gate, held = threading.Event(), threading.Event()
        install = runtime._record_outcome

        def install_when_let_go(code, outcome):
            if code is caller.__code__:
                held.set()
                gate.wait()
            return install(code, outcome)

        runtime._record_outcome = install_when_let_go
        compiling = threading.Thread(target=restrain.compile, args=(caller,))
        compiling.start()
        held.wait()                            # caller's version is built, not installed
        _hook.set_counting(True)
        result = caller(node, 200)             # busy turns hot and is left to the interpreter
        busy_then = [r["status"] for r in restrain.stats()["functions"] if r["name"] == "busy"]
        gate.set()
        compiling.join()
        restrain.wait()
        records = {r["name"]: r for r in restrain.stats()["functions"]}
        print("RESULT " + json.dumps({
            "result": result, "busy_then": busy_then,
            "caller": [records["caller"]["status"], records["caller"]["reason"], _hook.info(caller.__code__)[1]]}))
    """)
    out = run_source(tmp_path, source)
    assert out["result"] == 200 * 9 and out["busy_then"] == ["interpreted"], out
    from restrain.runtime import CALLEES_LEFT_REASON
    assert out["caller"] == ["interpreted", CALLEES_LEFT_REASON, "never"], out


def _steps(count):                 # two typed sites in its loop: the step and the sum
    total = 0
    for i in range(count):
        total += i
    return total


@pytest.mark.parametrize("nanoseconds_a_call, compiled", [(5000, True), (300, False), (None, False)])
def test_a_loop_called_often_is_compiled_if_its_calls_run_long(monkeypatch, nanoseconds_a_call, compiled):
    # reported by its call count, a loop of less typed work than
    # MIN_TYPED_OPS_CALLED is compiled only if its calls, timed while the
    # evaluator counted them, took LONG_PER_CALL_NS or more on average
    # (int_overflow's fibonacci and rising_product); untimed, it is not
    from restrain import runtime
    from restrain.costmodel import MIN_TYPED_OPS_CALLED, work_mix
    for _ in range(20):
        _steps(10)                 # quickened: its sites specialised for ints
    assert 0 < work_mix(_steps.__code__).typed_ops < MIN_TYPED_OPS_CALLED

    class Hook:
        def call_time(self, code):
            assert code is _steps.__code__
            return (0, 0) if nanoseconds_a_call is None else (40, 40 * nanoseconds_a_call)

    monkeypatch.setattr(runtime, "_hook", Hook)
    monkeypatch.setattr(runtime, "_windows_mode", lambda: True)
    reason = runtime._cost_model_reason(_steps.__code__)
    assert (reason is None) == compiled, reason
    assert 5000 > runtime.LONG_PER_CALL_NS > 300


CALL_TIME = textwrap.dedent("""
    import json, time, restrain
    from restrain import _hook

    def steps(count):
        total = 0
        for i in range(count):
            total += i
        return total

    def no_loop(x):
        return x + 1

    restrain.enable(threshold=10 ** 9)     # counting; nothing turns hot
    start = time.perf_counter()
    for _ in range(50):
        steps(2000)
    elapsed = time.perf_counter() - start
    for _ in range(50):
        no_loop(1)
    calls, nanoseconds = _hook.call_time(steps.__code__)
    print("RESULT " + json.dumps({"calls": calls, "seconds": nanoseconds / 1e9, "elapsed": elapsed,
                                  "no_loop": _hook.call_time(no_loop.__code__)}))
""")


def test_the_evaluator_times_the_calls_of_a_function_with_a_loop(tmp_path):
    out = run_source(tmp_path, CALL_TIME, RESTRAIN_SAMPLE="0")
    assert out["calls"] == 50
    assert 0 < out["seconds"] <= out["elapsed"]
    assert out["no_loop"] == [0, 0]
