"""The benchmark programs print the same under restrain as under plain python.

A differential test: each program in bench/programs/ runs at a small size
once as `python PROGRAM N` and once as `python -m restrain --threshold 10
--sync --cache-dir DIR PROGRAM N`, so that every function called ten times
(the kernels, many times over) is compiled, specialised for what it has
seen, before its eleventh call; the outputs must be identical.  The
programs run concurrently (one per CPU) in a module-scoped fixture, since
nearly all the time goes to compiling their functions; each program is
still its own test.
"""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import ROOT, clean_env

PROGRAMS = ROOT / "bench" / "programs"

# program -> a small size argument (a few milliseconds per run() call)
SIZES = {
    "calls": "200",
    "deltablue": "30",
    "fib": "15",
    "float_loops": "2000",
    "generators": "2000",
    "int_loops": "2000",
    "int_overflow": "200",
    "mandelbrot": "24",
    "matmul": "10",
    "mixed_list": "60",
    "nbody": "50",
    "raytrace": "12",
    "richards": "300",
    "sieve": "5000",
    "spectral_norm": "12",
    "strings": "100",
}


def run(args, cwd):
    return subprocess.run([sys.executable, *map(str, args)], cwd=str(cwd), env=clean_env(),
                          capture_output=True, text=True, encoding="utf-8", timeout=600)


def plain_and_jit(name, cwd, cache_dir):
    """(plain, jit) CompletedProcesses, or the exception (a timeout) instead."""
    script = PROGRAMS / f"{name}.py"
    try:
        plain = run([script, SIZES[name]], cwd)
        jit = run(["-m", "restrain", "--threshold", "10", "--sync", "--cache-dir", cache_dir,
                   script, SIZES[name]], cwd)
    except subprocess.SubprocessError as e:
        return e
    return plain, jit


@pytest.fixture(scope="module")
def outputs(request, tmp_path_factory, cache_dir):
    """{name: (plain, jit)} for the programs of the tests selected in this module."""
    names = sorted({item.callspec.params["name"] for item in request.session.items
                    if item.module is request.module and hasattr(item, "callspec")})
    # the programs with the most functions (the most compiles) first
    names.sort(key=lambda name: -(PROGRAMS / f"{name}.py").read_text().count("def "))
    cwd = tmp_path_factory.mktemp("bench-programs")
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {name: pool.submit(plain_and_jit, name, cwd, cache_dir) for name in names}
        return {name: future.result() for name, future in futures.items()}


def test_every_program_has_a_size():
    programs = sorted(p.stem for p in PROGRAMS.glob("*.py") if not p.stem.startswith("_"))
    assert programs == sorted(SIZES)


@pytest.mark.parametrize("name", sorted(SIZES))
def test_program_output_is_unchanged(outputs, name):
    if isinstance(outputs[name], Exception):
        raise outputs[name]
    plain, jit = outputs[name]
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.strip()
    assert jit.returncode == 0, jit.stderr
    assert jit.stdout == plain.stdout, jit.stderr


@pytest.mark.parametrize("name", sorted(SIZES))
def test_program_has_the_bench_interface(name):
    """run(n) -> str, a default size N, REPEAT and a __main__ guard (see bench/run.py)."""
    source = (PROGRAMS / f"{name}.py").read_text()
    assert "\ndef run(n):\n" in source
    assert "\nN = " in source and "\nREPEAT = " in source
    assert '\nif __name__ == "__main__":\n' in source
