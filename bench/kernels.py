"""Single kernels, interpreted against compiled-for-their-types, in one process.

    python bench/kernels.py [--repeat N]

Each kernel runs a few times on the interpreter (so that 3.11 specialises
its instructions: restrain's type feedback), is timed (best of N), then is
compiled with `restrain.compile(f, arg_types=...)` and timed again on the
same input; the results must be equal.  Prints plain / compiled ratios
(above 1.0: compiled is faster).  Whole programs are bench/run.py's job.
"""
from __future__ import annotations

import argparse
import time

import restrain


def int_loop(n):
    t = 0
    for i in range(n):
        t += i * i % 7
    return t


def float_loop(n, x):
    s = 0.0
    for i in range(n):
        s += x * i / (i + 1.0)
    return s


def kick(bodies, dt):
    count = len(bodies)
    for i in range(count):
        pos_i, vel_i, mass_i = bodies[i]
        for j in range(i + 1, count):
            pos_j, vel_j, mass_j = bodies[j]
            dx = pos_i[0] - pos_j[0]
            dy = pos_i[1] - pos_j[1]
            dz = pos_i[2] - pos_j[2]
            dist2 = dx * dx + dy * dy + dz * dz + 0.01
            mag = dt / (dist2 * dist2 ** 0.5)
            vel_i[0] -= dx * mass_j * mag
            vel_i[1] -= dy * mass_j * mag
            vel_i[2] -= dz * mass_j * mag
            vel_j[0] += dx * mass_i * mag
            vel_j[1] += dy * mass_i * mag
            vel_j[2] += dz * mass_i * mag


def bodies(count=8):
    out = []
    for k in range(count):
        out.append([[k * 1.5, k * -0.5, k * 0.25], [0.0, 0.1 * k, 0.0], 1.0 + k / 10])
    return out


def kick_many(times):
    b = bodies()
    for _ in range(times):
        kick(b, 0.01)
    return repr(b)


KERNELS = [
    # (function, argument types for the compile, arguments, what to time)
    (int_loop, (int,), (2_000_000,), int_loop),
    (float_loop, (int, float), (2_000_000, 1.5), float_loop),
    (kick, (list, float), (3_000,), kick_many),
]


def best(fn, args, repeat):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("| kernel | plain (s) | compiled (s) | ratio |")
    print("| --- | --- | --- | --- |")
    for func, types, call_args, timed in KERNELS:
        for _ in range(20):
            timed(*[a // 1000 if isinstance(a, int) else a for a in call_args])
        plain, expected = best(timed, call_args, args.repeat)
        result = restrain.compile(func, arg_types=types)
        if not result.ok:
            raise SystemExit(f"{func.__name__} did not compile: {result.reason}")
        compiled, got = best(timed, call_args, args.repeat)
        if got != expected:
            raise SystemExit(f"{func.__name__}: compiled result differs: {got!r} != {expected!r}")
        print(f"| {func.__name__} | {plain:.4f} | {compiled:.4f} | {plain / compiled:.1f} |")


if __name__ == "__main__":
    main()
