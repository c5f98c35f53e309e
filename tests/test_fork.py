"""restrain across os.fork: pre-forking servers, multiprocessing's fork
start method, daemons.  A child gets restrain's state but not its threads
(runtime._after_fork_in_child starts them again), nor its parent's compile
server (build._new_server_in_child).  Each program runs in a subprocess with
a timeout: the failures these tests catch are hangs."""
import os
import subprocess
import sys

import pytest

from conftest import clean_env

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def run(source, tmp_path, timeout=120):
    env = clean_env()
    env["RESTRAIN_CACHE_DIR"] = str(tmp_path / "cache")
    proc = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.splitlines()


FORK_FROM_THREAD = """
import os, sys, threading, restrain
restrain.enable(threshold=5)      # the sampler and compiler threads run

def hot(n):
    s = 0
    for i in range(n):
        s += i * i
    return s

def worker():
    pid = os.fork()
    if pid == 0:
        # the child: this thread is now its main thread, and when it ends
        # nobody calls exit(); the process ends when its last thread does
        for _ in range(20):
            hot(1000)
        restrain.wait(30)
        status = restrain.stats()["functions"]
        print("child", [f["status"] for f in status if f["name"] == "hot"], flush=True)
        sys.exit(0)
    _, status = os.waitpid(pid, 0)
    print("parent", os.waitstatus_to_exitcode(status), flush=True)

thread = threading.Thread(target=worker)
thread.start()
thread.join()
"""


def test_child_forked_from_a_thread_exits(tmp_path):
    # restrain's threads used to keep such a child alive forever, or (when
    # the fork came while one of them imported a module of restrain's) the
    # child waited forever for that module's import lock
    assert run(FORK_FROM_THREAD, tmp_path, timeout=60) == ["child ['compiled']", "parent 0"]


PRE_FORKING = """
import os, restrain
from restrain import build
restrain.enable(threshold=5)

def parent_work(n):
    s = 0
    for i in range(n):
        s += i * 3
    return s

for _ in range(20):
    parent_work(1000)
assert restrain.wait(60)
assert build.compile_server().proc is not None      # the parent's server is running

children = []
for k in range(4):
    pid = os.fork()
    if pid == 0:
        # each child compiles a function of its own, at the same time as the others
        ns = {}
        exec(f"def child_work(n):\\n    s = 0\\n    for i in range(n):\\n        s += i * {k + 1}\\n"
             f"    return s\\n", ns)
        work = ns["child_work"]
        for _ in range(20):
            work(1000)
        done = restrain.wait(60)
        status = [f["status"] for f in restrain.stats()["functions"] if f["name"] == "child_work"]
        own_server = build.compile_server().proc is not None and build.compile_server().proc.pid != PARENT_SERVER
        print(k, done, status, work(100), own_server, flush=True)
        os._exit(0)
    children.append(pid)
for pid in children:
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
print("parent", parent_work(100))
""".replace("PARENT_SERVER", "build._inherited_servers[-1].proc.pid")


def test_forked_children_compile_with_their_own_servers(tmp_path):
    lines = run(PRE_FORKING, tmp_path)
    expected = [f"{k} True ['compiled'] {sum(i * (k + 1) for i in range(100))} True" for k in range(4)]
    assert sorted(lines[:-1]) == expected
    assert lines[-1] == f"parent {sum(i * 3 for i in range(100))}"
