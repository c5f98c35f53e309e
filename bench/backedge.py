"""Cost of the check compiled loops make on every back-edge.

    python bench/backedge.py [--n N] [--repeat R]

Compiles three tight loops with restrain.compile and prints the best time
per iteration of each (min over R runs, in ns).  Run it before and after a
change to restrain_abi.h's rs_check_signals (the module cache is keyed on
the header, so each version builds its own modules); point
RESTRAIN_CACHE_DIR at a scratch directory to keep your cache clean.
"""
from __future__ import annotations

import argparse
import time

import restrain


def while_loop(n):
    i = 0
    while i < n:
        i += 1
    return i


def for_range(n):
    for i in range(n):
        pass
    return n


def nested(n):
    total = 0
    for i in range(n // 100):
        for j in range(100):
            total += j
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    for func in (while_loop, for_range, nested):
        result = restrain.compile(func)
        if not result.ok:
            raise SystemExit(f"{func.__name__}: not compiled: {result.reason}")
        func(10)   # warm up
        best = min(_timed(func, args.n) for _ in range(args.repeat))
        print(f"{func.__name__:12s} {best / args.n * 1e9:6.2f} ns/iteration")


def _timed(func, n) -> float:
    start = time.perf_counter()
    func(n)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
