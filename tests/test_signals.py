"""Compiled code polls the interpreter's eval breaker where ceval.c does
(JUMP_BACKWARD, POP_JUMP_BACKWARD_IF_*, RESUME): Ctrl-C and other signal
handlers interrupt a compiled loop, other threads get the GIL, and
PyThreadState_SetAsyncExc reaches it.

Programs that could spin forever when this is broken run in a subprocess
with a timeout; the thread tests run in-process with loops that end on
their own (after many seconds) if the other thread never gets a turn.
"""
import ctypes
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import restrain
from conftest import clean_env
from restrain import _hook


def compiled(func):
    """Compile `func` or fail; the next call of it runs compiled code."""
    result = restrain.compile(func)
    assert result.ok, result.reason
    assert _hook.info(func.__code__)[1] == "compiled"
    assert _hook.is_installed()
    return func


def entry_calls(func):
    calls, state = _hook.info(func.__code__)
    assert state == "compiled"
    return calls


# ---- signals, in a subprocess ---------------------------------------------

# The shapes that poll differently in 3.11 bytecode.  Each `spin` prints
# "ready" itself (so that it, not start-up code, is what runs when the
# signal comes) and runs for ever; "# polled" marks the line of the
# instruction that polls, where the interpreter raises KeyboardInterrupt.
LOOPS = {
    "while-true": """
        def spin():
            x = 0
            print("ready", flush=True)
            while True:            # polled: JUMP_BACKWARD
                x += 1
    """,
    "while-cond": """
        def spin():
            x = 0
            print("ready", flush=True)
            while x >= 0:          # polled: POP_JUMP_BACKWARD_IF_TRUE
                x += 1
    """,
    "for": """
        import itertools

        def spin():
            total = 0
            print("ready", flush=True)
            for i in itertools.count():
                total += i & 7     # polled: JUMP_BACKWARD, with the body's last line
    """,
    "recursion": """
        def spin(n=0):             # polled: RESUME
            if n == 0:
                print("ready", flush=True)
            return n if n > 60 else spin(n + 1) + spin(n + 2) + spin(n + 90)
    """,
}

SPIN_HEAD = """
import signal, sys
# a shell may start us with SIGINT ignored, and then Python keeps it so
signal.signal(signal.SIGINT, signal.default_int_handler)
"""

SPIN_TAIL = """
if sys.argv[1] == "compiled":
    import restrain
    from restrain import _hook
    assert restrain.compile(spin).ok
    assert _hook.info(spin.__code__)[1] == "compiled"
    assert _hook.is_installed()
spin()
"""


def _script(tmp_path, loop_name):
    text = SPIN_HEAD + textwrap.dedent(LOOPS[loop_name]) + SPIN_TAIL
    path = tmp_path / f"spin_{loop_name.replace('-', '_')}.py"
    path.write_text(text, encoding="utf-8")
    polled = next(i for i, line in enumerate(text.splitlines(), 1) if "# polled" in line)
    return path, polled


