"""Driver of bench/instructions.py: run(n) of one benchmark program, warm,
with only the last calls counted by callgrind.

    valgrind --tool=callgrind --collect-atstart=no \\
        --toggle-collect=functools_reduce python [-m restrain] \\
        bench/_counted.py PROGRAM SIZE CALLS [WARMUP]

The program is imported by path and run(SIZE) is called WARMUP times (under
restrain each call is followed by restrain.wait(), so that what turned hot
is compiled).  Under restrain the driver then waits for the evaluator's
window to close and stops restrain looking for hot code: its sampler works
by the wall clock, and under valgrind, 50-100 times slower, it would see
many times more samples per call than at full speed.  What is compiled
stays compiled.  Then CALLS further calls run inside functools.reduce, the
one C function callgrind counts in (--toggle-collect), so that the count
holds those calls and nothing else.  Each result goes to stdout, and a last
line `COUNTED-JSON {...}` says which functions were compiled.
"""
import functools
import json
import sys
import time

from _steady import jit, load_program

MARKER = "COUNTED-JSON "
WINDOW_WAIT_SECONDS = 5.0


def stop_finding_hot_code(restrain) -> None:
    """Let the evaluator's window close, then end the sampler (restrain's
    shutdown flag: nothing more is reported or compiled; compiled code
    keeps running)."""
    from restrain import runtime

    hook = runtime._hook()
    deadline = time.monotonic() + WINDOW_WAIT_SECONDS
    while hook.window()[1] and time.monotonic() < deadline:
        time.sleep(0.05)
    runtime._state.shutting_down = True
    time.sleep(0.2)      # the sampler's last round ends


def compiled_functions(restrain) -> list[str]:
    from restrain import runtime

    return sorted(r.code.co_qualname for r in runtime._state.records.values() if r.status == "compiled")


def main():
    if len(sys.argv) not in (4, 5):
        raise SystemExit(__doc__)
    program = load_program(sys.argv[1])
    n = program.N if sys.argv[2] == "-" else int(sys.argv[2])
    calls = int(sys.argv[3])
    warmup = int(sys.argv[4]) if len(sys.argv) == 5 else 4
    restrain = jit()
    for _ in range(warmup):
        print(program.run(n), flush=True)
        if restrain is not None:
            restrain.wait()
    if restrain is not None:
        stop_finding_hot_code(restrain)

    def counted_call(_, __):
        print(program.run(n), flush=True)

    functools.reduce(counted_call, range(calls), None)
    report = {"restrain": restrain is not None, "size": n, "calls": calls,
              "compiled": compiled_functions(restrain) if restrain is not None else []}
    print(MARKER + json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
