"""The runtime: hot detection, sync and background compiles, stats, and the
rule that no compile failure ever reaches the program."""
import logging
import sys
import threading
import uuid

import pytest

import restrain
from restrain import build as build_mod
from restrain import cache as cache_mod
from restrain import emit as emit_mod
from restrain import runtime


def make_function(name="hot", body="    return x * 2 + 1\n", unique=True):
    """A fresh code object (compiled entries stick to code objects). With
    unique=False the same name and body give the same content, hence the
    same cache key; unique ones never hit the cache."""
    ns = {}
    src = f"def {name}(x):\n{body}"
    tag = uuid.uuid4().hex if unique else "shared"
    exec(compile(src, f"<test {name} {tag}>", "exec"), ns)
    return ns[name]


def record_for(func):
    return runtime._state.records.get(id(func.__code__))


# Enabling restrain makes every hot function of the process a candidate,
# pytest's own included, so tests that enable it run a small program in a
# subprocess.
ENABLE_SCRIPT = """
import json, sys, restrain
def hot(n):
    total = 0
    for i in range(n):
        total += i * i - i      # enough typed work in the loop to be worth compiling
    return total
def cold(n):
    return n
mode = sys.argv[1]
assert restrain.enable(threshold=5, sync=(mode == "sync"))
assert restrain.is_enabled()
results = [hot(10) for _ in range(10)]
cold(1)
if mode == "async":
    assert restrain.wait(timeout=120)
    results.append(hot(10))
restrain.disable()
print(json.dumps({"results": results, "enabled_after": restrain.is_enabled(),
                  "functions": restrain.stats()["functions"]}))
"""


def run_enable_script(tmp_path, mode):
    import json
    import subprocess
    script = tmp_path / "enable_script.py"
    script.write_text(ENABLE_SCRIPT)
    proc = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_hot_function_compiled(tmp_path, mode):
    out = run_enable_script(tmp_path, mode)
    assert set(out["results"]) == {sum(i * i - i for i in range(10))}
    assert out["enabled_after"] is False
    by_name = {f["qualname"]: f for f in out["functions"]}
    assert by_name["hot"]["status"] == "compiled", by_name["hot"]["reason"]
    assert by_name["hot"]["calls"] >= 10
    assert by_name["hot"]["location"].endswith("enable_script.py:3")
    assert "cold" not in by_name   # called once: never hot


def test_generator_is_unsupported_and_still_works():
    ns = {}
    exec("def gen(n):\n    for i in range(n):\n        yield i\n", ns)
    gen = ns["gen"]
    result = restrain.compile(gen)
    assert not result.ok and result.status == "unsupported"
    assert "generator" in result.reason
    assert list(gen(3)) == [0, 1, 2]
    assert record_for(gen).status == "unsupported"


def test_compile_returns_result_fields():
    f = make_function("fields")
    r = restrain.compile(f)
    assert r.ok and r.reason is None and r.seconds > 0
    assert r.source_path is not None and r.source_path.suffix == ".pyx"
    assert "rs_entry" in r.source_path.read_text()
    assert f(3) == 7


def test_missing_c_compiler_leaves_function_interpreted(monkeypatch, caplog):
    f = make_function("nocc")
    monkeypatch.setattr(build_mod, "compiler_command", lambda: ["/nonexistent/restrain-cc"])
    with caplog.at_level(logging.INFO, logger="restrain"):
        r = restrain.compile(f)
    assert not r.ok and r.status == "failed"
    assert "C compiler not found" in r.reason
    assert f(2) == 5
    failures = [rec for rec in caplog.records if rec.name == "restrain" and "nocc" in rec.getMessage()]
    assert len(failures) == 1


def test_c_compiler_error_is_recorded(monkeypatch):
    f = make_function("ccerr")
    monkeypatch.setattr(build_mod, "compiler_command", lambda: ["sh", "-c", "echo boom >&2; exit 3", "cc"])
    r = restrain.compile(f)
    assert not r.ok and "C compiler failed (3)" in r.reason and "boom" in r.reason
    assert f(1) == 3


def test_compiler_timeout_is_recorded(monkeypatch):
    f = make_function("cctimeout")
    monkeypatch.setattr(build_mod, "compiler_command", lambda: ["sh", "-c", "sleep 5", "cc"])
    monkeypatch.setattr(runtime._state.config, "compile_timeout", 0.2)
    r = restrain.compile(f)
    assert not r.ok and "timed out" in r.reason
    assert f(1) == 3


