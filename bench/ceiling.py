"""How close restrain gets to the best a C compiler can do on the same data.

    python bench/ceiling.py [--repeat N]

n-body's `kick` (bench/programs/nbody.py) works on lists of lists of boxed
floats.  This builds a hand-written Cython version of it that keeps that
data layout but checks nothing (no type guards, no frame, no signal checks,
no reference counting it can avoid), times plain CPython, restrain's
compiled version and the hand-written one side by side on the same bodies,
checks that all three leave the bodies bit-for-bit equal, and prints the
ratios to plain CPython.  The hand-written ratio is a ceiling for any JIT
that keeps the program's lists and floats as they are.
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


def load_path(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_hand_written(workdir: Path):
    pyx = workdir / "kick_by_hand.pyx"
    pyx.write_text(HAND_WRITTEN)
    subprocess.run([sys.executable, "-m", "Cython.Build.Cythonize", "-i", "-q", str(pyx)], cwd=workdir,
                   check=True, capture_output=True)
    so = next(workdir.glob("kick_by_hand*.so"))
    return load_path("kick_by_hand", so)


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


if __name__ == "__main__":
    main()
