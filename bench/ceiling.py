"""How close restrain gets to the best a C compiler can do on the same data.

    python bench/ceiling.py [--repeat N]

n-body's `kick` (bench/programs/nbody.py) works on lists of lists of boxed
floats.  This builds a hand-written Cython version of it that keeps that
data layout but checks nothing (no type guards, no frame, no signal checks,
no reference counting it can avoid), times plain CPython, restrain's
compiled version and the hand-written one side by side on the same bodies,
checks that all three leave the bodies bit-for-bit equal, and prints the
ratios to plain CPython.  The hand-written version computes `** 0.5` with
libm's pow, as CPython does; restrain takes sqrt where that is certainly
pow's result (restrain_abi.h rs_pow_half_by_sqrt) and so runs faster than
it: the hand-written ratio is the ceiling for code that keeps the
program's lists, floats and library calls as they are.

Then the same for the whole `run(n)` of bench/programs/float_loops.py and
int_loops.py, written in Cython with C types (doubles, 64-bit integers, the
coefficients in a C array), the same operations in the same order (no
reassociation, no fused multiply-add: what Python's semantics allow a
compiler), checked to print exactly what the program prints: plain
CPython, restrain's steady state (enabled, four warm-up calls) and the C
version, side by side.  That is the ceiling of bench/run.py's steady ratio
for those two programs.
"""
from __future__ import annotations

import argparse
import copy
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import restrain  # noqa: E402

HAND_WRITTEN = """
# cython: language_level=3, boundscheck=False, wraparound=False
from cpython.list cimport PyList_GET_ITEM, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF, Py_DECREF
from libc.math cimport pow

cdef extern from "Python.h":
    double PyFloat_AS_DOUBLE(object)
    object PyFloat_FromDouble(double)

cdef inline double get(list items, Py_ssize_t i):
    return PyFloat_AS_DOUBLE(<object>PyList_GET_ITEM(items, i))

cdef inline void put(list items, Py_ssize_t i, double value):
    cdef object old = <object>PyList_GET_ITEM(items, i)
    cdef object new = PyFloat_FromDouble(value)
    Py_INCREF(new)
    PyList_SET_ITEM(items, i, new)
    Py_DECREF(old)

def kick(list bodies, double dt, double softening):
    cdef Py_ssize_t count = len(bodies), i, j
    cdef list body_i, body_j, pos_i, vel_i, pos_j, vel_j
    cdef double mass_i, mass_j, dx, dy, dz, dist2, mag, bi, bj
    for i in range(count):
        body_i = bodies[i]
        pos_i, vel_i, mass_i = body_i[0], body_i[1], body_i[2]
        for j in range(i + 1, count):
            body_j = bodies[j]
            pos_j, vel_j, mass_j = body_j[0], body_j[1], body_j[2]
            dx = get(pos_i, 0) - get(pos_j, 0)
            dy = get(pos_i, 1) - get(pos_j, 1)
            dz = get(pos_i, 2) - get(pos_j, 2)
            dist2 = dx * dx + dy * dy + dz * dz + softening
            mag = dt / (dist2 * pow(dist2, 0.5))
            bi = mass_j * mag
            bj = mass_i * mag
            put(vel_i, 0, get(vel_i, 0) - dx * bi)
            put(vel_i, 1, get(vel_i, 1) - dy * bi)
            put(vel_i, 2, get(vel_i, 2) - dz * bi)
            put(vel_j, 0, get(vel_j, 0) + dx * bj)
            put(vel_j, 1, get(vel_j, 1) + dy * bj)
            put(vel_j, 2, get(vel_j, 2) + dz * bj)
"""


