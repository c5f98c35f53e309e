"""Build: Cython source -> C (Cython) -> shared library (the C compiler),
stored in the on-disk cache.

Both run in the compile server, a child process (see compile_server.py for
why), so a compile never holds the program's GIL.  The C compiler is called directly with the
flags sysconfig gives for this Python: setuptools' build_ext would add
seconds per module.

The cache's layout and rules (safety, integrity, one build per key, size
limit) are in cache.py.

A warm start only computes cache keys and looks them up (lookup_cached,
from load.py), so what only building needs (subprocess, select, tempfile, json)
is imported where it is used: together a few milliseconds per process.
"""
from __future__ import annotations

import contextlib
import functools
import os
import shlex
import shutil
import sys
import sysconfig
import threading
from pathlib import Path
from types import CodeType
from typing import NamedTuple

from . import cache
from .errors import BuildError, FrontEndFailed, Unsupported

INCLUDE_DIR = Path(__file__).parent / "include"
EXT_SUFFIX = cache.EXT_SUFFIX
RESTRAIN_BUILD_VERSION = "0.1.0"

# Beyond the C compiler's own timeout, what the server may take for the
# front end and Cython before the client gives up on it.
SERVER_GRACE_SECONDS = 120.0

# One Cython compile at a time: its compiler keeps global state.
_cython_lock = threading.Lock()


# NamedTuples, not dataclasses: a warm start imports this module to find
# cached modules, and dataclasses imports inspect (4-5 ms of a process).
class BuildOptions(NamedTuple):
    cache_dir: Path | None          # a safe cache directory (cache.open_cache); None: no cache
    limit_bytes: int = cache.DEFAULT_LIMIT_BYTES
    # -O1: measured on examples/nbody.py, -O2 ran 7% faster and compiled
    # far slower; first-compile latency matters more at this stage.
    # -fcaller-saves (an -O2 pass): a double live across a call, even one
    # on a cold path (a deoptimisation, the eval breaker's handler), stays
    # in a register, saved around that call, where -O1 keeps it in memory
    # for good: simpson_poly's Horner step waited on a store and a load
    # each turn.  `bench/compare.py` against -O1 alone: Mandelbrot 1.35x,
    # float_loops 1.09x, others 0.99-1.05x; compiles 2-5% longer.
    # -fira-region=all: every loop is a region of its own for the register
    # allocator, so a loop's C variables get registers inside it even
    # where the function as a whole (its cold paths full of calls) would
    # keep them in memory: integrate's running total stayed in memory with
    # the default regions, branch hints or not.
    opt_flags: tuple[str, ...] = ("-O1", "-fcaller-saves", "-fira-region=all")
    timeout: float = 120.0


class BuiltModule(NamedTuple):
    module_name: str
    so_path: Path
    source_path: Path
    from_cache: bool
    scratch: Path | None = None     # a work directory to remove once loaded (no cache)


def _abi_fingerprint() -> bytes:
    data = b""
    for name in ("restrain_abi.h", "restrain_abi.pxd"):
        data += (INCLUDE_DIR / name).read_bytes()
    return data


@functools.lru_cache(maxsize=None)
def cython_version() -> str:
    """Cython's version, for the cache key, read from Cython/Shadow.py: the
    package's __init__ imports Shadow, tens of milliseconds on the
    program's own thread in every process that has hot code."""
    import importlib.util
    import re
    spec = importlib.util.find_spec("Cython")
    for directory in (spec.submodule_search_locations or []) if spec else []:
        try:
            text = Path(directory, "Shadow.py").read_text(encoding="utf-8")
        except OSError:
            continue
        found = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", text, re.M)
        if found:
            return found.group(1)
    import Cython   # an unusual layout: ask the package itself
    return Cython.__version__


def _const_fingerprint(value) -> str:
    if isinstance(value, CodeType):
        return "code:" + code_fingerprint(value)
    if isinstance(value, tuple):
        return "tuple(" + ",".join(_const_fingerprint(v) for v in value) + ")"
    if isinstance(value, frozenset):   # iteration order depends on the hash seed
        return "frozenset(" + ",".join(sorted(_const_fingerprint(v) for v in value)) + ")"
    return f"{type(value).__name__}:{value!r}"


