"""The benchmark suite: every program in bench/programs/, plain CPython
against restrain, steady state and whole process, in one run.

    python bench/run.py [--repeat R] [--only NAME,...] [--quick] [--json FILE]
                        [--steady-rounds S] [--iterations ITER] [--warmup WARMUP]
                        [--warm-pairs WARM_PAIRS] [--span SECONDS]

For each program, R whole-process rounds and S steady rounds (defaults 3
and 6; the first rounds do both):

  whole     python bench/programs/X.py                         (plain)
            python -m restrain --cache-dir <empty dir> X.py     (cold cache)
            python -m restrain --cache-dir <same dir> X.py      (warm cache,
            once the compiles the cold run handed over at exit are done)
            then WARM_PAIRS - 1 more plain and warm processes, back to
            back (which goes first alternates)
  steady    python bench/_steady.py PROGRAM SIZE ITER WARMUP --lockstep
            python -m restrain --cache-dir <steady dir> bench/_steady.py ...
            both started together; each calls run(SIZE) WARMUP times
            (under restrain each call is followed by restrain.wait(), so
            queued compiles finish).  Then they take turns: one timed call
            of plain, one of restrain (which goes first alternates), ITER
            pairs.  (The program's steady cache only saves compile time
            after the first round: the timed calls start once every
            compile is done.)  A turn lasts at least about SPAN seconds
            (default 0.2, about one plain call): a driver whose calls are
            shorter makes as many calls per turn as that takes and
            reports the mean (_steady.py --span), so that both sides of
            a pair are timed over about the same stretch of this
            machine's changing speed.

After every restrain process the runner waits until the detached compile
servers it left have finished, so that no compile overlaps a measurement.

Ratios are plain time / restrain time: above 1.0, restrain is faster.  On
this machine the time of one call drifts by up to a third from second to
second, and a process can be slower than another all its life (plain
against plain, calls taken in turn: one round's pairs all near 0.8,
another's near 1.2).  So each ratio comes with a 95% confidence interval
of its median (order statistics) over independent units, and a ratio is
only as good as its interval: a program whose interval holds 1.0 runs at
plain CPython's speed as far as the run can tell.
  steady ratio = median of all pairs' plain / restrain; its interval is
                 over the rounds' medians (pairs of one round share their
                 processes, rounds do not; 6 rounds or more give one)
  warm ratio   = median plain / warm of the pairs of whole processes run
                 back to back; its interval over those pairs
  cold ratio   = median plain process wall time / median cold one
The table ends with the geometric mean of each column over the programs
whose every variant ran and printed the same output as plain Python.

Every restrain variant must print exactly what plain Python prints.  A
difference marks the row OUTPUT DIFFERS (a diff goes to stderr), a crash
marks it FAILED; the numbers of such a variant are not used.

--quick runs every program at a small size, once, with fewer iterations: a
smoke test of the whole suite in a minute or two, not a measurement.
"""
from __future__ import annotations

import argparse
import difflib
import json
import math
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PROGRAMS = BENCH / "programs"
STEADY = BENCH / "_steady.py"
STEADY_MARKER = "STEADY-JSON "
STEADY_READY = "STEADY-READY"
STEADY_DONE = "STEADY-DONE"

# Small sizes for --quick (each run() call takes some 10-40 ms).
QUICK_SIZES = {
    "calls": 6_000, "deltablue": 900, "fib": 25, "float_loops": 16_000,
    "generators": 24_000, "int_loops": 22_000, "int_overflow": 3_000,
    "mandelbrot": 120, "matmul": 60, "mixed_list": 2_000, "nbody": 1_500,
    "raytrace": 40, "richards": 5_500, "sieve": 170_000, "spectral_norm": 64,
    "strings": 3_000,
}