def test_cython_error_is_recorded(monkeypatch):
    f = make_function("cyerr")
    real = emit_mod.ModuleEmitter.function_lines
    monkeypatch.setattr(emit_mod.ModuleEmitter, "function_lines", lambda self: real(self) + ["cdef cdef nonsense("])
    r = restrain.compile(f)
    assert not r.ok and r.reason.startswith("build: Cython")
    assert f(1) == 3


def test_bug_in_a_stage_names_the_stage(monkeypatch):
    f = make_function("stagebug")
    import restrain.pipeline as pipeline

    def broken(cfg):
        raise RuntimeError("synthetic")
    monkeypatch.setattr(pipeline, "build_ir", broken)
    r = restrain.compile(f)
    assert not r.ok and r.reason == "ir: RuntimeError: synthetic"
    assert f(1) == 3


FILL_CACHE = """
import sys, restrain
restrain.configure(cache_dir=sys.argv[1])
ns = {}
exec(compile("def corrupt(x):\\n    return x * 2 + 1\\n", "<test corrupt>", "exec"), ns)
assert restrain.compile(ns["corrupt"]).ok
"""


def test_corrupt_cache_entry_is_rebuilt(tmp_path):
    import subprocess
    # fill the cache from another process: a module loaded here must never
    # be overwritten in place (that is what the atomic rename prevents)
    subprocess.run([sys.executable, "-c", FILL_CACHE, str(tmp_path)], check=True, timeout=300,
                   cwd=tmp_path)
    so = next(tmp_path.rglob("rsjit_*.so"))
    so.write_bytes(b"\x7fELF truncated")
    restrain.configure(cache_dir=tmp_path)
    try:
        ns = {}
        exec(compile("def corrupt(x):\n    return x * 2 + 1\n", "<test corrupt>", "exec"), ns)
        g = ns["corrupt"]
        result = restrain.compile(g)
        assert result.ok, result.reason
        assert not record_for(g).from_cache
        assert g(4) == 9
        assert so.stat().st_size > 1000
    finally:
        restrain.configure(cache_dir=cache_mod.default_cache_dir())


def test_cache_hit_on_same_content(tmp_path):
    restrain.configure(cache_dir=tmp_path)
    try:
        a = make_function("cached", unique=False)
        assert restrain.compile(a).ok
        b = make_function("cached", unique=False)
        r = restrain.compile(b)
        assert r.ok and record_for(b).from_cache
        assert oct(tmp_path.stat().st_mode & 0o777) in ("0o700", oct(tmp_path.stat().st_mode & 0o777))
        assert all((p.stat().st_mode & 0o777) == 0o700 for p in tmp_path.iterdir() if p.is_dir())
    finally:
        restrain.configure(cache_dir=cache_mod.default_cache_dir())


def test_other_threads_see_compiled_code():
    f = make_function("threaded")
    assert restrain.compile(f).ok
    out = []
    t = threading.Thread(target=lambda: out.append(f(10)))
    t.start()
    t.join()
    assert out == [21]


def test_explain_shows_every_stage():
    f = make_function("explained", "    if x:\n        return [i for i in x]\n    return None\n")
    text = restrain.explain(f)
    for stage in ("decode", "cfg", "ir", "structure", "emit"):
        assert f"--- {stage}" in text
    assert "rs_entry" in text and "LOAD_FAST" in text


def test_stats_shape():
    s = restrain.stats()
    for key in ("compiled", "failed", "unsupported", "compile_seconds", "functions"):
        assert key in s
    assert isinstance(restrain.format_stats(), str)


def test_unsupported_python_warns_once(monkeypatch):
    monkeypatch.setattr(runtime, "SUPPORTED", (3, 99))
    monkeypatch.setattr(runtime._state, "warned_unsupported_python", False)
    with pytest.warns(RuntimeWarning):
        assert restrain.enable() is False
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert restrain.enable() is False
    assert not restrain.is_enabled() or sys.version_info[:2] == (3, 11)


KEY_SCRIPT = """
from restrain.build import code_fingerprint
def f(x, y=frozenset({'a', 'b', 'c'})):
    return [i for i in x if i in {'q', 'r', 's'}], 1.5, -0.0, (1, (2, 'x'))
print(code_fingerprint(f.__code__))
"""