def code_fingerprint(code: CodeType) -> str:
    """A digest of everything in a code object.  Not marshal: its output
    depends on reference counts, so it differs between processes."""
    parts = [code.co_code, code.co_exceptiontable, code.co_linetable]
    fields = (code.co_name, code.co_qualname, code.co_filename, code.co_firstlineno, code.co_flags,
              code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_nlocals,
              code.co_stacksize, code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars)
    parts.append(repr(fields).encode())
    parts.append(_const_fingerprint(code.co_consts).encode())
    h = cache.new_digest()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


GENERATOR_MODULES = ("costmodel.py", "decode.py", "cfg.py", "ir.py", "feedback.py", "types.py", "structure.py", "emit.py",
                     "frameless.py", "pipeline.py")


@functools.lru_cache(maxsize=None)
def _generator_fingerprint() -> bytes:
    """What the generated source depends on besides the code: restrain's
    own front end and ABI.  (Keying on these instead of on the generated
    source lets a warm start find a module without running the front end.)"""
    package = Path(__file__).parent
    data = b"".join((package / name).read_bytes() for name in GENERATOR_MODULES)
    return cache.new_digest(data + _abi_fingerprint()).digest()


def cache_key(code: CodeType, options: BuildOptions, feedback=None) -> str:
    """Everything the built module depends on: the code object's content,
    the type feedback it is specialised for, the generator, the Python,
    Cython and restrain versions, the ABI and the compiler flags."""
    h = cache.new_digest()
    fb = feedback.key() if feedback is not None else "none"
    for part in (code_fingerprint(code).encode(), fb.encode(), _generator_fingerprint(), sys.version.encode(),
                 cython_version().encode(), RESTRAIN_BUILD_VERSION.encode(),
                 " ".join(compiler_identity() + list(options.opt_flags)).encode()):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()[:40]


def lookup_cached(code: CodeType, options: BuildOptions, feedback=None) -> BuiltModule | None:
    """The cached module for this code and feedback if there is an intact
    one, else the latest module of its family (same code, argument types
    and companions, other guesses: cache.record_family)."""
    if options.cache_dir is None:
        return None
    hit = cached_module(cache_key(code, options, feedback), options)
    # only for a first version: a recompile after deoptimisations asks for
    # fewer guesses, and the family's member may be the version that failed
    first_version = feedback is not None and feedback.speculate and not feedback.no_speculate
    if hit is None and first_version:
        member = cache.family_member(options.cache_dir, family_key(code, options, feedback))
        if member is not None:
            hit = cached_module(member, options)
    return hit


class _FamilyFeedback(NamedTuple):
    arg_types: tuple
    companions: tuple

    def key(self) -> str:
        return "family:" + ",".join(self.arg_types) + (":" + ",".join(self.companions) if self.companions else "")


def family_key(code: CodeType, options: BuildOptions, feedback) -> str:
    """The cache key of the feedback's family: its argument types and the
    callees whose C versions it is to carry (a caller compiled again for a
    callee's C version must not find its version without it)."""
    return cache_key(code, options, _FamilyFeedback(tuple(feedback.arg_types), tuple(feedback.companions)))


def compiler_identity() -> list[str]:
    """The compiler part of the cache key: not the include paths, so that
    installations of the same restrain (virtual environments) share
    entries; the headers' content is in the key instead."""
    return [arg for arg in compiler_command() if not arg.startswith("-I")]


@functools.lru_cache(maxsize=1)
def _python_include() -> str:
    """Python's header directory.  sysconfig works its paths out again at
    every call (about 0.3 ms), and every cache lookup of a warm start
    builds the compiler command for the key."""
    return sysconfig.get_paths()["include"]


def compiler_command() -> list[str]:
    # $CC overrides the compiler Python was built with, as in setuptools
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    include = _python_include()
    return cc + ["-shared", "-fPIC", "-fwrapv", "-fno-strict-aliasing", "-DNDEBUG", "-w",
                 f"-I{include}", f"-I{INCLUDE_DIR}"]


def cached_module(key: str, options: BuildOptions) -> BuiltModule | None:
    if options.cache_dir is None:
        return None
    entry = cache.entry_for(options.cache_dir, key)
    if cache.lookup(entry):
        return BuiltModule(entry.name, entry.so_path, entry.source_path, True)
    return None


def discard_cache_entry(built: BuiltModule) -> None:
    cache.discard(cache.Entry(built.module_name[len("rsjit_"):], built.so_path.parent))


class BuildJob(NamedTuple):
    """One module to build: where it is built and where it ends up."""
    module: BuiltModule
    request: dict          # for the compile server


