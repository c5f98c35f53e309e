"""Functions that turn hot together are built into one module
(build.build_batch): each keeps the outcome and behaviour it would have
alone, each is installed in the cache under its own key (a later process
loads any of them by itself), a member that breaks the combined build costs
only itself, and processes building overlapping batches neither deadlock
nor build a function twice."""
from __future__ import annotations

import threading
import uuid

import pytest

from restrain import _hook, build, cache, compile_server, emit, runtime
from restrain.build import BuildOptions
from restrain.feedback import observe
from restrain.load import load_from_cache
from restrain.remote import compile_batch_in_server, compile_in_server

BODIES = {
    "ints": "    s = 0\n    for k in range(x):\n        s += k * k % 7\n    return s\n",
    "floats": "    s = 0.5\n    for k in range(x):\n        s += k / 3.0 - s * 0.25\n    return s\n",
    "raises": "    s = 0\n    for k in range(x):\n        s += 10 // (k - 3)\n    return s\n",
    "lists": "    out = []\n    for k in range(x):\n        out.append(k * 2)\n    return out\n",
    "generator": "    for k in range(x):\n        yield k\n",
}


def make(name: str):
    """A fresh function (its own code object and cache key)."""
    ns: dict = {}
    exec(compile(f"def {name}(x):\n{BODIES[name]}", f"<batch {name} {uuid.uuid4().hex}>", "exec"), ns)
    return ns[name]


def items(funcs):
    return [(f.__code__, observe(f.__code__, (int,))) for f in funcs]


@pytest.fixture
def options(tmp_path):
    return BuildOptions(cache_dir=cache.open_cache(tmp_path / "cache"))


class InProcessServer:
    """The compile server's request handling, run in this process (so that a
    test can patch the front end it runs)."""

    def compile(self, request):
        answer = compile_server.handle(request)
        if not answer.get("ok"):
            raise build.answer_error(answer)

    def compile_batch(self, request, seconds):
        answer = compile_server.handle(request)
        if not answer.get("ok"):
            raise build.answer_error(answer)
        return answer["members"]


def test_built_together_same_outcomes_as_alone(tmp_path, options):
    funcs = [make(name) for name in ("ints", "floats", "raises", "generator")]
    together = compile_batch_in_server(items(funcs), options)
    alone_options = BuildOptions(cache_dir=cache.open_cache(tmp_path / "alone"))
    alone = [compile_in_server(code, alone_options, feedback) for code, feedback in items(funcs)]
    assert [(o.status, o.reason) for o in together] == [(o.status, o.reason) for o in alone]
    assert [o.status for o in together] == ["compiled"] * 3 + ["unsupported"]
    compiled = together[:3]
    # one module, loaded once, holds the three entry points
    assert len({id(o.entry.module) for o in compiled}) == 1
    assert len({id(o.entry.capsule) for o in compiled}) == 3
    source = compiled[0].source_path.read_text()
    assert all(f.__code__.co_filename in source for f in funcs[:3])
    # each function has its own cache entry
    assert len({o.source_path for o in compiled}) == 3


def test_each_member_loads_from_the_cache_by_itself(options):
    funcs = [make(name) for name in ("ints", "floats", "lists")]
    assert all(o.ok for o in compile_batch_in_server(items(funcs), options))
    for code, feedback in items(funcs):
        hit = load_from_cache(code, options, feedback)
        assert hit is not None and hit.from_cache
        # imported under its own key's name (the module's init function has an alias per member)
        assert hit.entry.module.__name__ == "rsjit_" + build.cache_key(code, options, feedback)


def test_members_run_compiled_and_behave_as_interpreted(options):
    funcs = [make(name) for name in ("ints", "floats", "raises", "lists")]
    expected = []
    for f in funcs:
        try:
            expected.append(("value", f(8)))
        except ZeroDivisionError as e:
            expected.append(("error", e.args))
    for f in funcs:
        _hook.mark_queued(f.__code__)
    runtime._compile_batch_now(items(funcs))
    if not _hook.is_installed():
        _hook.install(None)
    got = []
    for f in funcs:
        assert _hook.info(f.__code__)[1] == "compiled"
        try:
            got.append(("value", f(8)))
        except ZeroDivisionError as e:
            got.append(("error", e.args))
    assert got == expected
    assert all(runtime._state.records[id(f.__code__)].status == "compiled" for f in funcs)


def test_a_member_that_breaks_the_build_costs_only_itself(monkeypatch, options):
    funcs = [make(name) for name in ("ints", "floats", "lists")]
    broken = funcs[1].__code__.co_filename
    real = emit.ModuleEmitter.function_lines

    def function_lines(self):
        lines = real(self)
        return lines + ["cdef cdef nonsense("] if broken in self.title else lines

    monkeypatch.setattr(emit.ModuleEmitter, "function_lines", function_lines)
    monkeypatch.setattr(build, "compile_server", InProcessServer)
    outcomes = compile_batch_in_server(items(funcs), options)
    assert [o.status for o in outcomes] == ["compiled", "failed", "compiled"]
    assert outcomes[1].reason.startswith("build: Cython")
    for outcome in (outcomes[0], outcomes[2]):
        assert broken not in outcome.source_path.read_text()


def test_overlapping_batches_build_each_function_once(monkeypatch, options):
    funcs = [make(name) for name in ("ints", "floats", "lists")]
    builds = []
    real = build.run_cython

    def counting(pyx):
        builds.append(pyx.read_text().count("_rs_entry(RsFrame *f):"))   # functions in the module
        return real(pyx)

    monkeypatch.setattr(build, "run_cython", counting)
    monkeypatch.setattr(build, "compile_server", InProcessServer)
    # two "processes" (flock locks of separately opened files behave as such)
    # take the same functions' locks in opposite orders
    results = {}

    def worker(name, order):
        results[name] = compile_batch_in_server(items([funcs[i] for i in order]), options)

    threads = [threading.Thread(target=worker, args=("a", (0, 1, 2))),
               threading.Thread(target=worker, args=("b", (2, 1, 0)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "deadlock"
    assert all(o.ok for o in results["a"] + results["b"])
    assert sum(builds) == 3      # each function built once, in one batch or the other
