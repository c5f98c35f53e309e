"""Instructions per run() call, plain CPython against restrain, counted by
valgrind: a measure this machine's noise cannot touch.

    python bench/instructions.py [--only NAME,...] [--calls K] [--json FILE]

bench/run.py's timings drift by up to a third from second to second, which
hides a tax of a few percent.  Here each program runs at a small size
(bench/run.py --quick's) under callgrind, once plain and once under
restrain (bench/_counted.py: warm-up calls, restrain's compiles finished,
its window closed and its sampler stopped), and only the K counted run()
calls are measured (--toggle-collect=functools_reduce).  The table gives
instructions per call and their ratio plain / restrain (above 1.0,
restrain executes fewer), and what restrain had compiled.

Instructions are not time: a C loop and the interpreter differ in
instructions per cycle, and cache misses, branch mispredictions and memory
layout do not show here.  For the programs restrain compiles nothing of,
the ratio is its tax on code it does not compile, the evaluator's window
closed: the question the timings cannot settle.  (The sampler is stopped
because under valgrind, 50-100 times slower, it would take that many times
more samples per call than at full speed; its cost at full speed, 33
wake-ups a second between windows, is not counted here.)
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from run import PROGRAMS, QUICK_SIZES, ROOT, child_env, log, program_names

COUNTED = ROOT / "bench" / "_counted.py"
COUNTED_MARKER = "COUNTED-JSON "
TIMEOUT = 1800


def callgrind_total(out_file: Path) -> int:
    """The instruction count of a callgrind output file."""
    for line in out_file.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise ValueError(f"no summary line in {out_file}")


def counted_run(name: str, size: int, calls: int, restrain: bool, work: Path) -> tuple[int, str, dict]:
    """(instructions, results printed, report) of one counted driver."""
    out_file = work / f"{name}-{'restrain' if restrain else 'plain'}.callgrind"
    launcher = [sys.executable, "-m", "restrain", "--cache-dir", str(work / "cache")] if restrain \
        else [sys.executable]
    cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no",
           "--toggle-collect=functools_reduce", f"--callgrind-out-file={out_file}",
           *launcher, str(COUNTED), str(PROGRAMS / f"{name}.py"), str(size), str(calls)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=child_env(),
                          timeout=TIMEOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"{name}: exit status {proc.returncode}:\n{proc.stderr[-3000:]}")
    lines = proc.stdout.splitlines()
    report = json.loads(lines[-1][len(COUNTED_MARKER):])
    return callgrind_total(out_file) // calls, "\n".join(lines[:-1]), report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=None, metavar="NAME,...",
                        help="run only these programs (names without .py)")
    parser.add_argument("--calls", type=int, default=2, help="counted run() calls (default 2)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("bench/instructions.py needs valgrind")
    names = program_names()
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]

    print(f"command: `{' '.join([sys.executable, *sys.argv])}`")
    print(f"instructions per run() call, {args.calls} counted calls after 4 warm-up calls, "
          "sizes of bench/run.py --quick\n")
    print("| program | size | plain | restrain | ratio | compiled |")
    print("| --- | --- | --- | --- | --- | --- |", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="restrain-instructions-") as tmp:
        work = Path(tmp)
        for name in names:
            size = QUICK_SIZES[name]
            log(f"{name}: plain")
            plain, plain_out, _ = counted_run(name, size, args.calls, False, work)
            log(f"{name}: restrain")
            jit, jit_out, report = counted_run(name, size, args.calls, True, work)
            same = plain_out == jit_out
            compiled = len(report["compiled"])
            results[name] = {"size": size, "plain": plain, "restrain": jit, "same_output": same,
                             "compiled": report["compiled"]}
            print(f"| {name} | {size} | {plain:,} | {jit:,} | {plain / jit:.3f} | "
                  f"{compiled}{'' if same else ' OUTPUT DIFFERS'} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