def prepare(code: CodeType, source: str | None, options: BuildOptions, feedback=None,
            front_end: dict | None = None) -> BuiltModule | BuildJob:
    """A cache hit, or the job that builds the module: from `source`, or
    (source None) from the front end the server runs on `front_end`
    (remote.front_end_spec)."""
    import tempfile
    key = cache_key(code, options, feedback)
    hit = cached_module(key, options)
    if hit is not None:
        return hit
    name = f"rsjit_{key}"
    if options.cache_dir is not None:
        workdir = Path(tempfile.mkdtemp(prefix="build-", dir=options.cache_dir))
    else:
        workdir = Path(tempfile.mkdtemp(prefix="restrain-build-"))
    pyx = workdir / (name + ".pyx")
    so_tmp = workdir / (name + EXT_SUFFIX)
    request = {"pyx": str(pyx), "c_command": c_command(so_tmp, options), "timeout": options.timeout}
    if source is None:
        request["front_end"] = front_end
    else:
        pyx.write_text(source)
    if options.cache_dir is None:
        return BuildJob(BuiltModule(name, so_tmp, pyx, False, scratch=workdir), request)
    entry = cache.entry_for(options.cache_dir, key)
    # the server takes the key's build lock, moves the results into place
    # and removes the work directory, so that a build finishes even after
    # the program exits, and processes started together build it once
    request["install"] = {"cache_dir": str(options.cache_dir), "key": key,
                          "limit_bytes": options.limit_bytes}
    if feedback is not None:
        request["install"]["family"] = family_key(code, options, feedback)
    request["cleanup"] = str(workdir)
    return BuildJob(BuiltModule(name, entry.so_path, entry.source_path, False), request)


def build(code: CodeType, source: str | None, options: BuildOptions, feedback=None,
          front_end: dict | None = None) -> BuiltModule:
    """The module for this code and source (or front end, as for prepare):
    from the cache, or built now."""
    job = prepare(code, source, options, feedback, front_end)
    if isinstance(job, BuiltModule):
        return job
    try:
        compile_server().compile(job.request)
    except (BuildError, Unsupported, FrontEndFailed):
        if job.module.scratch is not None:
            shutil.rmtree(job.module.scratch, ignore_errors=True)
        raise
    return job.module


def build_batch(members: list[tuple[CodeType, object, dict]], options: BuildOptions,
                companions: list[dict] = ()) -> list:
    """Several functions (code, feedback, front-end spec) that became hot
    together: those not in the cache are built into one module by one
    Cython and C compiler run (the request's "batch"), which is installed
    in the cache under each function's key.  `companions` (front-end specs)
    are built into it for the C versions the members may call (not
    installed: see _calling_each_other).  Per member, in order, the
    BuiltModule or the exception (Unsupported, FrontEndFailed, BuildError)
    a build of it alone would raise."""
    results: list = [None] * len(members)
    misses = _cache_misses(members, options, results)
    if not _worth_a_batch(misses, companions, options):
        for key, indexes in misses.items():      # nothing to share a module with
            code, feedback, spec = members[indexes[0]]
            try:
                built = build(code, None, options, feedback, front_end=spec)
            except (BuildError, Unsupported, FrontEndFailed) as e:
                built = e
            for i in indexes:
                results[i] = built
        return results
    request = _batch_request(members, misses, options, companions)
    try:
        # the combined build, and if it fails one build per member
        answers = compile_server().compile_batch(request, options.timeout * (len(misses) + 1))
    except BuildError as e:
        answers = [{"ok": False, "error": str(e)}] * len(misses)
    for (key, indexes), answer in zip(misses.items(), answers):
        entry = cache.entry_for(options.cache_dir, key)
        outcome = BuiltModule(entry.name, entry.so_path, entry.source_path, False) if answer.get("ok") \
            else answer_error(answer)
        for i in indexes:
            results[i] = outcome
    return results


def batch_request(members: list[tuple[CodeType, object, dict]], options: BuildOptions,
                  companions: list[dict] = ()) -> dict | None:
    """The request build_batch sends, for a server that is not waited for
    (the hand-over at exit); None unless two or more members, or one and
    companions, are to be built."""
    misses = _cache_misses(members, options, [None] * len(members))
    if not _worth_a_batch(misses, companions, options):
        return None
    return _batch_request(members, misses, options, companions)


def _worth_a_batch(misses: dict, companions, options: BuildOptions) -> bool:
    """Two or more functions to build, or one that may call a companion's
    C version (a batch is installed in the cache: it needs one)."""
    return options.cache_dir is not None and len(misses) >= (1 if companions else 2)


