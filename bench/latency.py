"""Compile latency: time from "function became hot" to "compiled code runs".

    python bench/latency.py [--functions N]

In a fresh process with restrain enabled (background compiles, the
default), N distinct small functions become hot one after the other; for
each, the time from its hot call to the moment its compiled entry is
installed is measured while the program keeps running Python code (so the
compiler thread competes for the GIL as it would in a real program).  Then a second process with the now-filled cache does
the same (warm start).  Prints the first compile of a process, the median
and worst of the others, and the warm-cache load time per function.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile

# What both child programs share: n distinct small functions (BODY with I
# replaced by the function's number), and a busy wait until they run compiled.
PRELUDE = r"""
import json, sys, time, restrain
from restrain import _hook, runtime

def make_functions(n, body):
    funcs = []
    for i in range(n):
        ns = {}
        exec(f"def f{i}(x):\n" + body.replace("I", str(i)), ns)
        funcs.append(ns[f"f{i}"])
    return funcs

def busy_until_compiled(funcs, start, limit):
    while any(_hook.info(f.__code__)[1] != "compiled" for f in funcs):   # the program keeps busy
        if time.perf_counter() - start > limit:
            break
        sum(range(2000))
"""

CHILD = PRELUDE + r"""
restrain.enable(threshold=3)
funcs = make_functions(int(sys.argv[1]), "    s = 0\n    for k in range(x):\n        s += k * I\n    return s\n")
latencies = []
for f in funcs:
    for _ in range(2):
        f(10)
    start = time.perf_counter()
    f(10)                                  # the hot call
    busy_until_compiled([f], start, 60)
    latencies.append(time.perf_counter() - start)
print(json.dumps(latencies))
"""

# N functions turn hot at once; how long until all of them run compiled,
# with functions queued together built into one module (restrain's default)
# and with one module per function (MAX_BATCH 1).
TOGETHER = PRELUDE + r"""
runtime.MAX_BATCH = int(sys.argv[2])
restrain.enable(threshold=3)
funcs = make_functions(int(sys.argv[1]), "    s = 0.5\n    for k in range(x):\n        s += k * I - s / 3\n    return s\n")
start = time.perf_counter()
for f in funcs:
    for _ in range(3):
        f(10)
busy_until_compiled(funcs, start, 120)
print(json.dumps(time.perf_counter() - start))
"""


def run(n: int, cache_dir: str, child: str = CHILD, *extra: str):
    env_cmd = [sys.executable, "-c", child, str(n), *extra]
    import os
    env = dict(os.environ, RESTRAIN_CACHE_DIR=cache_dir)
    out = subprocess.run(env_cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", type=int, default=12)
    parser.add_argument("--together", type=int, default=8, help="functions turning hot at once")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache_dir:
        cold = run(args.functions, cache_dir)
        warm = run(args.functions, cache_dir)
    rest = cold[1:]
    print(f"functions: {args.functions}")
    print(f"first compile of a process:   {cold[0]:.3f} s")
    print(f"later compiles, median:       {statistics.median(rest):.3f} s  (worst {max(rest):.3f} s)")
    print(f"warm cache, load, median:     {statistics.median(warm) * 1000:.1f} ms  (worst {max(warm) * 1000:.1f} ms)")
    batched, single = [], []
    for _ in range(3):      # alternating, each on an empty cache
        for times, max_batch in ((batched, "4"), (single, "1")):
            with tempfile.TemporaryDirectory() as cache_dir:
                times.append(run(args.together, cache_dir, TOGETHER, max_batch))
    b, s1 = statistics.median(batched), statistics.median(single)
    print(f"{args.together} functions hot at once, all compiled after (median of 3): "
          f"{b:.3f} s built together, {s1:.3f} s one module each ({s1 / b:.2f}x)")


if __name__ == "__main__":
    main()