# Marks the environment of the processes this run starts, so that it waits
# for its own detached compile servers and not for anybody else's.  (Not a
# RESTRAIN* name: restrain drops those from its compile server's environment.)
RUN_TOKEN = f"{os.getpid()}-{uuid.uuid4().hex}"
TOKEN_VARIABLE = "BENCH_RUN_TOKEN"
TIMEOUT = 900


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def child_env() -> dict[str, str]:
    """This environment without restrain's settings (a plain run must be
    plain: RESTRAIN=1 would enable the JIT), plus this run's token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTRAIN")}
    env[TOKEN_VARIABLE] = RUN_TOKEN
    return env


class Outcome:
    """One process run: wall time, exit status, output."""

    def __init__(self, cmd: list[str], seconds: float, returncode: int | None,
                 stdout: str, stderr: str):
        self.cmd = cmd
        self.seconds = seconds
        self.returncode = returncode      # None: timed out
        self.stdout = stdout
        self.stderr = stderr

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def failure(self) -> str:
        return "timed out" if self.returncode is None else f"exit status {self.returncode}"


def run_process(cmd: list[str]) -> Outcome:
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                              env=child_env(), timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:
        def text(data):
            return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")
        return Outcome(cmd, time.perf_counter() - start, None, text(e.stdout), text(e.stderr))
    return Outcome(cmd, time.perf_counter() - start, proc.returncode, proc.stdout, proc.stderr)


def wait_for_detached_compiles(timeout: float = 300.0) -> None:
    """A restrain process hands the compiles still queued at exit to its
    compile server, which outlives it; wait until this run's servers are
    done (they carry our token in their environment)."""
    import psutil

    def ours(proc) -> bool:
        try:
            cmdline = proc.cmdline()
            if not any("restrain.compile_server" in part for part in cmdline):
                return False
            return proc.environ().get(TOKEN_VARIABLE) == RUN_TOKEN
        except (psutil.Error, OSError):
            return False

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(ours(p) for p in psutil.process_iter()):
            return
        time.sleep(0.1)
    log(f"warning: detached compile servers still running after {timeout:.0f} s")


def diff_snippet(expected: str, actual: str, label: str, lines: int = 20) -> str:
    diff = list(difflib.unified_diff(expected.splitlines(), actual.splitlines(),
                                     "plain", label, lineterm="", n=1))
    if len(diff) > lines:
        diff = diff[:lines] + [f"... ({len(diff) - lines} more diff lines)"]
    return "\n".join(diff)


def split_steady(stdout: str) -> tuple[str, dict | None]:
    """The results printed by _steady.py and its JSON report."""
    results, report = [], None
    for line in stdout.splitlines():
        if line.startswith(STEADY_MARKER):
            report = json.loads(line[len(STEADY_MARKER):])
        elif line not in (STEADY_READY, STEADY_DONE):
            results.append(line)
    return "\n".join(results) + "\n", report


class LockstepDriver:
    """One bench/_steady.py process in --lockstep mode: started at once,
    told to time one call at a time."""

    def __init__(self, cmd: list[str]):
        self.cmd = cmd
        self.started = time.perf_counter()
        self.lines: list[str] = []
        # a file, not a pipe: nobody reads stderr until the end, and a full
        # pipe would block the driver while the runner waits for its stdout
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True, cwd=ROOT, env=child_env())

    def wait_for(self, marker: str) -> bool:
        """Read output up to a line `marker`; False if the process ended first."""
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.rstrip("\n") == marker:
                return True
        return False

    def ready(self) -> bool:
        return self.wait_for(STEADY_READY)

    def time_one_call(self) -> bool:
        try:
            self.proc.stdin.write("go\n")
            self.proc.stdin.flush()
        except OSError:      # it has ended
            return False
        return self.wait_for(STEADY_DONE)

    def finish(self) -> Outcome:
        """Close its stdin (the driver stops timing and reports), read the
        rest of its output, wait.  (The rest is read through the same text
        stream: communicate() would read the pipe itself and lose what the
        stream had buffered past the last marker.)"""
        timer = threading.Timer(TIMEOUT, self.proc.kill)
        timer.start()
        try:
            try:
                self.proc.stdin.close()
            except OSError:        # it has ended
                pass
            rest = self.proc.stdout.read()
            self.proc.wait()
        finally:
            timer.cancel()
        returncode = self.proc.returncode
        if returncode == -signal.SIGKILL and time.perf_counter() - self.started >= TIMEOUT:
            returncode = None      # killed by the timer: timed out
        self.stderr.seek(0)
        stderr = self.stderr.read()
        self.stderr.close()
        return Outcome(self.cmd, time.perf_counter() - self.started, returncode,
                       "".join(self.lines) + rest, stderr)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class ProgramBench:
    """The measurements of one program over all rounds."""

    def __init__(self, name: str, size: int | None, iterations: int, warmup: int,
                 extra_warm_pairs: int = 0, span: float = 0.0):
        self.name = name
        self.span = span
        self.calls_per_turn: list[tuple[int, int]] = []     # (plain, restrain) per round
        self.path = PROGRAMS / f"{name}.py"
        self.size = size
        self.iterations = iterations
        self.warmup = warmup
        # per timed call, pair by pair: steady["plain"][i] ran next to steady["restrain"][i]
        self.steady = {"plain": [], "restrain": []}
        # the pair ratios of each steady round (one pair of processes each)
        self.steady_round_ratios: list[list[float]] = []
        self.whole = {"plain": [], "cold": [], "warm": []}  # per-process seconds
        self.extra_warm_pairs = extra_warm_pairs
        self.warm_pairs: list[tuple[float, float]] = []     # (plain, warm) run back to back
        self.problems: dict[str, str] = {}                  # variant -> what went wrong
        self.stats: list[dict] = []                         # restrain stats of steady runs
        self.n: int | None = size                           # the size run() was called with

    def size_args(self) -> list[str]:
        return [] if self.size is None else [str(self.size)]

    def problem(self, variant: str, kind: str, outcome: Outcome, detail: str) -> None:
        if variant not in self.problems:
            self.problems[variant] = kind
        log(f"\n*** {self.name}: {kind} in variant {variant}\n"
            f"*** command: {shlex.join(outcome.cmd)}\n{detail.rstrip()}\n")

    def check(self, variant: str, outcome: Outcome, expected: str | None,
              actual: str | None = None) -> bool:
        """Record a crash or an output difference; True if the variant is fine."""
        if not outcome.ok:
            tail = "\n".join(outcome.stderr.splitlines()[-25:])
            self.problem(variant, "FAILED", outcome, f"{outcome.failure()}; stderr ends:\n{tail}")
            return False
        actual = outcome.stdout if actual is None else actual
        if expected is not None and actual != expected:
            self.problem(variant, "OUTPUT DIFFERS", outcome,
                         diff_snippet(expected, actual, variant))
            return False
        return True

    # -- one round ---------------------------------------------------------------

    def round(self, index: int, whole: bool, steady: bool, steady_cache: str) -> None:
        """One round: whole processes (with an empty cache of their own: the
        first restrain run is the cold one), then the steady state (with the
        program's steady cache, which only saves compile time: the steady
        driver waits for its compiles)."""
        if whole:
            with tempfile.TemporaryDirectory(prefix="restrain-bench-") as cache:
                self.whole_round(cache)
        if steady:
            self.steady_round(steady_cache, restrain_first=index % 2 == 1)

    def steady_round(self, cache: str, restrain_first: bool) -> None:
        """A plain and a restrain driver side by side, in lockstep: both warm
        up (restrain compiling what turned hot), then they take turns, one
        timed run() call each, the first of each pair alternating.  Each
        pair gives a ratio; its two calls ran seconds apart at most."""
        size = "-" if self.size is None else str(self.size)
        args = [str(STEADY), str(self.path), size, str(self.iterations), str(self.warmup),
                "--lockstep", "--span", str(self.span)]
        drivers = {"plain": LockstepDriver([sys.executable, *args]),
                   "restrain": LockstepDriver([sys.executable, "-m", "restrain",
                                               "--cache-dir", cache, *args])}
        try:
            if all(d.ready() for d in drivers.values()):
                for i in range(self.iterations):
                    order = ["restrain", "plain"] if (i % 2 == 1) == restrain_first else ["plain", "restrain"]
                    if not all(drivers[v].time_one_call() for v in order):
                        break
            outcomes = {v: d.finish() for v, d in drivers.items()}
        finally:
            for d in drivers.values():
                d.kill()
        wait_for_detached_compiles()
        plain = outcomes["plain"]
        if not self.check("steady plain", plain, None):
            return
        plain_results, plain_report = split_steady(plain.stdout)
        if plain_report is None:
            self.problem("steady plain", "FAILED", plain, "no STEADY-JSON line in its output")
            return
        self.n = plain_report["size"]
        jit = outcomes["restrain"]
        if not self.check("steady", jit, None):
            return
        jit_results, jit_report = split_steady(jit.stdout)
        if jit_report is None:
            self.problem("steady", "FAILED", jit, "no STEADY-JSON line in its output")
            return
        if not jit_report.get("restrain"):
            self.problem("steady", "FAILED", jit, "restrain was not enabled in the process:\n"
                         + jit.stderr)
            return
        if self.check("steady", jit, plain_results, jit_results):
            pairs = list(zip(plain_report["times"], jit_report["times"]))
            self.steady["plain"].extend(t for t, _ in pairs)
            self.steady["restrain"].extend(t for _, t in pairs)
            self.steady_round_ratios.append([p / r for p, r in pairs])
            self.calls_per_turn.append((plain_report.get("calls_per_turn", 1),
                                        jit_report.get("calls_per_turn", 1)))
            self.stats.append(jit_report.get("stats", {}))

    def whole_round(self, cache: str) -> None:
        """`cache` must be empty: the first restrain run is the cold one."""
        jit = [sys.executable, "-m", "restrain", "--cache-dir", cache, str(self.path),
               *self.size_args()]
        plain = run_process(self.plain_cmd())
        cold = run_process(jit)
        wait_for_detached_compiles()
        warm = run_process(jit)
        wait_for_detached_compiles()
        if not self.check("plain", plain, None):
            return
        self.whole["plain"].append(plain.seconds)
        if self.check("cold", cold, plain.stdout):
            self.whole["cold"].append(cold.seconds)
        self.warm_pair(plain, warm)
        # more warm pairs, run back to back (which goes first alternates):
        # whole processes cannot take turns, so the pairs must be many
        for k in range(self.extra_warm_pairs):
            first_plain = k % 2 == 1
            a = run_process(self.plain_cmd() if first_plain else jit)
            wait_for_detached_compiles()
            b = run_process(jit if first_plain else self.plain_cmd())
            wait_for_detached_compiles()
            extra_plain, extra_warm = (a, b) if first_plain else (b, a)
            if self.check("plain", extra_plain, plain.stdout):
                self.whole["plain"].append(extra_plain.seconds)
                self.warm_pair(extra_plain, extra_warm)

    def plain_cmd(self) -> list[str]:
        return [sys.executable, str(self.path), *self.size_args()]

    def warm_pair(self, plain: Outcome, warm: Outcome) -> None:
        if self.check("warm", warm, plain.stdout):
            self.whole["warm"].append(warm.seconds)
            self.warm_pairs.append((plain.seconds, warm.seconds))

    # -- results -----------------------------------------------------------------

    def medians(self) -> dict[str, float | None]:
        def median(values):
            return statistics.median(values) if values else None
        return {"steady_plain": median(self.steady["plain"]),
                "steady_restrain": median(self.steady["restrain"]),
                **{k: median(v) for k, v in self.whole.items()}}

    def pair_ratios(self) -> list[float]:
        """plain / restrain of each lockstep pair of timed calls."""
        return [ratio for round_ratios in self.steady_round_ratios for ratio in round_ratios]

    def steady_interval(self) -> tuple[float, float] | None:
        """A 95% confidence interval of the median ratio, over the rounds'
        median ratios: the pairs of one round share their two processes,
        and a process can be slower than another all its life (plain
        against plain: one round's pairs all about 0.8, another's about
        1.2), so only rounds are independent of each other."""
        if "steady" in self.problems:
            return None
        return median_interval([statistics.median(r) for r in self.steady_round_ratios if r])

    def warm_ratios(self) -> list[float]:
        return [p / w for p, w in self.warm_pairs]

    def warm_interval(self) -> tuple[float, float] | None:
        if "warm" in self.problems:
            return None
        return median_interval(self.warm_ratios())

    def ratios(self) -> dict[str, float | None]:
        m = self.medians()

        def ratio(plain, other, variant):
            if variant in self.problems or plain is None or other is None:
                return None
            return plain / other
        def median_ratio(ratios, variant):
            return statistics.median(ratios) if ratios and variant not in self.problems else None
        return {"steady": median_ratio(self.pair_ratios(), "steady"),
                "cold": ratio(m["plain"], m["cold"], "cold"),
                "warm": median_ratio(self.warm_ratios(), "warm")}

    def status(self) -> str:
        if not self.problems:
            return "ok"
        return "; ".join(f"{kind}: {variant}" for variant, kind in self.problems.items())

    def as_json(self) -> dict:
        return {"size": self.n, "size_given": self.size is not None,
                "iterations": self.iterations, "warmup": self.warmup, "span": self.span,
                "calls_per_turn": self.calls_per_turn, "steady_seconds": self.steady, "whole_seconds": self.whole,
                "medians": self.medians(), "ratios": self.ratios(),
                "steady_round_ratios": self.steady_round_ratios,
                "steady_interval": self.steady_interval(), "warm_pairs": self.warm_pairs,
                "warm_interval": self.warm_interval(),
                "restrain_stats": self.stats, "problems": self.problems,
                "status": self.status()}


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """A distribution-free confidence interval of the median of `values`:
    the order statistics x(j) and x(n+1-j), for the largest j with
    P(Binomial(n, 1/2) < j) <= (1 - confidence) / 2 (None for too few
    values: below 6 no such j exists at 95%)."""
    n = len(values)
    tail = (1 - confidence) / 2
    below, j = 0.0, 0
    while True:
        below += math.comb(n, j) / 2 ** n      # P(Bin < j + 1)
        if below > tail:
            break
        j += 1
    if j == 0:
        return None
    ordered = sorted(values)
    return ordered[j - 1], ordered[n - j]


def program_names() -> list[str]:
    """The benchmark programs: bench/programs/*.py, by name."""
    return sorted(p.stem for p in PROGRAMS.glob("*.py") if not p.stem.startswith("_"))


def geometric_mean(values: list[float]) -> float | None:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def fmt_interval(interval: tuple[float, float] | None) -> str:
    return "" if interval is None else f" ({interval[0]:.2f}-{interval[1]:.2f})"


def header_lines(command: str) -> list[str]:
    check = subprocess.run(
        [sys.executable, "-m", "restrain", "-c",
         "import restrain; print(restrain.is_enabled(), restrain.__file__)"],
        capture_output=True, text=True, cwd=ROOT, env=child_env())
    enabled, _, where = check.stdout.strip().partition(" ")
    if check.returncode != 0 or enabled != "True":
        raise SystemExit(f"restrain cannot be enabled with {sys.executable}:\n"
                         f"{check.stdout}{check.stderr}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=ROOT).stdout.strip() or "unknown"
    return [f"command: `{command}`",
            f"python: {sys.executable} ({platform.python_version()}), "
            f"restrain: {Path(where).parent} (commit {commit}), "
            f"{os.cpu_count()} CPUs"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=None,
                        help="rounds per program (default 3, --quick: 1)")
    parser.add_argument("--only", default=None, metavar="NAME,...",
                        help="run only these programs (names without .py)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, one round, fewer iterations: a smoke run")
    parser.add_argument("--steady-rounds", type=int, default=None,
                        help="steady rounds per program, each a new pair of processes "
                             "(default 6, --quick: 1)")
    parser.add_argument("--iterations", type=int, default=None,
                        help="timed run() calls per steady process (default 5, --quick: 3)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="warm-up run() calls per steady process (default 4, --quick: 2)")
    parser.add_argument("--warm-pairs", type=int, default=None,
                        help="plain and warm-cache whole processes per round, run back to back "
                             "(default 3, --quick: 1)")
    parser.add_argument("--span", type=float, default=None, metavar="SECONDS",
                        help="least length of a steady turn: shorter run() calls are "
                             "repeated within it and averaged (default 0.2, --quick: 0)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="also save the raw numbers to FILE")
    args = parser.parse_args()
    repeat = args.repeat or (1 if args.quick else 3)
    iterations = args.iterations or (3 if args.quick else 5)
    steady_rounds = args.steady_rounds or (1 if args.quick else 6)
    warmup = args.warmup or (2 if args.quick else 4)
    warm_pairs = max(1, args.warm_pairs or (1 if args.quick else 3))
    span = args.span if args.span is not None else (0.0 if args.quick else 0.2)

    available = program_names()
    names = available
    if args.only:
        names = [n.strip().removesuffix(".py") for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in available]
        if unknown:
            parser.error(f"unknown programs {unknown}; available: {', '.join(available)}")

    command = shlex.join([sys.executable, *sys.argv])
    header = header_lines(command)
    mode = "quick smoke run (small sizes, not a measurement)" if args.quick else "default sizes"
    header.append(f"{mode}; whole process: {repeat} round(s), {warm_pairs} plain/warm pair(s) "
                  f"each; steady: {steady_rounds} round(s) of {warmup} warm-up + {iterations} "
                  f"timed turns, plain and restrain in lockstep, each turn "
                  f"about {span:g} s of run() calls")
    for line in header:
        print(line)
    print()
    print("| program | plain run() (s) | steady ratio (95% CI) | plain process (s) "
          "| cold ratio | warm ratio (95% CI) | output |")
    print("| --- | --- | --- | --- | --- | --- | --- |", flush=True)

    benches = []
    started = time.monotonic()
    for name in names:
        size = QUICK_SIZES.get(name) if args.quick else None
        bench = ProgramBench(name, size, iterations, warmup, warm_pairs - 1, span)
        rounds = max(repeat, steady_rounds)
        with tempfile.TemporaryDirectory(prefix="restrain-bench-steady-") as steady_cache:
            for k in range(rounds):
                log(f"[{time.monotonic() - started:6.1f} s] {name}: round {k + 1}/{rounds}")
                bench.round(k, whole=k < repeat, steady=k < steady_rounds, steady_cache=steady_cache)
        benches.append(bench)
        m, r = bench.medians(), bench.ratios()
        print(f"| {name} | {fmt(m['steady_plain'], 3)} | {fmt(r['steady'])}{fmt_interval(bench.steady_interval())} "
              f"| {fmt(m['plain'])} "
              f"| {fmt(r['cold'])} | {fmt(r['warm'])}{fmt_interval(bench.warm_interval())} "
              f"| {bench.status()} |", flush=True)

    clean = [b for b in benches if not b.problems]
    means = {key: geometric_mean([b.ratios()[key] for b in clean])
             for key in ("steady", "cold", "warm")}
    left_out = [b.name for b in benches if b.problems]
    note = f"{len(clean)} programs" + (f"; left out: {', '.join(left_out)}" if left_out else "")
    print(f"| **geometric mean** | | **{fmt(means['steady'])}** | | **{fmt(means['cold'])}** "
          f"| **{fmt(means['warm'])}** | {note} |")
    log(f"total {time.monotonic() - started:.1f} s")

    if args.json:
        args.json.write_text(json.dumps({
            "command": command, "header": header, "quick": args.quick, "repeat": repeat,
            "iterations": iterations, "warmup": warmup, "span": span,
            "programs": {b.name: b.as_json() for b in benches},
            "geometric_means": means, "left_out_of_means": left_out,
        }, indent=2) + "\n")
    if left_out:
        sys.exit(1)


if __name__ == "__main__":
    main()