def _cache_misses(members, options: BuildOptions, results: list) -> dict[str, list[int]]:
    """Members found in the cache go into `results`; the others, by key
    (members with the same key are built once)."""
    misses: dict[str, list[int]] = {}
    for i, (code, feedback, _) in enumerate(members):
        key = cache_key(code, options, feedback)
        hit = cached_module(key, options)
        if hit is not None:
            results[i] = hit
        else:
            misses.setdefault(key, []).append(i)
    return misses


def _batch_request(members, misses: dict[str, list[int]], options: BuildOptions, companions=()) -> dict:
    import tempfile
    workdir = Path(tempfile.mkdtemp(prefix="build-", dir=options.cache_dir))
    batch = []
    for key, indexes in misses.items():
        code, feedback, spec = members[indexes[0]]
        batch.append({"key": key, "family": family_key(code, options, feedback) if feedback is not None else None,
                      "front_end": spec})
    return {"batch": batch, "workdir": str(workdir), "compiler": compiler_command() + list(options.opt_flags),
            "timeout": options.timeout, "cleanup": str(workdir), "companions": list(companions),
            "install": {"cache_dir": str(options.cache_dir), "limit_bytes": options.limit_bytes}}


_sizes = cache.SizeTracker()


def serve_batch(request: dict) -> list[dict]:
    """Server side of build_batch: one answer per member.  The members' build
    locks are all held (taken in key order, so that two processes building
    overlapping batches cannot deadlock) while the module is built.  If the
    combined module fails to build, each member is built alone, so that one
    function the back end cannot handle does not cost the others theirs."""
    target = request["install"]
    cache_dir = Path(target["cache_dir"])
    workdir = Path(request["workdir"])
    members = request["batch"]
    answers: list[dict] = [{"ok": True} for _ in members]
    try:
        with contextlib.ExitStack() as locks:
            for key in sorted(m["key"] for m in members):
                locks.enter_context(cache.build_lock(cache_dir, key))
            todo = []       # (member index, emitted module)
            companion_specs = list(request.get("companions", []))
            for i, member in enumerate(members):
                if cache.lookup(cache.entry_for(cache_dir, member["key"])):
                    # another process built it meanwhile: the others may still call its C version
                    companion_specs.append(member["front_end"])
                    continue
                try:
                    todo.append((i, _front_end_module(member["front_end"], len(todo))))
                except (Unsupported, FrontEndFailed) as e:
                    answers[i] = failure_answer(e)
            alone = todo          # their modules by themselves, calling no other member
            todo, companions = _calling_each_other(members, todo, companion_specs if todo else [])
            try:
                _build_combined(request, [(members[i], emitted) for i, emitted in todo], companions)
            except BuildError:
                for i, emitted in alone:
                    try:
                        _build_combined(request, [(members[i], emitted)])
                    except BuildError as e:
                        answers[i] = failure_answer(e)
        limit = int(target.get("limit_bytes", cache.DEFAULT_LIMIT_BYTES))
        keys = {m["key"] for m in members}
        for key in keys:     # never the entries just built: the program is about to load them
            _sizes.added(cache_dir, cache.entry_for(cache_dir, key).so_path, limit, keep=keys)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return answers


def _front_end_module(spec: dict, index: int, pure_callees: dict | None = None):
    from .emit import member_prefix
    from .remote import front_end_module
    return front_end_module(spec, member_prefix(index), pure_callees)


def _calling_each_other(members: list[dict], todo: list, companion_specs: list) -> tuple[list, list]:
    """Members that call another member or a companion with a C version
    (emit.PureCallee: a small typed function, such as spectral norm's
    eval_A) emitted again, calling that version directly (a failure the
    first pass did not have keeps the first pass's module); and the
    companions (emitted modules) whose C version a member calls."""
    from .emit import callees_among
    companions = []
    for spec in companion_specs:
        try:
            companions.append(_front_end_module(spec, len(todo) + len(companions)))
        except (Unsupported, FrontEndFailed):
            continue
    callees = callees_among([emitted for _, emitted in todo] + companions)
    out, called = [], set()
    for pos, (i, emitted) in enumerate(todo):
        wanted = {name: c for name, c in callees.items()
                  if name in emitted.global_names and c is not emitted.pure}
        if wanted:
            try:
                emitted = _front_end_module(members[i]["front_end"], pos, wanted)
                called.update(wanted)
            except (Unsupported, FrontEndFailed):
                pass
        out.append((i, emitted))
    return out, [c for c in companions if c.pure is not None and c.pure.name in called]


