"""bench/run.py's steady-state measurement: the lockstep drivers and the
confidence interval of the median pair ratio.

The runner is how every speed claim is made, so its two moving parts are
tested here: a driver in --lockstep mode times exactly the calls it is told
to and its report reaches the runner whole, and the interval is the right
pair of order statistics.
"""

import importlib.util
import math
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
