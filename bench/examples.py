"""Whole-process time of each example, plain CPython vs restrain, in one run.

    python bench/examples.py [--repeat N] [--scale F]

For every program in examples/ it runs, interleaved so that machine noise
hits all variants alike:
  plain   python examples/X.py
  cold    python -m restrain --cache-dir <empty dir> examples/X.py
  warm    python -m restrain --cache-dir <that dir, now filled> examples/X.py
          (after the compiles the cold run left to a detached compile
          server have finished)
and prints the median wall time of each and the speed ratio plain/variant
(above 1.0: restrain is faster).  It also checks that the output is
identical.  Timings go to stdout as a Markdown table for the README.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
DEFAULT_SIZES = {"nbody.py": 150_000, "particles.py": 800, "wordfreq.py": 30_000}


def timed(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return elapsed, proc.stdout


def wait_for_detached_compiles(timeout: float = 120.0) -> None:
    """A cold run hands its unfinished compiles to a compile server that
    outlives it; the warm run is measured once that server is done."""
    import psutil
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = [p for p in psutil.process_iter(["cmdline"])
                if any("restrain.compile_server" in part for part in (p.info["cmdline"] or []))]
        if not busy:
            return
        time.sleep(0.2)


def measure(example: Path, repeat: int, scale: float) -> dict[str, float]:
    times: dict[str, list[float]] = {"plain": [], "cold": [], "warm": []}
    size = [str(int(DEFAULT_SIZES[example.name] * scale))] if example.name in DEFAULT_SIZES else []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as cache:
            jit = [sys.executable, "-m", "restrain", "--cache-dir", cache, str(example), *size]
            t, plain_out = timed([sys.executable, str(example), *size])
            times["plain"].append(t)
            t, cold_out = timed(jit)
            times["cold"].append(t)
            wait_for_detached_compiles()
            t, warm_out = timed(jit)
            times["warm"].append(t)
            if not (plain_out == cold_out == warm_out):
                raise SystemExit(f"{example.name}: output differs under restrain")
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply each example's default size (1.0: about 1 s each)")
    args = parser.parse_args()
    print(f"| example | plain (s) | cold cache (s) | ratio | warm cache (s) | ratio |")
    print(f"| --- | --- | --- | --- | --- | --- |")
    for example in EXAMPLES:
        m = measure(example, args.repeat, args.scale)
        print(f"| {example.name} | {m['plain']:.2f} | {m['cold']:.2f} | {m['plain'] / m['cold']:.2f} "
              f"| {m['warm']:.2f} | {m['plain'] / m['warm']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
