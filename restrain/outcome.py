"""What compiling one code object produced (kept apart from pipeline.py so
that a warm start, which only loads from the cache, does not import the
compiler's stages)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple, Optional


class CompileOutcome(NamedTuple):
    """(A NamedTuple, not a dataclass: a warm start creates these, and
    dataclasses imports inspect, 4-5 ms of the process.)"""
    status: str                      # "compiled" | "unsupported" | "failed"
    reason: Optional[str] = None
    seconds: float = 0.0
    source_path: Optional[Path] = None
    from_cache: bool = False
    entry: Any = None                # LoadedEntry when compiled
    stage_seconds: Optional[dict] = None     # per stage, when compiled here or in the server

    @property
    def ok(self) -> bool:
        return self.status == "compiled"
