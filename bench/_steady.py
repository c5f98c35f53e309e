"""Steady-state driver of bench/run.py: time run(n) of one benchmark program
once it is warm.

    python bench/_steady.py PROGRAM SIZE ITERATIONS [WARMUP] [--lockstep] [--span SECONDS]
    python -m restrain bench/_steady.py PROGRAM SIZE ITERATIONS [WARMUP] [--lockstep] [--span SECONDS]

PROGRAM is the path of a program in bench/programs/, SIZE its size argument
(`-` for the program's own N).  The driver imports the program by path and
calls run(SIZE) WARMUP times (default 4); when restrain is enabled in this
process, each warm-up call is followed by restrain.wait(), so the functions
that turned hot are compiled before the next call.  Then it times
ITERATIONS further calls.  Every result goes to stdout, one per line (the
runner checks them against plain Python's), and a last line
`STEADY-JSON {...}` holds the timings: {"restrain": enabled?,
"warmup": [seconds...], "times": [seconds...], "stats": {...}}.

--lockstep: after the warm-up the driver prints a line `STEADY-READY` and
waits for a line on stdin before each timed call (an empty stdin ends the
timing early), printing `STEADY-DONE` after each.  bench/run.py runs a plain and a restrain driver side by
side this way and lets them take turns, one call each, so that the two
calls of a pair are seconds apart at most, not a whole process apart: this
machine's speed drifts by up to a third over seconds.

--span SECONDS: each timed turn calls run(SIZE) as many times as it takes
to last about SECONDS (the count is fixed after the warm-up, from its
fastest call) and reports the mean time per call.  Without it a turn is
one call.  bench/run.py passes the same span to both drivers, so that a
plain turn and a restrain turn see the machine over about the same
stretch of time: its speed also changes from one 10 ms to the next (plain
CPython's own 10 ms calls, 0.25 s apart: 6.4 to 10.2 ms), and a single
10 ms call of compiled code caught one such moment where the plain call
next to it, 25 times longer, averaged over them.  Only the first result
of a turn is printed, and any later one that differs from it, so that the
output is one line per turn as without --span, and a difference still
shows.
"""
import importlib.util
import json
import sys
import time
from pathlib import Path

MARKER = "STEADY-JSON "
READY = "STEADY-READY"
DONE = "STEADY-DONE"


def load_program(path):
    path = Path(path).resolve()
    spec = importlib.util.spec_from_file_location(f"bench_program_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def jit():
    """The restrain module if it is enabled in this process, else None."""
    try:
        import restrain
    except ImportError:
        return None
    return restrain if restrain.is_enabled() else None


def timed_call(run, n):
    start = time.perf_counter()
    result = run(n)
    return time.perf_counter() - start, result


def timed_turn(run, n, calls):
    """`calls` calls of run(n): the mean seconds per call, and the results
    to print (the first, and any that differ from it)."""
    results = []
    start = time.perf_counter()
    for _ in range(calls):
        results.append(run(n))
    seconds = (time.perf_counter() - start) / calls
    first = results[0]
    return seconds, [first] + [r for r in results[1:] if r != first]


def calls_per_turn(span, warmup_times):
    if span <= 0 or not warmup_times:
        return 1
    return max(1, round(span / max(min(warmup_times), 1e-6)))


def take_option(argv, name):
    """The value of `name VALUE` in argv (removed from it), or None."""
    if name not in argv:
        return None
    k = argv.index(name)
    value = argv[k + 1]
    del argv[k:k + 2]
    return value


def main():
    argv = sys.argv[1:]
    lockstep = "--lockstep" in argv
    if lockstep:
        argv.remove("--lockstep")
    span = float(take_option(argv, "--span") or 0)
    if len(argv) not in (3, 4):
        raise SystemExit(__doc__)
    program = load_program(argv[0])
    n = program.N if argv[1] == "-" else int(argv[1])
    iterations = int(argv[2])
    warmup = int(argv[3]) if len(argv) == 4 else 4
    restrain = jit()

    warmup_times = []
    for _ in range(warmup):
        seconds, result = timed_call(program.run, n)
        print(result, flush=True)
        warmup_times.append(seconds)
        if restrain is not None:
            restrain.wait()

    if lockstep:
        print(READY, flush=True)
    calls = calls_per_turn(span, warmup_times)
    times = []
    for _ in range(iterations):
        if lockstep and not sys.stdin.readline():
            break
        seconds, results = timed_turn(program.run, n, calls)
        for result in results:
            print(result, flush=True)
        times.append(seconds)
        if lockstep:
            print(DONE, flush=True)

    report = {"restrain": restrain is not None, "size": n,
              "warmup": warmup_times, "times": times, "calls_per_turn": calls}
    if restrain is not None:
        stats = restrain.stats()
        report["stats"] = {key: stats[key] for key in ("compiled", "failed", "unsupported")}
    print(MARKER + json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