LOOPS_IN_C = """
# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
import math
from libc.stdlib cimport malloc, free

# -- bench/programs/float_loops.py --
cdef double bump(double x):
    return 4.0 / (1.0 + x * x)

cdef double integrate(double a, double b, long long steps):
    cdef double h = (b - a) / steps, total = 0.0
    cdef long long i
    for i in range(steps):
        total += bump(a + (i + 0.5) * h)
    return total * h

cdef double simpson_poly(double *coeffs, int ncoeffs, double a, double b, long long steps):
    cdef double h = (b - a) / steps, total = 0.0, x, y
    cdef long long i
    cdef int k
    for i in range(steps + 1):
        x = a + i * h
        y = 0.0
        for k in range(ncoeffs):
            y = y * x + coeffs[k]
        if i == 0 or i == steps:
            total += y
        elif i % 2 == 1:
            total += 4.0 * y
        else:
            total += 2.0 * y
    return total * h / 3.0

cdef double horner(double *coeffs, int ncoeffs, double x):
    cdef double result = 0.0
    cdef int k
    for k in range(ncoeffs):
        result = result * x + coeffs[k]
    return result

cdef double poly_table(double *coeffs, int ncoeffs, long long n):
    cdef double total = 0.0, step = 2.0 / n
    cdef long long i
    for i in range(n):
        total += horner(coeffs, ncoeffs, -1.0 + i * step)
    return total

cdef double newton_cbrt(double a, int iterations=20):
    cdef double x = a if a > 1.0 else 1.0
    cdef int k
    for k in range(iterations):
        x = x - (x * x * x - a) / (3.0 * x * x)
    return x

cdef double newton_sum(long long n):
    cdef double total = 0.0
    cdef long long i
    for i in range(1, n + 1):
        total += newton_cbrt(i * 0.37)
    return total

def float_loops_run(long long n):
    cdef double coeffs[6]
    coeffs[:] = [0.5, -1.25, 2.0, 0.75, -3.0, 1.0]
    pi = integrate(0.0, 1.0, n * 4)
    area = simpson_poly(coeffs, 6, -1.0, 1.0, n * 2)
    table = poly_table(coeffs, 6, n)
    roots = newton_sum(n // 8)
    error = abs(pi - math.pi)
    return f"{pi!r} {error:.3e} {area!r} {table!r} {roots!r}"

# -- bench/programs/int_loops.py (every value below 2**62) --
cdef unsigned long long MASK = (1ULL << 62) - 1

cdef long long sum_of_squares(long long n):
    cdef long long total = 0, i
    for i in range(n):
        total += i * i
    return total

cdef long long alternating_sum(long long n):
    cdef long long total = 0, sign = 1, i
    for i in range(1, n + 1):
        total += sign * (i % 97)
        sign = -sign
    return total

cdef unsigned long long xorshift(unsigned long long x):
    x ^= (x << 13) & MASK
    x ^= x >> 7
    x ^= (x << 17) & MASK
    return x

cdef unsigned long long mix(unsigned long long seed, long long count):
    cdef unsigned long long x = seed, acc = 0
    cdef long long k
    for k in range(count):
        x = xorshift(x)
        acc = (acc + (x & 0xFFFF)) & MASK
    return acc ^ x

cdef long long gcd(long long a, long long b):
    while b:
        a, b = b, a % b
    return a

cdef long long gcd_total(long long n):
    cdef long long total = 0, i
    for i in range(1, n + 1):
        total += gcd(i * 7919, (i * i + 1) % 1000003 + 1)
    return total

cdef long long collatz_steps(long long n):
    cdef long long steps = 0
    while n != 1:
        if n % 2 == 0:
            n //= 2
        else:
            n = 3 * n + 1
        steps += 1
    return steps

def int_loops_run(long long n):
    cdef long long best = 0, best_start = 1, start, steps
    squares = sum_of_squares(n)
    alternating = alternating_sum(n)
    mixed = mix(0x2545F4914F6CDD1D & MASK, n)
    gcds = gcd_total(n // 4)
    for start in range(1, n // 8):
        steps = collatz_steps(start)
        if steps > best:
            best, best_start = steps, start
    return f"{squares % 1_000_000_007} {alternating} {mixed} {gcds} {best_start}:{best}"
"""


