"""restrain: a whole-process JIT compiler for CPython 3.11.

    import restrain
    restrain.enable()          # hot functions are compiled from now on

See README.md for the command line (`python -m restrain script.py`) and the
RESTRAIN=1 environment switch.
"""
from __future__ import annotations

__version__ = "0.1.0"


def _hook_or_none():
    """The C evaluator module, or None where it is not built (unsupported
    Python version): restrain still imports there and does nothing."""
    try:
        from . import _hook
    except ImportError:
        return None
    return _hook


from .runtime import (  # noqa: E402
    CompileResult,
    compile,
    configure,
    disable,
    enable,
    explain,
    format_stats,
    is_enabled,
    stats,
    wait,
)

__all__ = [
    "CompileResult", "compile", "configure", "disable", "enable", "explain",
    "format_stats", "is_enabled", "stats", "wait",
]
