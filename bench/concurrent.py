"""Many processes of one program started together on an empty cache.

    python bench/concurrent.py [--processes 8] [--program nbody]

Starts N processes of bench/programs/PROGRAM.py under restrain at the same
moment, sharing one empty cache directory (a pre-forking server's workers,
pytest-xdist, multiprocessing), and N plain CPython processes the same way.
The C compiler is a wrapper that records every module it builds, so the
count of builds is exact.  Checks and prints:

  - every restrain process printed what plain CPython prints, exit status 0
  - each function was built once between all of them (a module built can
    hold several functions: the functions of all builds are distinct and
    are the entries in the cache)
  - nothing on any process's stderr (restrain logs a failed compile, a
    corrupt or unsafe cache entry, as a warning there)
  - the wall time of the N processes, plain and under restrain, and its ratio
    (plain / restrain: above 1.0, restrain is faster); then the N restrain
    processes once more on the filled cache (nothing may be built again)
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from run import PROGRAMS, ROOT, child_env, wait_for_detached_compiles


def compiler_wrapper(directory: Path, log: Path) -> str:
    """A C compiler that appends a line to `log` per module it builds: the
    cache names of the functions in it (the module's init functions, one
    per function: emit.combined_source), then runs the real one."""
    real = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    script = directory / "cc-logging.sh"
    script.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do source="$a"; done\n'     # the C file comes last
        "names=$(grep -o 'PyInit_rsjit_[0-9a-f]*(void)' \"$source\" | sort -u | sed 's/PyInit_//; s/(void)//')\n"
        f'echo $names >> {shlex.quote(str(log))}\n'
        f'exec {real} "$@"\n')
    script.chmod(0o755)
    return str(script)


def start_together(cmd: list[str], count: int, env: dict) -> tuple[float, list[tuple[int, str, str]]]:
    start = time.perf_counter()
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=ROOT, env=env) for _ in range(count)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=900)
        results.append((p.returncode, out, err))
    return time.perf_counter() - start, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--program", default="nbody")
    args = parser.parse_args()
    program = PROGRAMS / f"{args.program}.py"

    plain_seconds, plain = start_together([sys.executable, str(program)], args.processes, child_env())
    expected = plain[0][1]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache_dir, log = tmp / "cache", tmp / "builds.log"
        env = dict(child_env(), CC=compiler_wrapper(tmp, log))
        cmd = [sys.executable, "-m", "restrain", "--cache-dir", str(cache_dir), str(program)]
        jit_seconds, jit = start_together(cmd, args.processes, env)
        wait_for_detached_compiles()    # compiles handed over at exit, to count them too
        builds = log.read_text().splitlines() if log.exists() else []
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        entries = sorted(p.name[: -len(suffix)] for p in cache_dir.rglob("*" + suffix))
        warm_seconds, warm = start_together(cmd, args.processes, env)    # the same, cache filled
        rebuilt = len(log.read_text().splitlines()) - len(builds)

    same_output = all(rc == 0 and out == expected for rc, out, _ in jit + warm)
    quiet = all(not err.strip() for _, _, err in jit + warm)
    functions = " ".join(builds).split()
    once = len(functions) == len(set(functions)) and sorted(functions) == entries
    print(f"{args.processes} processes of {args.program}.py started together on an empty cache")
    print(f"identical output, exit status 0:  {'yes' if same_output else 'NO'}")
    print(f"modules built: {len(builds)}, functions built: {len(functions)}, distinct: {len(set(functions))}, "
          f"in cache: {len(entries)}  ({'each once' if once else 'NOT each once'})")
    print(f"stderr empty in every process:    {'yes' if quiet else 'NO'}")
    print(f"wall time, plain {plain_seconds:.2f} s, restrain {jit_seconds:.2f} s (empty cache), "
          f"ratio {plain_seconds / jit_seconds:.2f}")
    print(f"again, cache filled: restrain {warm_seconds:.2f} s, ratio {plain_seconds / warm_seconds:.2f}, "
          f"modules built {rebuilt}")
    for rc, out, err in jit + warm:
        if rc != 0 or out != expected or err.strip():
            print(f"--- a process: exit status {rc}\n{err[-2000:]}", file=sys.stderr)
            break
    return 0 if same_output and quiet and once and rebuilt == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
