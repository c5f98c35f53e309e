"""Load: import a built module from its file and fetch its entry point.

The module is imported by path under its own unique name; it is never put
on sys.path and never looked up by name, so nothing can stand in for it.
"""
from __future__ import annotations

import importlib.util
import shutil
import time
from types import ModuleType
from typing import NamedTuple

from .build import BuiltModule, discard_cache_entry, lookup_cached
from .errors import BuildError
from .outcome import CompileOutcome


class LoadedEntry(NamedTuple):
    module: ModuleType
    capsule: object     # PyCapsule "restrain.entry" holding the C entry point
    # the function's C version, if it has one: (PyCapsule "restrain.pure", signature)
    pure: tuple | None = None
    # its frameless version, if it has one: PyCapsule "restrain.frameless" (frameless.py)
    frameless: object = None


def load(built: BuiltModule) -> LoadedEntry:
    try:
        spec = importlib.util.spec_from_file_location(built.module_name, built.so_path)
        if spec is None or spec.loader is None:
            raise BuildError(f"cannot load {built.so_path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except BuildError:
        raise
    except Exception as e:  # noqa: BLE001 - a broken .so is a build failure
        raise BuildError(f"loading {built.so_path.name} failed: {type(e).__name__}: {e}") from None
    finally:
        if built.scratch is not None:     # loaded (or not): the files can go
            shutil.rmtree(built.scratch, ignore_errors=True)
    return _entry_of(module, built)


def _entry_of(module: ModuleType, built: BuiltModule) -> LoadedEntry:
    """A module of one function exports its entry as __restrain_entry__
    (its C version as __restrain_pure__, its frameless version as
    __restrain_frameless__); a combined one (emit.combined_source) its
    functions' entries, C versions and frameless versions by the module
    names they are installed under."""
    entries = getattr(module, "__restrain_entries__", None)
    if entries is not None:
        capsule = entries.get(built.module_name)
        pure = getattr(module, "__restrain_pures__", {}).get(built.module_name)
        frameless = getattr(module, "__restrain_framelesses__", {}).get(built.module_name)
    else:
        capsule = getattr(module, "__restrain_entry__", None)
        pure = getattr(module, "__restrain_pure__", None)
        frameless = getattr(module, "__restrain_frameless__", None)
    if capsule is None:
        raise BuildError(f"{built.so_path.name} has no entry point for {built.module_name}")
    return LoadedEntry(module, capsule, pure, frameless)


def load_together(built: list[BuiltModule]) -> list:
    """Load modules built together: a combined module is loaded once, and
    each of its functions' entries taken from it (its copies in the cache
    under the other functions' keys are for other processes).  Per module,
    the LoadedEntry or the BuildError of loading it."""
    loaded: list[ModuleType] = []
    results: list = []
    for b in built:
        module = next((m for m in loaded if b.module_name in getattr(m, "__restrain_entries__", ())), None)
        try:
            if module is not None:
                results.append(_entry_of(module, b))
                continue
            entry = load(b)
            loaded.append(entry.module)
            results.append(entry)
        except BuildError as e:
            results.append(e)
    return results


def load_or_discard(built: BuiltModule) -> LoadedEntry | None:
    """Load a cached module; one that does not load (it passed the digest
    check, but was built wrong) is removed, to be built again."""
    try:
        return load(built)
    except BuildError:
        discard_cache_entry(built)
        return None


def load_from_cache(code, options, feedback=None) -> CompileOutcome | None:
    """The compiled outcome for `code` if the cache has an intact module
    that loads, else None.  About a millisecond, and it needs none of the
    compiler's modules: cheap enough to try on the thread that found the
    function hot."""
    start = time.perf_counter()
    hit = lookup_cached(code, options, feedback)
    if hit is None:
        return None
    entry = load_or_discard(hit)
    if entry is None:
        return None
    return CompileOutcome("compiled", None, time.perf_counter() - start, hit.source_path, True, entry)
