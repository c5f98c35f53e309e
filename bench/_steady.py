"""Steady-state driver of bench/run.py: time run(n) of one benchmark program
once it is warm.

    python bench/_steady.py PROGRAM SIZE ITERATIONS [WARMUP]
    python -m restrain bench/_steady.py PROGRAM SIZE ITERATIONS [WARMUP]

PROGRAM is the path of a program in bench/programs/, SIZE its size argument
(`-` for the program's own N).  The driver imports the program by path and
calls run(SIZE) WARMUP times (default 4); when restrain is enabled in this
process, each warm-up call is followed by restrain.wait(), so the functions
that turned hot are compiled before the next call.  Then it times
ITERATIONS further calls.  Every result goes to stdout, one per line (the
runner checks them against plain Python's), and a last line
`STEADY-JSON {...}` holds the timings: {"restrain": enabled?,
"warmup": [seconds...], "times": [seconds...], "stats": {...}}.
"""
import importlib.util
import json
import sys
import time
from pathlib import Path

MARKER = "STEADY-JSON "


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
    if len(sys.argv) not in (4, 5):
        raise SystemExit(__doc__)
    program = load_program(sys.argv[1])
    n = program.N if sys.argv[2] == "-" else int(sys.argv[2])
    iterations = int(sys.argv[3])
    warmup = int(sys.argv[4]) if len(sys.argv) == 5 else 4
    restrain = jit()

    warmup_times = []
    for _ in range(warmup):
        seconds, result = timed_call(program.run, n)
        print(result, flush=True)
        warmup_times.append(seconds)
        if restrain is not None:
            restrain.wait()

    times = []
    for _ in range(iterations):
        seconds, result = timed_call(program.run, n)
        print(result, flush=True)
        times.append(seconds)

    report = {"restrain": restrain is not None, "size": n,
              "warmup": warmup_times, "times": times}
    if restrain is not None:
        stats = restrain.stats()
        report["stats"] = {key: stats[key] for key in ("compiled", "failed", "unsupported")}
    print(MARKER + json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
