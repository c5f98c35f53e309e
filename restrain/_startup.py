"""Enable restrain at interpreter start-up when the environment asks for it.

site-packages holds `restrain-autoenable.pth`, whose single line imports this
module, only when RESTRAIN is set to a true value (1, true, yes, on; any
case).  Importing it then enables the JIT for the whole process, with the
options the runtime reads from the environment (RESTRAIN_THRESHOLD,
RESTRAIN_SYNC, RESTRAIN_STATS, RESTRAIN_CACHE_DIR, RESTRAIN_NO_CACHE).

Nothing here may break the interpreter's start-up: any failure becomes a
one-line warning on stderr and the program runs without the JIT.  When the
JIT is already on (`python -m restrain` checks `is_enabled()` before it
enables), nothing is done twice.
"""

import os
import sys

TRUE_VALUES = frozenset({"1", "true", "yes", "on"})


def requested(environ=None):
    """True when RESTRAIN in `environ` (default os.environ) is a true value."""
    env = os.environ if environ is None else environ
    return env.get("RESTRAIN", "").strip().lower() in TRUE_VALUES


def _warn(message):
    stream = sys.stderr
    if stream is None:
        return
    try:
        stream.write(" ".join(message.split()) + "\n")
        stream.flush()
    except Exception:
        pass


def autoenable(environ=None):
    """Enable the JIT if requested; return whether it is on afterwards."""
    if not requested(environ):
        return False
    try:
        import restrain

        if not restrain.is_enabled():
            restrain.enable()
        return True
    except Exception as exc:
        _warn(f"restrain: warning: RESTRAIN is set but the JIT could not be "
              f"enabled ({type(exc).__name__}: {exc}); running without it")
        return False


autoenable()
