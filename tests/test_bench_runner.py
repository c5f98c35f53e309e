"""bench/run.py's steady-state measurement: the lockstep drivers and the
confidence interval of the median pair ratio.

The runner is how every speed claim is made, so its two moving parts are
tested here: a driver in --lockstep mode times exactly the calls it is told
to and its report reaches the runner whole, and the interval is the right
pair of order statistics.
"""

import importlib.util
import json
import math
import subprocess
import sys
import time

import pytest

from conftest import ROOT


def load_runner():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = load_runner()

PROGRAM = '''
N = 5
calls = 0


def run(n):
    global calls
    calls += 1
    return f"call {calls}: {sum(range(n))}"
'''


def test_a_lockstep_driver_times_one_call_per_turn_and_reports_them(tmp_path):
    program = tmp_path / "tiny.py"
    program.write_text(PROGRAM)
    # the report follows the last timed call at once; when the runner reads
    # late (it was busy with the other driver) both lines are in the pipe
    # together, and the report must not be lost in the stream's read-ahead
    # (it was, now and then)
    for late in (False, True):
        driver = runner.LockstepDriver([sys.executable, str(runner.STEADY), str(program), "-",
                                        "3", "2", "--lockstep"])
        try:
            assert driver.ready()
            assert driver.time_one_call() and driver.time_one_call()
            if late:
                driver.proc.stdin.write("go\n")
                driver.proc.stdin.flush()
                time.sleep(0.5)
                assert driver.wait_for(runner.STEADY_DONE)
            else:
                assert driver.time_one_call()
            outcome = driver.finish()
        finally:
            driver.kill()
        assert outcome.ok, outcome.stderr
        results, report = runner.split_steady(outcome.stdout)
        assert report is not None and len(report["times"]) == 3
        assert report["size"] == 5 and report["restrain"] is False
        assert results.splitlines() == [f"call {k}: 10" for k in range(1, 6)]


def test_a_lockstep_driver_stops_timing_when_its_input_ends(tmp_path):
    program = tmp_path / "tiny.py"
    program.write_text(PROGRAM)
    driver = runner.LockstepDriver([sys.executable, str(runner.STEADY), str(program), "-",
                                    "10", "1", "--lockstep"])
    try:
        assert driver.ready() and driver.time_one_call()
        outcome = driver.finish()
    finally:
        driver.kill()
    _, report = runner.split_steady(outcome.stdout)
    assert outcome.ok and len(report["times"]) == 1


SLEEPER = '''
import time
N = 20
calls = 0


def run(n):
    """n ms of sleep; below 20 ms a result of its own each call"""
    global calls
    calls += 1
    time.sleep(n / 1000)
    return "same" if n >= 20 else f"call {calls}"
'''


def lockstep_turns(program, size, span, turns=2):
    driver = runner.LockstepDriver([sys.executable, str(runner.STEADY), str(program), size,
                                    str(turns), "2", "--lockstep", "--span", str(span)])
    try:
        assert driver.ready()
        for _ in range(turns):
            assert driver.time_one_call()
        outcome = driver.finish()
    finally:
        driver.kill()
    assert outcome.ok, outcome.stderr
    return runner.split_steady(outcome.stdout)


def test_a_turn_of_a_span_repeats_short_calls_and_reports_their_mean(tmp_path):
    """--span 0.1 with 20 ms calls: five calls a turn, 20 ms each on average;
    the turn prints its result once, as a turn of one call would."""
    program = tmp_path / "sleeper.py"
    program.write_text(SLEEPER)
    results, report = lockstep_turns(program, "-", 0.1)
    assert report["calls_per_turn"] == 5
    assert results.splitlines() == ["same"] * 4      # 2 warm-up calls, 2 turns
    assert all(0.019 < t < 0.04 for t in report["times"]), report["times"]
    assert calls_made(program, report) == 2 + 2 * 5


def calls_made(program, report):
    return len(report["warmup"]) + len(report["times"]) * report["calls_per_turn"]


def test_a_turn_prints_every_result_that_differs_from_its_first(tmp_path):
    """A program whose result changes from call to call shows it: the
    runner's output comparison must still see a difference."""
    program = tmp_path / "sleeper.py"
    program.write_text(SLEEPER)
    results, report = lockstep_turns(program, "10", 0.03, turns=1)
    assert report["calls_per_turn"] == 3
    assert results.splitlines() == ["call 1", "call 2", "call 3", "call 4", "call 5"]