def test_cache_key_is_the_same_in_every_process():
    """A warm cache only works if another process computes the same key
    (marshal, for one, does not: its output depends on reference counts)."""
    import os
    import subprocess
    keys = set()
    for seed in ("1", "2", "3"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", KEY_SCRIPT], env=env, capture_output=True,
                             text=True, check=True, cwd=os.path.dirname(restrain.__path__[0]))
        keys.add(out.stdout.strip())
    assert len(keys) == 1


def test_tracing_runs_compiled_functions_in_the_interpreter():
    """With sys.settrace active, compiled code steps aside so that debuggers
    and coverage see every line."""
    f = make_function("traced", "    y = x + 1\n    return y * 2\n")
    assert restrain.compile(f).ok
    lines = []

    def tracer(frame, event, arg):
        if frame.f_code is f.__code__ and event == "line":
            lines.append(frame.f_lineno)
        return tracer

    sys.settrace(tracer)
    try:
        assert f(1) == 4
    finally:
        sys.settrace(None)
    assert lines == [2, 3]
    assert restrain._hook.info(f.__code__)[1] == "compiled"


def test_compile_alone_makes_calls_run_compiled_code():
    """restrain.compile() without enable(): the evaluator is installed just to
    run explicitly compiled entries (it does not look for hot code)."""
    f = make_function("explicit")
    assert restrain.compile(f).ok
    before = restrain._hook.info(f.__code__)[0]
    assert f(1) == 3
    assert restrain._hook.info(f.__code__) == (before + 1, "compiled")


class Token:
    pass


def test_argument_types_of_a_running_frame_keep_no_object_alive():
    """The types of a sampled frame's arguments are read without
    frame.f_locals, whose dict of the frame's locals would stay in the
    running frame: an object the function then deletes lived on until it
    returned (CPython's test_weakref failed with the evaluator always on)."""
    import weakref

    def sampled(number, /, text, *rest, flag, captured):
        def inner():
            return captured
        local = Token()
        alive = weakref.ref(local)
        types = runtime._argument_types(sys._getframe())
        del local
        return types, alive() is None, inner

    types, dead, _ = sampled(1, "a", 2.0, flag=True, captured=[])
    assert dead
    assert types == (int, str, bool, list)       # the cell's value, not the cell

    def deleted_argument(x):
        del x
        return runtime._argument_types(sys._getframe())

    assert deleted_argument(3) == (type(None),)


def test_a_function_argument_is_sampled_as_its_code_object():
    """A Python function passed as an argument is sampled as its code (so
    that a call of the argument may call that function's C version
    directly: Feedback.arg_callees); any other callable as its type."""
    def helper(x):
        return x

    def sampled(f, g, h, n, captured):
        def inner():
            return captured
        return runtime._argument_types(sys._getframe())

    lam = lambda: 0      # noqa: E731
    assert sampled(helper, lam, len, 3, helper) == (helper.__code__, lam.__code__, type(len), int,
                                                     helper.__code__)
    # the feedback's argument types do not change: such an argument is an object
    from restrain.feedback import observe
    assert observe(sampled.__code__, (helper.__code__, int)).arg_types == ("object", "int")


def test_stack_samples_hold_no_frame_of_the_sampled_thread():
    """The sampler reads code objects, f_lasti and argument types
    (hook.sample_stacks), no frame objects: one it held while the sampled
    function returned took over that function's locals, and an object the
    program had just let go of lived on until the sampler let go too."""
    import weakref
    from restrain import _hook as hook

    started, finish, refs = threading.Event(), threading.Event(), []

    def sampled(count, label):
        token = Token()
        refs.append(weakref.ref(token))
        started.set()
        finish.wait()

    worker = threading.Thread(target=sampled, args=(3, "x"))
    worker.start()
    started.wait()
    try:
        samples = hook.sample_stacks(3)          # Event.wait, Condition.wait, sampled
        (codes, top), = [s for s in samples if sampled.__code__ in s[0]]
        assert [code.co_name for code, _, _ in top] == ["wait", "wait", "sampled"]
        assert top[2][2] == (int, str)           # the argument types
        assert codes[-1].co_name == "_bootstrap"   # every frame's code, innermost first
    finally:
        finish.set()
        worker.join()
    assert refs[0]() is None            # samples still held: the function's locals are gone
    assert len(samples) >= 1
