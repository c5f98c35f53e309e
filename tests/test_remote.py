"""The background path with the front end in the compile server
(restrain/remote.py) reports what the in-process pipeline reports: the same
status and reason for a function that compiles, for one restrain does not
support, and the same compiled behaviour; a code object marshal cannot
write falls back to the in-process pipeline."""
from __future__ import annotations

import pytest

from restrain import cache
from restrain.build import BuildOptions
from restrain.feedback import observe
from restrain.pipeline import compile_code
from restrain.remote import compile_in_server


def typed_loop(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def generator(n):
    for i in range(n):
        yield i


def raises_inside(xs):
    total = 0
    for x in xs:
        total += 10 // x
    return total


@pytest.fixture
def options(tmp_path):
    return BuildOptions(cache_dir=cache.open_cache(tmp_path / "cache"))


@pytest.mark.parametrize("func, types", [(typed_loop, (int,)), (generator, (int,)), (raises_inside, (list,))])
def test_same_outcome_as_the_in_process_pipeline(func, types, tmp_path, options):
    feedback = observe(func.__code__, types)
    remote = compile_in_server(func.__code__, options, feedback)
    local = compile_code(func.__code__, BuildOptions(cache_dir=cache.open_cache(tmp_path / "other")), feedback)
    assert (remote.status, remote.reason) == (local.status, local.reason)
    if remote.ok:
        assert "server" in remote.stage_seconds and not remote.from_cache
        assert remote.source_path.read_text() == local.source_path.read_text()
        again = compile_in_server(func.__code__, options, feedback)       # now from the cache
        assert again.ok and again.from_cache


def test_without_a_cache(options):
    outcome = compile_in_server(typed_loop.__code__, BuildOptions(cache_dir=None), observe(typed_loop.__code__, (int,)))
    assert outcome.ok, outcome.reason


def test_unmarshallable_code_falls_back(options):
    code = typed_loop.__code__.replace(co_consts=typed_loop.__code__.co_consts + (object(),))
    assert compile_in_server(code, options, observe(code, (int,))) is None


def test_a_server_that_stops_answering_is_given_up(monkeypatch):
    # a compile server that reads the request and never answers: the
    # client kills it after the request's timeout plus the grace period
    import subprocess
    import sys
    import time

    from restrain import build
    from restrain.errors import BuildError

    def silent_server(self):
        return subprocess.Popen([sys.executable, "-c", "import sys, time; sys.stdin.readline(); time.sleep(600)"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    monkeypatch.setattr(build.CompileServerClient, "start", silent_server)
    monkeypatch.setattr(build, "SERVER_GRACE_SECONDS", 0.5)
    client = build.CompileServerClient()
    start = time.monotonic()
    with pytest.raises(BuildError, match="did not answer"):
        client.compile({"pyx": "x.pyx", "c_command": [], "timeout": 0.5})
    assert time.monotonic() - start < 30
    assert client.proc is None


def test_starting_the_server_early_never_waits_for_a_compile():
    """runtime._prewarm starts the server on the program's thread; while
    another thread exchanges a compile with the server (holding the
    client's lock), that must return at once, not after the compile (the
    program stood still for a whole compile: float_loops' cold runs took
    0.5 s longer in some runs)."""
    import threading
    from restrain.build import CompileServerClient

    client = CompileServerClient()
    client.lock.acquire()              # a compile in progress on the worker thread
    caller = threading.Thread(target=client.ensure_started)
    try:
        caller.start()
        caller.join(5)
        assert not caller.is_alive()
        assert client.proc is None     # nothing started meanwhile: the compiling thread has its server
    finally:
        client.lock.release()
        caller.join()
