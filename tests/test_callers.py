"""Callers of hot functions (runtime._report_loop_caller, _relink_callers).

A function called once that loops over calls of another is never hot by
its own call count; the callee is, and the caller must be found through
it, and compiled with the callee's C version.  A caller compiled before
its callee is compiled again once the callee is.  Each test runs a program
in a fresh interpreter with a cache of its own and compares its results
with the same functions run here by the interpreter.
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


def run(tmp_path, body: str, **env) -> dict:
    source = "import json, time, restrain\nfrom restrain import _hook\n" + FUNCTIONS + textwrap.dedent(body) + REPORT
    proc = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=300,
                          env=clean_env(RESTRAIN_CACHE_DIR=tmp_path / "cache", **env))
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def expected() -> str:
    ns: dict = {}
    exec(FUNCTIONS, ns)
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


def test_a_caller_compiled_first_is_compiled_again_for_its_callee(tmp_path):
    out = run(tmp_path, """
        restrain.enable(threshold=200)
        assert restrain.compile(caller, arg_types=(int,)).ok     # before leaf is hot
        first = caller(3000)                                      # leaf turns hot
    """, RESTRAIN_SAMPLE="0")
    assert out["first"] == out["second"] == expected()
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