def _build_combined(request: dict, members: list[tuple[dict, object]], companions: list = ()) -> None:
    """Build one module of `members` (and `companions`, whose functions
    only the members call) and install a copy under each member's key."""
    if not members:
        return
    from .emit import combined_source
    cache_dir, workdir = Path(request["install"]["cache_dir"]), Path(request["workdir"])
    name = f"rsjit_{members[0][0]['key']}"
    named = [(f"rsjit_{m['key']}", emitted) for m, emitted in members]
    pyx = workdir / (name + ".pyx")
    pyx.write_text(combined_source(name, named, companions=companions))
    so = workdir / (name + EXT_SUFFIX)
    c_file = run_cython(pyx)
    run_c_command(list(request["compiler"]) + ["-o", str(so), str(c_file)], float(request.get("timeout", 120)),
                  workdir)
    for k, (member, _) in enumerate(members):
        copy_so, copy_pyx = workdir / f"copy{k}{EXT_SUFFIX}", workdir / f"copy{k}.pyx"
        shutil.copyfile(so, copy_so)
        copy_pyx.write_text(combined_source(name, named, installed_as=k, companions=companions))   # but its first comment
        cache.install(cache.entry_for(cache_dir, member["key"]), copy_so, copy_pyx)
        if member.get("family"):
            cache.record_family(cache_dir, member["family"], member["key"])


def failure_answer(error: Exception) -> dict:
    """The compile server's answer for a build that raised `error`."""
    if isinstance(error, Unsupported):
        return {"ok": False, "unsupported": error.reason}
    if isinstance(error, FrontEndFailed):
        return {"ok": False, "front_end_failed": str(error)}
    return {"ok": False, "error": str(error)}


def answer_error(answer: dict) -> Exception:
    """The exception a failed answer stands for (failure_answer's inverse)."""
    if "unsupported" in answer:
        return Unsupported(answer["unsupported"])
    if "front_end_failed" in answer:
        return FrontEndFailed(answer["front_end_failed"])
    return BuildError(answer.get("error", "unknown compile server error"))


def serve_request(request: dict) -> None:
    """Server side: build one module, into the cache when it has one."""
    target = request.get("install")
    try:
        if not target:
            write_source(request)
            compile_pyx(request)
            return
        cache_dir, key = Path(target["cache_dir"]), target["key"]
        entry = cache.entry_for(cache_dir, key)
        with cache.build_lock(cache_dir, key):
            if cache.lookup(entry):
                return            # another process built it meanwhile
            write_source(request)
            so_tmp = compile_pyx(request)
            cache.install(entry, so_tmp, Path(request["pyx"]))
            if target.get("family"):
                cache.record_family(cache_dir, target["family"], key)
        # never the entry just built: the program is about to load it
        _sizes.added(cache_dir, entry.so_path, int(target.get("limit_bytes", cache.DEFAULT_LIMIT_BYTES)),
                     keep={key})
    finally:
        if request.get("cleanup"):
            shutil.rmtree(request["cleanup"], ignore_errors=True)


def write_source(request: dict) -> None:
    """The front end, when the request asks the server to run it."""
    if request.get("front_end") is not None:
        from .remote import front_end_source
        Path(request["pyx"]).write_text(front_end_source(request["front_end"]))


def compile_pyx(request: dict) -> Path:
    """Cython then the C compiler; returns the built module's path."""
    c_file = run_cython(Path(request["pyx"]))
    run_c_command(request["c_command"] + [str(c_file)], float(request.get("timeout", 120)), c_file.parent)
    return Path(request["c_command"][request["c_command"].index("-o") + 1])


def run_cython(pyx: Path) -> Path:
    """Cython in-process; errors become BuildError with Cython's messages."""
    with _cython_lock:
        from Cython.Compiler import Errors, Main
        options = Main.CompilationOptions(
            Main.default_options,
            include_path=[str(INCLUDE_DIR)],
            language_level=3,
            errors_to_stderr=False,
            quiet=True,
        )
        try:
            result = Main.compile_single(str(pyx), options, full_module_name=pyx.stem)
        except Errors.CompileError as e:
            raise BuildError(f"Cython: {e}") from None
        except Exception as e:  # noqa: BLE001 - any Cython crash is a build failure
            raise BuildError(f"Cython crashed: {type(e).__name__}: {e}") from None
        finally:
            Errors.reset()
        if result.num_errors:
            raise BuildError(f"Cython reported {result.num_errors} error(s) in {pyx.name}")
        return Path(result.c_file)


