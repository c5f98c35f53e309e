"""The on-disk cache of built modules, shared by every process of a user.

Layout of a cache directory (mode 0700, owned by the user):

    <dir>/<key[:2]>/rsjit_<key>.<EXT_SUFFIX>   the module
    <dir>/<key[:2]>/rsjit_<key>.pyx            its source (explain, debugging)
    <dir>/<key[:2]>/rsjit_<key>.b2b            digest of the module (BLAKE2b)
    <dir>/<family[:2]>/family_<family>         key of a family's latest module
    <dir>/<family[:2]>/left_<family>           its function deoptimised for good
    <dir>/locks/<key>.lock                     held while one process builds it
    <dir>/build-*/                             work directories of builds
    <dir>/runs.jsonl                           hits and misses of recent runs

Rules:
- Safe by default: a directory or module owned by someone else, or writable
  by others, is never loaded from (a module is code that runs in-process);
  restrain warns once and runs without the cache.
- All or nothing: a module is written in a work directory and renamed into
  place after its digest; a module whose digest does not match (truncated,
  corrupt, half-copied) is removed and built again.
- Once per key: builders take an flock on the key's lock file and look
  again after getting it, so processes started together build each module
  once.  A killed builder's lock is released by the kernel.
- Bounded: past the size limit the least recently used entries go (loading
  an entry touches it).
"""
from __future__ import annotations

import fcntl
import os
import shutil
import stat
import sysconfig
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, NamedTuple, Optional

from .log import logger

# Every digest restrain makes (cache keys, module digests) is BLAKE2b, taken
# from hashlib's own built-in implementation: importing hashlib loads
# OpenSSL, 2-3 ms of every process that loads a compiled function.
try:
    from _blake2 import blake2b as _blake2b
except ImportError:      # a Python built without it
    from hashlib import blake2b as _blake2b


def new_digest(data: bytes = b""):
    """A BLAKE2b hash object of 32 bytes (64 hex digits, as SHA-256 had)."""
    return _blake2b(data, digest_size=32)


DIGEST_SUFFIX = ".b2b"


EXT_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
DEFAULT_LIMIT_BYTES = 256 * 1024 * 1024
STALE_WORKDIR_SECONDS = 3600
RUNS_KEPT = 50

_warned: set = set()


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "restrain"


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        logger.warning("restrain: %s", message)


def unsafe_reason(path: Path) -> Optional[str]:
    """Why restrain must not load code from `path`, or None if it may."""
    try:
        st = path.lstat()
    except OSError as e:
        return f"cannot inspect {path}: {e}"
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symbolic link"
    if st.st_uid != os.getuid():
        return f"{path} is owned by another user (uid {st.st_uid})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{path} is writable by other users"
    return None


def open_cache(path: Path) -> Optional[Path]:
    """The cache directory, created private if missing; None (after one
    warning) when it is not safe to load modules from it."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        _warn_once(f"cannot create the cache directory {path}: {e}; running without the cache")
        return None
    reason = unsafe_reason(path)
    if reason is not None:
        _warn_once(f"not using the cache: {reason}")
        return None
    return path


class Entry(NamedTuple):
    """The files of one cache entry.  (Not a dataclass: the modules a warm
    start imports avoid dataclasses, which imports inspect, 4-5 ms.)"""
    key: str
    folder: Path

    @property
    def name(self) -> str:
        return f"rsjit_{self.key}"

    @property
    def so_path(self) -> Path:
        return self.folder / (self.name + EXT_SUFFIX)

    @property
    def source_path(self) -> Path:
        return self.folder / (self.name + ".pyx")

    @property
    def digest_path(self) -> Path:
        return self.folder / (self.name + DIGEST_SUFFIX)


def entry_for(cache_dir: Path, key: str) -> Entry:
    return Entry(key, cache_dir / key[:2])


# -- families: the versions of one function for the same argument types ----------
# A module is specialised for the type feedback seen when its function turned
# hot, and that depends on timing (what the interpreter had specialised by
# then), so the next run of a program may ask for a key nobody built.  Any
# module of the same code and argument types is correct (its guesses are
# guarded), so a miss falls back to the family's latest member.

def _family_path(cache_dir: Path, family: str) -> Path:
    return cache_dir / family[:2] / f"family_{family}"


def _write_whole(path: Path, text: str) -> None:
    """Write `path` as one step for its readers: a file of this process's
    own, renamed over it."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def record_family(cache_dir: Path, family: str, key: str) -> None:
    path = _family_path(cache_dir, family)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write_whole(path, key)


