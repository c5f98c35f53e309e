"""How much a program's speed depends on what else was allocated while it ran.

    python bench/heap_layout.py [PROGRAM] [--rounds N]

Runs a benchmark program's `run()` in fresh plain-CPython processes, two
kinds interleaved: one that only runs the program, and one that, after the
first round, allocates and keeps some unrelated objects (imports a few
standard modules, builds 20,000 small dicts) -- roughly what restrain's
runtime allocates while it decides about the first hot functions.  Prints
the steady time of each (median of the last rounds) and their ratio.

On int_overflow (big integers: most of its time is in allocating and
freeing them) the allocating kind was 1.7% slower in the median of 8
processes each (2026-12-03), single processes of it up to 6% slower, and
single plain processes differ from one another by up to 10%: with no JIT
anywhere, the steady time depends on where the objects landed.  Under
restrain (whose runtime allocates while the program runs) int_overflow's
steady ratio is 0.95-0.96 with nothing compiled and the evaluator off;
this effect accounts for part of that, the rest is not explained.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

PROGRAMS = Path(__file__).resolve().parent / "programs"

CHILD = """
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("program", sys.argv[1])
program = importlib.util.module_from_spec(spec)
spec.loader.exec_module(program)
times, kept = [], []
for r in range(7):
    if r == 1 and sys.argv[2] == "allocating":
        import ast, dis, inspect, json, tokenize
        kept = [dict(a=i, b=str(i)) for i in range(20000)]
        kept += [list(dis.get_instructions(program.run)) for _ in range(50)]
    start = time.perf_counter()
    program.run(program.N)
    times.append(time.perf_counter() - start)
print(sorted(times[3:])[len(times[3:]) // 2])
"""


def steady(program: Path, kind: str) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, str(program), kind],
                         capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("program", nargs="?", default="int_overflow")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    program = PROGRAMS / f"{args.program}.py"
    times: dict[str, list[float]] = {"only the program": [], "allocating after round 1": []}
    for _ in range(args.rounds):
        times["only the program"].append(steady(program, "plain"))
        times["allocating after round 1"].append(steady(program, "allocating"))
    base = statistics.median(times["only the program"])
    print(f"{args.program}: steady run() in plain CPython, median of {args.rounds} processes each")
    for kind, values in times.items():
        median = statistics.median(values)
        print(f"  {kind:26s} {median * 1000:7.1f} ms   ratio {base / median:.3f}   "
              f"(processes: {min(values) * 1000:.1f} to {max(values) * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