def c_command(out: Path, options: BuildOptions) -> list[str]:
    """The C compiler's argv, without the input file (appended last)."""
    return compiler_command() + list(options.opt_flags) + ["-o", str(out)]


def run_c_command(cmd: list[str], timeout: float, workdir: Path) -> None:
    """The C compiler's intermediate files (gcc's cc*.s, cc*.o) go to
    `workdir`, not to the program's temporary directory: a compile running
    when the program checks that directory (CPython's test runner does)
    would show up there, and a killed one would leave them behind."""
    import subprocess
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, env=dict(os.environ, TMPDIR=str(workdir)))
    except FileNotFoundError:
        raise BuildError(f"C compiler not found: {cmd[0]}") from None
    except subprocess.TimeoutExpired:
        raise BuildError(f"C compiler timed out after {timeout:.0f} s") from None
    except OSError as e:
        raise BuildError(f"C compiler could not run: {e}") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise BuildError(f"C compiler failed ({proc.returncode}): " + " | ".join(tail))


class CompileServerClient:
    """Talks to restrain.compile_server in a child process (started on first
    use, restarted if it dies).  One request at a time."""

    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self.lock = threading.Lock()

    def start(self) -> subprocess.Popen:
        import subprocess
        package_parent = str(Path(__file__).resolve().parent.parent)
        bootstrap = (f"import sys; sys.path[:1] = [{package_parent!r}]; "
                     "from restrain.compile_server import main; main()")
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTRAIN")}
        return subprocess.Popen([sys.executable, "-c", bootstrap], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env=env, close_fds=True)

    def ensure_started(self) -> None:
        """Start the server now if none runs.  Called on the program's
        thread (runtime._prewarm), so it never waits: the lock held means
        a compile is being exchanged with a server, which is then running.
        Waiting for it there stopped the program for a whole compile
        (float_loops, cold: 0.5 s in some runs)."""
        if not self.lock.acquire(blocking=False):
            return
        try:
            if self.proc is None or self.proc.poll() is not None:
                self.proc = self.start()
        finally:
            self.lock.release()

    def submit(self, request: dict) -> None:
        """Send a request without waiting for its answer (see detach)."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self.start()
        import json
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()

    def detach(self) -> None:
        """Let the server finish what it was sent, on its own, and exit."""
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                proc.stdin.close()
            except OSError:
                pass

    def compile(self, request_data: dict) -> None:
        answer = self._exchange(request_data, float(request_data.get("timeout", 120)))
        if not answer.get("ok"):
            raise answer_error(answer)

    def compile_batch(self, request_data: dict, seconds: float) -> list[dict]:
        """One answer per member of the request's batch (build_batch);
        `seconds`: what its C compiler runs may take together."""
        answer = self._exchange(request_data, seconds)
        if not answer.get("ok"):
            raise answer_error(answer)
        return answer["members"]

    def _exchange(self, request_data: dict, seconds: float) -> dict:
        import json
        request = json.dumps(request_data) + "\n"
        with self.lock:
            for attempt in (1, 2):
                if self.proc is None or self.proc.poll() is not None:
                    self.proc = self.start()
                try:
                    self.proc.stdin.write(request)
                    self.proc.stdin.flush()
                    line = self._answer(seconds + SERVER_GRACE_SECONDS)
                except (BrokenPipeError, OSError):
                    line = ""
                if line:
                    break
                self.proc = None   # died: start a fresh one, once
            else:
                raise BuildError("the compile server died")
        return json.loads(line)

    def _answer(self, seconds: float) -> str:
        """The server's answer line.  A server that stops answering (a bug,
        a stopped process) is killed after `seconds`, so that a compile
        waiting for it (--sync, restrain.wait()) cannot hang the program."""
        import select
        if not select.select([self.proc.stdout], [], [], seconds)[0]:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            raise BuildError(f"the compile server did not answer in {seconds:.0f} s")
        return self.proc.stdout.readline()


_server = CompileServerClient()
_inherited_servers: list[CompileServerClient] = []


def compile_server() -> CompileServerClient:
    return _server


def _new_server_in_child() -> None:
    """A forked child must not talk to its parent's compile server: the two
    would read each other's answers from the shared pipe.  The child starts
    its own when it needs one; the parent's client object is kept (not
    closed, not collected) so that nothing in the child touches the
    parent's server."""
    global _server
    _inherited_servers.append(_server)
    _server = CompileServerClient()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_server_in_child)