def family_member(cache_dir: Path, family: str) -> Optional[str]:
    """The key of the family's latest module, or None (also for a damaged
    or foreign file: it is only a hint, the entry itself is checked)."""
    path = _family_path(cache_dir, family)
    try:
        if unsafe_reason(path) is not None:
            return None
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return key if 16 <= len(key) <= 64 and all(c in "0123456789abcdef" for c in key) else None


# -- functions left to the interpreter after deoptimising for good ---------------
# A function whose guesses kept failing in every version (int_overflow's
# sums outgrowing 64 bits) is left to the interpreter.  Without a note of
# that, every warm start loaded the same version from the cache, ran it
# until it deoptimised again and left it again: about 25 ms of each
# int_overflow process.  The note is honoured by LEFT_RUNS runs, then the
# function is tried again (the program's inputs may have changed).
LEFT_RUNS = 10


def _left_path(cache_dir: Path, family: str) -> Path:
    return cache_dir / family[:2] / f"left_{family}"


def record_left(cache_dir: Path, family: str) -> None:
    path = _left_path(cache_dir, family)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write_whole(path, "0")


def honour_left(cache_dir: Path, family: str) -> bool:
    """Whether an earlier run left the family's function to the
    interpreter after it deoptimised for good (record_left), counting this
    run against LEFT_RUNS; False once they are used up (the note goes) or
    for a damaged or foreign note."""
    path = _left_path(cache_dir, family)
    try:
        if not path.exists() or unsafe_reason(path) is not None:
            return False
        runs = int(path.read_text(encoding="ascii").strip())
        if runs + 1 >= LEFT_RUNS:
            path.unlink()
            return False
        _write_whole(path, str(runs + 1))
        return True
    except (OSError, ValueError, UnicodeDecodeError):
        return False


def file_digest(path: Path) -> str:
    return new_digest(path.read_bytes()).hexdigest()


def lookup(entry: Entry) -> bool:
    """True if the entry exists and is intact (then it is touched, for LRU).
    A damaged or unsafe entry is removed."""
    if not entry.so_path.exists():
        return False
    reason = unsafe_reason(entry.so_path)
    if reason is not None:
        _warn_once(f"not loading {entry.so_path.name}: {reason}")
        return False
    try:
        expected = entry.digest_path.read_text().strip()
        intact = expected == file_digest(entry.so_path)
    except OSError:
        intact = False
    if not intact:
        logger.info("restrain: cache entry %s is damaged; building it again", entry.name)
        discard(entry)
        return False
    now = time.time()
    try:
        os.utime(entry.so_path, (now, now))
    except OSError:
        pass
    return True


def discard(entry: Entry) -> None:
    for path in (entry.so_path, entry.digest_path, entry.source_path):
        try:
            path.unlink()
        except OSError:
            pass


def install(entry: Entry, built_so: Path, built_pyx: Path) -> None:
    """Move a freshly built module into place: source, digest, then the
    module itself (readers look for the module first)."""
    entry.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.replace(built_pyx, entry.source_path)
    tmp_digest = built_so.with_suffix(DIGEST_SUFFIX)
    tmp_digest.write_text(file_digest(built_so))
    os.replace(tmp_digest, entry.digest_path)
    os.replace(built_so, entry.so_path)


