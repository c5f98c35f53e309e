"""What compiling one code object produced (kept apart from pipeline.py so
that a warm start, which only loads from the cache, does not import the
compiler's stages)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional


@dataclass
class CompileOutcome:
    status: str                      # "compiled" | "unsupported" | "failed"
    reason: Optional[str] = None
    seconds: float = 0.0
    source_path: Optional[Path] = None
    from_cache: bool = False
    entry: Any = None                # LoadedEntry when compiled
    stage_seconds: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "compiled"
