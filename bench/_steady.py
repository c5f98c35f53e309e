"""Steady-state driver of bench/run.py: time run(n) of one benchmark program
once it is warm.

    python bench/_steady.py PROGRAM SIZE ITERATIONS [WARMUP] [--lockstep]
    python -m restrain bench/_steady.py PROGRAM SIZE ITERATIONS [WARMUP] [--lockstep]

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


def main():
    argv = sys.argv[1:]
    lockstep = "--lockstep" in argv
    if lockstep:
        argv.remove("--lockstep")
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
    times = []
    for _ in range(iterations):
        if lockstep and not sys.stdin.readline():
            break
        seconds, result = timed_call(program.run, n)
        print(result, flush=True)
        times.append(seconds)
        if lockstep:
            print(DONE, flush=True)

    report = {"restrain": restrain is not None, "size": n,
              "warmup": warmup_times, "times": times}
    if restrain is not None:
        stats = restrain.stats()
        report["stats"] = {key: stats[key] for key in ("compiled", "failed", "unsupported")}
    print(MARKER + json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