@contextmanager
def build_lock(cache_dir: Path, key: str) -> Iterator[None]:
    """Held while building `key`; the kernel releases it if we die."""
    locks = cache_dir / "locks"
    locks.mkdir(exist_ok=True, mode=0o700)
    fd = os.open(locks / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


# -- size limit and housekeeping ------------------------------------------------

def _entries(cache_dir: Path) -> list[Path]:
    return [p for p in cache_dir.glob(f"??/rsjit_*{EXT_SUFFIX}") if p.is_file()]


def _entry_size(so: Path) -> int:
    total = 0
    stem = so.name[: -len(EXT_SUFFIX)]
    for path in (so, so.with_name(stem + ".pyx"), so.with_name(stem + DIGEST_SUFFIX)):
        try:
            total += path.stat().st_size
        except OSError:
            pass
    return total


def evict(cache_dir: Path, limit_bytes: int, keep: frozenset | set = frozenset()) -> int:
    """Remove least recently used entries until the cache fits; returns how
    many were removed.  Also removes work directories of builds that died."""
    now = time.time()
    for work in cache_dir.glob("build-*"):
        try:
            if now - work.stat().st_mtime > STALE_WORKDIR_SECONDS:
                shutil.rmtree(work, ignore_errors=True)
        except OSError:
            pass
    sized = []
    for so in _entries(cache_dir):
        try:
            sized.append((so.stat().st_mtime, so, _entry_size(so)))
        except OSError:
            pass
    total = sum(size for _, _, size in sized)
    removed = 0
    for _, so, size in sorted(sized):
        if total <= limit_bytes:
            break
        key = so.name[len("rsjit_"): -len(EXT_SUFFIX)]
        if key in keep:
            continue
        discard(entry_for(cache_dir, key))
        total -= size
        removed += 1
    return removed


class SizeTracker:
    """The compile server's idea of the cache's size, so that it walks the
    directory (evict) only when the limit may have been passed, not after
    every build: other processes add entries too, so the estimate is
    refreshed by every walk and a walk happens at least every `every` builds."""

    def __init__(self, every: int = 32):
        self.every = every
        self.estimate: dict[Path, tuple[int, int]] = {}   # dir -> (bytes, builds since walk)

    def added(self, cache_dir: Path, so: Path, limit_bytes: int, keep: frozenset | set) -> None:
        size, since = self.estimate.get(cache_dir, (None, 0))
        if size is not None:
            size += _entry_size(so)
            since += 1
        if size is None or size > limit_bytes or since >= self.every:
            evict(cache_dir, limit_bytes, keep)
            size, since = sum(_entry_size(p) for p in _entries(cache_dir)), 0
        self.estimate[cache_dir] = (size, since)


def record_run(cache_dir: Path, hits: int, misses: int) -> None:
    """Append this process's hits and misses (for `cache info`), keeping the
    file short."""
    import json     # here: at exit, and only in a process that used the cache
    path = cache_dir / "runs.jsonl"
    line = json.dumps({"time": round(time.time()), "pid": os.getpid(), "hits": hits, "misses": misses})
    try:
        lines = path.read_text().splitlines()[-(RUNS_KEPT - 1):] if path.exists() else []
        _write_whole(path, "\n".join(lines + [line]) + "\n")
    except OSError:
        pass


def info(cache_dir: Path) -> dict:
    import json
    entries = _entries(cache_dir) if cache_dir.exists() else []
    runs = []
    try:
        runs = [json.loads(l) for l in (cache_dir / "runs.jsonl").read_text().splitlines() if l.strip()]
    except (OSError, ValueError):
        pass
    hits = sum(r.get("hits", 0) for r in runs)
    misses = sum(r.get("misses", 0) for r in runs)
    return {
        "location": str(cache_dir),
        "exists": cache_dir.exists(),
        "safe": unsafe_reason(cache_dir) is None if cache_dir.exists() else None,
        "entries": len(entries),
        "bytes": sum(_entry_size(so) for so in entries),
        "runs": len(runs),
        "hits": hits,
        "misses": misses,
        "hit_rate": round(hits / (hits + misses), 3) if hits + misses else None,
    }


def clear(cache_dir: Path) -> int:
    """Remove every entry (and lock and work directory); returns how many
    entries were removed (none from a directory that is not ours)."""
    if not cache_dir.exists() or unsafe_reason(cache_dir) is not None:
        return 0
    count = len(_entries(cache_dir))
    for child in cache_dir.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
    return count
