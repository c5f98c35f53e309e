"""Steady state of two versions of restrain side by side, in one run.

    python bench/compare.py REV [--only NAME,...] [--rounds N]

Builds the commit REV and the working tree each into a directory of its
own (`pip install --no-deps --target`, so neither is the installed
package), then for every program of bench/programs/ runs, round after
round, plain CPython, REV and the working tree on `bench/_steady.py`
(4 warm-up and 7 timed `run()` calls), each process with PYTHONPATH set to
its version and started outside the checkout (which would shadow it).
Prints per program the steady ratio (plain median / median) of both and
their quotient: machine noise hits all three alike, which is what a claim
"this change made X faster" needs.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEADY = ROOT / "bench" / "_steady.py"
PROGRAMS = ROOT / "bench" / "programs"


def install(source: Path, target: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                    str(source)], check=True, capture_output=True)


def build_versions(rev: str, work: Path) -> dict[str, Path]:
    """{"REV": dir, "tree": dir}: each version of restrain installed apart."""
    old_source = work / "source"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(old_source), rev],
                   check=True, capture_output=True)
    try:
        versions = {rev: work / "old", "tree": work / "tree"}
        install(old_source, versions[rev])
        install(ROOT, versions["tree"])
        return versions
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_source)],
                       capture_output=True)


def steady_median(program: Path, path: Path | None, cwd: Path) -> float:
    env = dict(os.environ)
    env.pop("RESTRAIN", None)
    cmd = [sys.executable, str(STEADY), str(program), "-", "7", "4"]
    if path is not None:
        env["PYTHONPATH"] = str(path)
        cmd[1:1] = ["-m", "restrain", "--cache-dir", str(cwd / f"cache-{path.name}")]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, check=True).stdout
    line = [l for l in out.splitlines() if l.startswith("STEADY-JSON ")][-1]
    return statistics.median(json.loads(line[len("STEADY-JSON "):])["times"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", help="the commit to compare the working tree with")
    parser.add_argument("--only", help="comma-separated program names")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    names = args.only.split(",") if args.only else sorted(p.stem for p in PROGRAMS.glob("*.py"))
    with tempfile.TemporaryDirectory(prefix="restrain-compare-") as tmp:
        work = Path(tmp)
        versions = build_versions(args.rev, work)
        print(f"| program | {args.rev} | working tree | tree / {args.rev} |")
        print("| --- | --- | --- | --- |")
        for name in names:
            times: dict[str, list[float]] = {"plain": [], **{v: [] for v in versions}}
            for _ in range(args.rounds):
                times["plain"].append(steady_median(PROGRAMS / f"{name}.py", None, work))
                for version, path in versions.items():
                    times[version].append(steady_median(PROGRAMS / f"{name}.py", path, work))
            plain = statistics.median(times["plain"])
            old, new = (plain / statistics.median(times[v]) for v in versions)
            print(f"| {name} | {old:.2f} | {new:.2f} | {new / old:.2f} |", flush=True)


if __name__ == "__main__":
    main()