def _interrupt(path, mode, cache_dir):
    """Run the script, wait for "ready", send SIGINT; -> (seconds to exit, proc, stderr)."""
    env = clean_env(RESTRAIN_CACHE_DIR=cache_dir)
    proc = subprocess.Popen([sys.executable, str(path), mode], cwd=str(path.parent), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if line != "ready\n":
            proc.kill()
            pytest.fail(f"no 'ready' from {path.name} {mode}: {line!r}\n{proc.communicate()[1]}")
        time.sleep(0.5)            # well inside the loop by now
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            _, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail(f"{mode} loop still running 30 s after the signal")
        return time.monotonic() - sent, proc, stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _last_frame(stderr):
    """('File "...", line N, in f', source line) of a traceback's innermost entry."""
    lines = stderr.rstrip().splitlines()
    i = max(k for k, line in enumerate(lines) if line.lstrip().startswith('File "'))
    return lines[i].strip(), lines[i + 1].strip()


@pytest.mark.parametrize("loop_name", list(LOOPS))
def test_ctrl_c_interrupts_compiled_code(tmp_path, cache_dir, loop_name):
    path, polled = _script(tmp_path, loop_name)
    seconds, proc, stderr = _interrupt(path, "compiled", cache_dir)
    assert seconds < 5, f"KeyboardInterrupt took {seconds:.1f} s"
    assert proc.returncode == -signal.SIGINT, stderr
    assert stderr.rstrip().endswith("KeyboardInterrupt"), stderr
    where, source = _last_frame(stderr)
    assert where == f'File "{path}", line {polled}, in spin', stderr
    assert "# polled" in source
    # and exactly as the interpreter reports it
    _, plain, plain_stderr = _interrupt(path, "plain", cache_dir)
    assert plain.returncode == -signal.SIGINT
    assert _last_frame(plain_stderr) == (where, source)


HANDLER_PROGRAM = """
    import signal, sys
    import restrain

    class Stop(Exception):
        pass

    seen = []

    def handler(signum, frame):
        seen.append((frame.f_code.co_name, frame.f_lineno))
        raise Stop

    def spin(limit):
        x = 0
        try:
            while x < limit:       # polled
                x += 1
        except Stop as e:
            return x, e.__traceback__.tb_lineno
        return x, None

    assert restrain.compile(spin).ok
    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    x, line = spin(10 ** 12)       # hours of work, unless interrupted
    print(seen, line, 0 < x < 10 ** 12)
"""


def test_signal_handler_exception_interrupts_compiled_loop(run_python, tmp_path):
    """A handler raising its own exception: it is raised at the loop's line,
    caught by the compiled function's own `except`, and the handler's frame
    argument is the compiled frame at that line."""
    text = textwrap.dedent(HANDLER_PROGRAM)
    (tmp_path / "handler.py").write_text(text, encoding="utf-8")
    polled = next(i for i, line in enumerate(text.splitlines(), 1) if "# polled" in line)
    proc = run_python("handler.py", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"[('spin', {polled})] {polled} True"


# ---- threads, in-process ----------------------------------------------------

def busy_while(stop, limit):
    i = 0
    while i < limit:               # POP_JUMP_BACKWARD_IF_TRUE
        if stop:
            break
        i += 1
    return i


def busy_for(stop, limit):
    n = 0
    for i in range(limit):         # JUMP_BACKWARD
        if stop:
            break
        n += 1
    return n


def busy_tree(stop, limit):
    """No loop: only the RESUME of each call polls.  `limit` when not stopped."""
    if stop:
        return 0
    if limit <= 1:
        return limit
    half = limit // 2
    return 1 + busy_tree(stop, half) + busy_tree(stop, limit - 1 - half)


def _calibrate(func, seconds):
    """A `limit` for which func([], limit) runs about `seconds`."""
    limit = 20_000
    while True:
        start = time.perf_counter()
        func([], limit)
        elapsed = time.perf_counter() - start
        if elapsed > 0.05:
            return int(limit * seconds / elapsed)
        limit *= 4


@pytest.mark.parametrize("busy", [busy_while, busy_for, busy_tree], ids=lambda f: f.__name__)
def test_compiled_loop_does_not_starve_other_threads(busy):
    """The main thread takes 50 short steps, each needing the GIL back,
    while a compiled loop runs in another thread; then it asks the loop to
    stop.  The loop must still be running when that happens: without the
    GIL hand-over the main thread gets no turn until the loop ends by
    itself, after about 10 s."""
    compiled(busy)
    limit = _calibrate(busy, 10.0)
    stop, started, result = [], threading.Event(), {}

    def worker():
        started.set()
        start = time.perf_counter()
        result["value"] = busy(stop, limit)
        result["seconds"] = time.perf_counter() - start

    calls = entry_calls(busy)
    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    started.wait()
    time.sleep(0.05)
    for _ in range(50):
        time.sleep(0.001)
    stop.append(True)
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert entry_calls(busy) > calls
    assert result["value"] < limit, (
        f"the compiled loop ran to its end ({result['seconds']:.1f} s) and only then "
        f"did the main thread get its turns")


def count_to(n, tag, log):
    total = 0
    for i in range(n):
        total += i
        if i % 4096 == 0:
            log.append(tag)
    return total


def test_two_threads_in_compiled_loops_share_the_gil():
    """Both finish with the right result, and they took turns: the log the
    two loops append to alternates between them many times."""
    compiled(count_to)
    n = _calibrate(lambda stop, limit: count_to(limit, "x", []), 1.0)
    log, results = [], {}
    calls = entry_calls(count_to)
    threads = [threading.Thread(target=lambda t=tag: results.__setitem__(t, count_to(n, t, log)))
               for tag in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert entry_calls(count_to) == calls + 2
    assert results == {"a": n * (n - 1) // 2, "b": n * (n - 1) // 2}
    switches = sum(1 for x, y in zip(log, log[1:]) if x != y)
    assert switches >= 5, f"the loops ran one after the other ({switches} switches)"


class AsyncStop(Exception):
    pass


def test_async_exception_reaches_compiled_loop():
    """PyThreadState_SetAsyncExc (how debuggers and test timeouts stop a
    thread) is raised in the compiled loop, at the loop's line."""
    compiled(busy_while)
    limit = _calibrate(busy_while, 10.0)
    started, result = threading.Event(), {}

    def worker():
        started.set()
        try:
            result["value"] = busy_while([], limit)
        except AsyncStop as e:
            tb = e.__traceback__
            while tb.tb_next is not None:
                tb = tb.tb_next
            result["raised at"] = (tb.tb_frame.f_code.co_name, tb.tb_lineno)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    started.wait()
    time.sleep(0.2)                # inside the loop by now
    set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
    set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)
    assert set_async_exc(thread.ident, AsyncStop) == 1
    thread.join(timeout=120)
    assert not thread.is_alive()
    first = busy_while.__code__.co_firstlineno
    assert result == {"raised at": ("busy_while", first + 2)}


# ---- restrain's own threads take no signal meant for the program ------------

PENDING_PROGRAM = """
import os, signal, sys, time
import restrain
from restrain import build

def hot(n):
    s = 0
    for i in range(n):
        s += i * i
    return s

restrain.enable(threshold=5)          # sampler thread; compiles on the compiler thread
for _ in range(20):
    hot(1000)
assert restrain.wait(60)
assert [f["status"] for f in restrain.stats()["functions"] if f["name"] == "hot"] == ["compiled"]

# the compile server, started from the compiler thread, still takes signals
server = build.compile_server().proc
blocked = [l for l in open(f"/proc/{server.pid}/status") if l.startswith("SigBlk:")]
print("server blocks", int(blocked[0].split()[1], 16))

# the main thread blocks SIGUSR1: a SIGUSR1 sent to the process stays pending
# (as in CPython's test_signal.test_sigpending), rather than being taken by
# a thread of restrain's
def handler(signum, frame):
    1 / 0
signal.signal(signal.SIGUSR1, handler)
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
os.kill(os.getpid(), signal.SIGUSR1)
time.sleep(0.1)
print("pending", sorted(signal.sigpending()) == [signal.SIGUSR1])
try:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGUSR1])
except ZeroDivisionError:
    print("handler ran on unblock")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/status")
def test_signals_blocked_by_the_program_stay_pending(run_python, tmp_path):
    (tmp_path / "pending.py").write_text(PENDING_PROGRAM, encoding="utf-8")
    proc = run_python("pending.py", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["server blocks 0", "pending True", "handler ran on unblock"]


# right after restrain starts its threads, before they ever ran: they are
# born with every signal blocked (runtime._signals_blocked), not blocking
# them once they first get the GIL
AT_START_PROGRAM = """
import os, signal
import restrain

def handler(signum, frame):
    1 / 0

signal.signal(signal.SIGUSR1, handler)
restrain.enable()
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
os.kill(os.getpid(), signal.SIGUSR1)
print("pending", sorted(signal.sigpending()) == [signal.SIGUSR1])
try:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGUSR1])
except ZeroDivisionError:
    print("handler ran on unblock")
"""


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="no pthread_sigmask")
def test_a_signal_the_program_blocks_stays_pending_right_after_enable(run_python, tmp_path):
    (tmp_path / "at_start.py").write_text(AT_START_PROGRAM, encoding="utf-8")
    for _ in range(3):
        proc = run_python("at_start.py", timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines() == ["pending True", "handler ran on unblock"]


# ---- a signal that arrives during a C call is handled right after it --------

AFTER_CALL_PROGRAM = """
import sys, threading, time, _thread
import restrain
from restrain import _hook

def wait_for(lock, helper):
    steps = []
    total = 0
    for i in range(3):              # a typed loop: worth compiling
        total += i
    try:
        helper.start()
        lock.acquire()              # a C call; the interrupt comes while it blocks
        steps.append("after acquire")
        steps.append("still going")
    except KeyboardInterrupt:
        tb = sys.exc_info()[2]
        while tb.tb_next is not None:
            tb = tb.tb_next
        return steps, tb.tb_frame.f_code.co_name, tb.tb_lineno
    return steps, None, None

def run():
    lock = threading.Lock()
    lock.acquire()
    def interrupt_then_release():
        time.sleep(0.05)
        _thread.interrupt_main()    # trips the eval breaker; wakes nothing
        lock.release()
    helper = threading.Thread(target=interrupt_then_release)
    try:
        return wait_for(lock, helper)
    finally:
        helper.join()

print("interpreted", run())
assert restrain.compile(wait_for).ok
calls = _hook.info(wait_for.__code__)[0]
print("compiled", run())
print("ran compiled", _hook.info(wait_for.__code__)[0] > calls)
"""


def test_signal_during_a_c_call_is_handled_after_the_call(run_python, tmp_path):
    # 3.11 polls after a CALL of anything but an inlined Python function;
    # compiled code must too, or the KeyboardInterrupt lands statements later
    (tmp_path / "after_call.py").write_text(AFTER_CALL_PROGRAM, encoding="utf-8")
    proc = run_python("after_call.py", timeout=120)
    assert proc.returncode == 0, proc.stderr
    interpreted, compiled, ran = proc.stdout.splitlines()
    assert interpreted.startswith("interpreted ([], 'wait_for', ")
    assert compiled == interpreted.replace("interpreted", "compiled", 1)
    assert ran == "ran compiled True"
