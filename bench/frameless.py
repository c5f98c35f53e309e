"""What frameless versions save: one process, the same compiled code, with
frameless versions on and off in turn.

    python bench/frameless.py [--only richards,raytrace] [--rounds R] [--calls C]

Runs each program's run() under restrain until its compiles are done, then
R rounds of C calls with frameless versions on and C with them off
(restrain._hook.use_frameless), alternating call by call, and prints per
program the median of off/on (above 1.0, frameless versions make it
faster), how many calls they answered per run() and how many calls they
made of each other's frameless versions meanwhile.  Both sides run in
one process on the same compiled modules, so process-level noise (layout,
the machine's drift between processes) cancels out; what differs is only
whether calls of small methods push a frame.
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

PROGRAMS = Path(__file__).parent / "programs"
# the programs with small methods compiled code calls, and a size whose
# run() takes a few tens of milliseconds
SIZES = {"richards": 20000, "raytrace": 60, "deltablue": 4000, "calls": 20000}


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", PROGRAMS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timed(run, size) -> float:
    start = time.perf_counter()
    run(size)
    return time.perf_counter() - start


def measure(name: str, rounds: int, calls: int) -> tuple[float, float, float]:
    import restrain
    from restrain import _hook
    module = load(name)
    size = SIZES[name]
    for _ in range(8):                       # hot, compiled, loaded
        timed(module.run, size)
    restrain.wait()
    for _ in range(4):
        timed(module.run, size)
    ratios = []
    answered, nested = _hook.frameless_calls(), _hook.nested_frameless_calls()
    for _ in range(rounds):
        on, off = [], []
        for k in range(2 * calls):
            frameless = k % 2 == 0
            _hook.use_frameless(frameless)
            (on if frameless else off).append(timed(module.run, size))
        ratios.append(statistics.median(off) / statistics.median(on))
    _hook.use_frameless(True)
    per_run = (_hook.frameless_calls() - answered) / (rounds * calls)
    nested_per_run = (_hook.nested_frameless_calls() - nested) / (rounds * calls)
    return statistics.median(ratios), per_run, nested_per_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="richards,raytrace,deltablue,calls")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=6)
    args = parser.parse_args()
    import restrain
    if not restrain.enable():
        sys.exit("restrain does not run on this Python")
    print(f"{'program':10} {'off/on':>7} {'frameless calls per run()':>26} {'nested':>8}")
    for name in args.only.split(","):
        ratio, per_run, nested_per_run = measure(name, args.rounds, args.calls)
        print(f"{name:10} {ratio:7.3f} {per_run:26.0f} {nested_per_run:8.0f}", flush=True)


if __name__ == "__main__":
    main()