def test_without_a_span_a_turn_is_one_call(tmp_path):
    program = tmp_path / "sleeper.py"
    program.write_text(SLEEPER)
    _, report = lockstep_turns(program, "-", 0)
    assert report["calls_per_turn"] == 1


@pytest.mark.parametrize("n, ranks", [(5, None), (6, (1, 6)), (10, (2, 9)), (30, (10, 21))])
def test_the_interval_of_the_median_is_the_binomial_order_statistics(n, ranks):
    values = [float(k) for k in range(n, 0, -1)]       # unsorted on purpose: n..1
    interval = runner.median_interval(values)
    assert interval == (None if ranks is None else (float(ranks[0]), float(ranks[1])))
    if ranks is not None:
        # the coverage it claims: P(Bin(n, 1/2) < j) <= 2.5% < P(Bin(n, 1/2) <= j)
        j = ranks[0]
        below = sum(math.comb(n, i) for i in range(j)) / 2 ** n
        assert below <= 0.025 < below + math.comb(n, j) / 2 ** n


def test_the_steady_interval_counts_rounds_not_pairs():
    """Thirty pairs from three rounds are three independent samples, too
    few for an interval; six rounds give one, over their medians."""
    bench = runner.ProgramBench("x", None, iterations=10, warmup=1)
    bench.steady_round_ratios = [[0.8] * 10, [1.0] * 10, [1.2] * 10]
    bench.steady = {"plain": [1.0] * 30, "restrain": [1.0] * 30}
    assert bench.steady_interval() is None
    bench.steady_round_ratios = [[r, r + 0.01, r - 0.01] for r in (0.8, 0.9, 1.0, 1.1, 1.2, 1.3)]
    assert bench.steady_interval() == pytest.approx((0.8, 1.3))


def load_bench_module(name):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "bench"))


LOOP_PROGRAM = '''
N = 3000


def run(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return str(total)
'''


@pytest.mark.parametrize("under_restrain", [False, True])
def test_the_counted_driver_runs_its_calls_and_says_what_was_compiled(tmp_path, under_restrain):
    """bench/_counted.py without valgrind: warm-up calls, then the counted
    ones inside functools.reduce; under restrain the loop is compiled in
    the warm-up and finding hot code is stopped before the counted calls."""
    program = tmp_path / "loop.py"
    program.write_text(LOOP_PROGRAM)
    launcher = [sys.executable, "-m", "restrain", "--threshold", "2", "--cache-dir",
                str(tmp_path / "cache")] if under_restrain else [sys.executable]
    proc = subprocess.run([*launcher, str(ROOT / "bench" / "_counted.py"), str(program), "-", "3", "2"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:-1] == [str(sum(i * i % 7 for i in range(3000)))] * 5
    report = json.loads(lines[-1][len("COUNTED-JSON "):])
    assert report["restrain"] is under_restrain and report["calls"] == 3
    # (a threshold of 2 compiles some of the standard library's functions too)
    assert ("run" in report["compiled"]) is under_restrain
    assert under_restrain or report["compiled"] == []


def test_an_instruction_count_is_read_from_callgrinds_summary(tmp_path):
    instructions = load_bench_module("instructions")
    out = tmp_path / "out.callgrind"
    out.write_text("version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 829383757\n\ntotals: 829383757\n")
    assert instructions.callgrind_total(out) == 829383757
    out.write_text("events: Ir\n")
    with pytest.raises(ValueError):
        instructions.callgrind_total(out)


def test_the_frameless_benchmark_prints_a_ratio_and_the_calls_answered(run_python):
    # bench/frameless.py: one process, frameless versions on and off in
    # turn; richards' small methods must be answered without frames
    proc = run_python(ROOT / "bench" / "frameless.py", "--only", "richards", "--rounds", "1", "--calls", "1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    name, ratio, per_run, nested = proc.stdout.splitlines()[-1].split()
    assert name == "richards" and float(ratio) > 0
    assert int(per_run) > 100_000          # is_suspended, find, take_packet, wait, hold, the run methods
    assert int(nested) > 50_000            # run -> send -> find, add_packet -> append_to