def load_path(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_hand_written(workdir: Path, name: str = "kick_by_hand", source: str = HAND_WRITTEN):
    pyx = workdir / f"{name}.pyx"
    pyx.write_text(source)
    subprocess.run([sys.executable, "-m", "Cython.Build.Cythonize", "-i", "-q", str(pyx)], cwd=workdir,
                   check=True, capture_output=True)
    so = next(workdir.glob(f"{name}*.so"))
    return load_path(name, so)


def best_call(run, n: int, repeat: int) -> tuple[float, str]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run(n)
        best = min(best, time.perf_counter() - start)
    return best, result


def loops_in_c(repeat: int) -> None:
    """float_loops' and int_loops' run(n): plain, restrain (steady), C."""
    with tempfile.TemporaryDirectory(prefix="restrain-ceiling-") as tmp:
        in_c = build_hand_written(Path(tmp), "loops_in_c", LOOPS_IN_C)
        programs = {name: load_path(f"{name}_program", ROOT / "bench" / "programs" / f"{name}.py")
                    for name in ("float_loops", "int_loops")}
        plain = {name: best_call(p.run, p.N, repeat) for name, p in programs.items()}
        restrain.configure(cache_dir=tmp)
        restrain.enable(threshold=1000)        # the default (the n-body part set it out of reach)
        for p in programs.values():
            for _ in range(4):
                p.run(p.N)
                restrain.wait()
        compiled = {name: best_call(p.run, p.N, repeat) for name, p in programs.items()}
        restrain.disable()
        by_c = {name: best_call(getattr(in_c, f"{name}_run"), p.N, repeat) for name, p in programs.items()}
    print(f"\nrun(N) of the loop programs, best of {repeat}; ratio = plain time / time")
    for name in programs:
        if not plain[name][1] == compiled[name][1] == by_c[name][1]:
            raise SystemExit(f"{name}: the three versions printed different results")
        base = plain[name][0]
        print(f"  {name:12s} plain {base * 1000:7.1f} ms   restrain {compiled[name][0] * 1000:6.2f} ms "
              f"{base / compiled[name][0]:5.1f}x   C {by_c[name][0] * 1000:6.2f} ms {base / by_c[name][0]:5.1f}x")


def best_time(step, bodies, steps: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(steps):
            step(bodies)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--steps", type=int, default=3000)
    args = parser.parse_args()
    program = load_path("nbody_program", ROOT / "bench" / "programs" / "nbody.py")
    with tempfile.TemporaryDirectory(prefix="restrain-ceiling-") as tmp:
        by_hand = build_hand_written(Path(tmp))
        start = program.make_cluster(program.BODIES)
        kick, dt, soft = program.kick, 0.01, program.SOFTENING
        for _ in range(5):               # the interpreter's specialisations: restrain's type feedback
            kick(copy.deepcopy(start), dt)
        versions = [("plain CPython", lambda b: kick(b, dt)),
                    ("hand-written Cython", lambda b: by_hand.kick(b, dt, soft)),
                    ("restrain", lambda b: kick(b, dt))]      # compiled by then
        times, finals = {}, {}
        for name, step in versions:
            if name == "restrain":
                restrain.configure(cache_dir=tmp)
                result = restrain.compile(kick, arg_types=(list, float))
                if not result.ok:
                    raise SystemExit(f"restrain did not compile kick: {result.reason}")
                restrain.enable(threshold=10 ** 9)      # compiled entries run through the evaluator
            bodies = copy.deepcopy(start)
            times[name] = best_time(step, bodies, args.steps, args.repeat)
            finals[name] = repr(bodies)
        restrain.disable()
    if len(set(finals.values())) != 1:
        raise SystemExit("the three versions left different bodies")
    base = times["plain CPython"]
    print(f"n-body kick, {program.BODIES} bodies, {args.steps} steps, best of {args.repeat}; "
          f"ratio = plain time / time")
    for name, seconds in times.items():
        print(f"  {name:20s} {seconds * 1000:8.1f} ms   {base / seconds:5.2f}x")
    print(f"  restrain reaches {times['hand-written Cython'] / times['restrain']:.0%} of the hand-written speed")
    loops_in_c(args.repeat)


if __name__ == "__main__":
    main()
