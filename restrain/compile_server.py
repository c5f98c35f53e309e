"""The compile server: a child process that runs Cython and the C compiler.

Why a process: Cython is pure Python, and importing it alone makes
thousands of system calls.  In a thread of the program, every one of them
waits up to the interpreter's switch interval (5 ms) for the GIL while the
program's hot loop holds it; measured here, the first background compile
did not finish within 5 s of an n-body loop.  In a child process the
compile costs the program nothing but a blocking read.

Protocol: one JSON object per line on stdin, one JSON answer per line on
stdout.  Request: {"pyx": path, "c_command": [argv...], "install":
{"cache_dir", "key", "limit_bytes"}, "cleanup": dir}; the C command is
complete (the parent decides compiler and flags); the server builds under
the key's lock and moves the results into the cache itself.  Answer:
{"ok": true} or {"ok": false, "error": text} (or "unsupported",
"front_end_failed").  A request with a "batch" builds several functions
into one module (build.build_batch); its answer holds one such answer per
member under "members".  EOF on stdin ends the server once it has done
what it was sent: at exit the program hands over the compiles still
queued, so the next run finds them in the cache.
"""
from __future__ import annotations

import json
import sys


def handle(request: dict) -> dict:
    from .build import failure_answer, serve_batch, serve_request
    from .errors import BuildError, FrontEndFailed, Unsupported
    try:
        if "batch" in request:
            return {"ok": True, "members": serve_batch(request)}
        serve_request(request)
    except (Unsupported, FrontEndFailed, BuildError) as e:
        return failure_answer(e)
    except Exception as e:  # noqa: BLE001 - report, keep serving
        return {"ok": False, "error": f"compile server: {type(e).__name__}: {e}"}
    return {"ok": True}


def main() -> None:
    # Started from one of restrain's threads, which block every signal
    # (runtime._block_signals_in_this_thread): a child inherits that mask.
    # The server and its C compilers must die of Ctrl-C and SIGTERM.
    import signal
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    # Import Cython now, while the parent is still preparing the first
    # request: it is most of the first compile's latency.
    from Cython.Compiler import Main  # noqa: F401
    out = sys.stdout
    sys.stdout = sys.stderr     # nothing but answers on the protocol stream
    for line in sys.stdin:
        if not line.strip():
            continue
        answer = handle(json.loads(line))
        try:
            out.write(json.dumps(answer) + "\n")
            out.flush()
        except OSError:
            pass   # the program has exited: keep building what it sent


if __name__ == "__main__":
    main()
