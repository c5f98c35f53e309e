"""The runtime: configuration, the compile queue and worker thread, the
record of every hot function, and the public API behind `restrain.*`.

The evaluator (csrc/hook.c) calls `_on_hot(code, arg_types)` once per code
object that reaches the threshold, and `_on_deopt(code, sites)` when a
compiled version keeps handing frames back to the interpreter (its type
guesses failed): the code is then compiled again without the guesses that
failed, at most MAX_VERSIONS times, the last one generic.  With `sync` the compile happens right there, on the
calling thread; otherwise the code object is queued and a daemon worker
thread compiles it while the program goes on.  Either way the outcome is
recorded in `_records`, logged once on the `restrain` logger when it is not
a success, and never raised into the program.
"""
from __future__ import annotations

import _thread
import atexit
import contextlib
import os
import queue
import sys
import threading
import time
import warnings
from types import CodeType, FunctionType
from typing import Optional

from .log import logger

SUPPORTED = (3, 11)
# Deoptimisations of one compiled version before it is replaced, and how
# many specialised versions a code object gets before a generic one.
DEOPT_LIMIT = 20
MAX_VERSIONS = 3
# Loop-heavy functions are found by sampling the running threads' stacks:
# a function on top (or one or two frames below) in HOT_SAMPLES samples
# taken SAMPLE_SECONDS apart counts as hot even when it is called rarely.
SAMPLE_SECONDS = 0.01
QUIET_SAMPLE_SECONDS = 0.03      # between windows: a lighter touch on the program
# Once nothing has turned hot for SETTLED_SECONDS (the program runs what
# restrain has already decided on), a sample every SETTLED_SAMPLE_SECONDS:
# each costs the program more than the sampler's own 0.1 ms (the GIL is
# handed over and back, and the program's caches refill after), and a new
# phase of the program is still found within a second (a function with a
# loop in one sample, others in HOT_SAMPLES).
SETTLED_SECONDS = 2.0
SETTLED_SAMPLE_SECONDS = 0.25
WORKER_IDLE_CHECK_SECONDS = 0.5  # an idle compiler thread checks that the program still runs
# Functions queued while a compile runs are built into one module, up to
# this many: one Cython and C compiler run for several functions (measured
# here: 1 function 0.34 s, 2 0.45 s, 4 0.70 s, 8 1.16 s), without making
# the first of them wait longer than the rest.
MAX_BATCH = 4
HOT_SAMPLES = 3
# ... and a function with a loop in one: a loop of 10 ms called once per
# round of the program is otherwise found only after seconds (the cost
# model still decides whether it is worth compiling)
LOOP_HOT_SAMPLES = 1
# A hot function the sampler found is taken up by the main thread, or by
# the sampler itself if the main thread has not within this time.
MAIN_THREAD_WAIT_SECONDS = 0.1
SAMPLE_DEPTH = 3
# The evaluator costs uncompiled code its inlined calls (design.md, fact 1),
# so with sampling on it is switched off once no function worth compiling
# has turned hot for QUIET_SECONDS, and switched on again after each
# compile (see _update_window).  0.04 s: against 0.1 s, the whole-process
# ratios of call-heavy programs that compile nothing (richards, deltablue,
# particles) gained 1-3%, and nothing measured lost (10 interleaved runs).
QUIET_SECONDS = 0.04
TRUE_WORDS = {"1", "true", "yes", "on"}


def _env_flag(name: str) -> Optional[bool]:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    return value.strip().lower() in TRUE_WORDS


class Config:
    """Settings; an instance changes its own copies of these defaults."""
    threshold: int = 1000
    sync: bool = False
    cache: bool = True
    cache_dir: Optional[str] = None  # a path; made a Path where the cache is opened
    stats: bool = False
    compile_timeout: float = 120.0
    cache_limit_bytes: int = 256 * 1024 * 1024
    sample: bool = True              # also find hot loops by sampling the stacks
    # also by timing calls of functions with loops while counting (a wall
    # clock: RESTRAIN_LONG_CALLS=0 leaves call counts alone to decide)
    long_calls: bool = True
    # evaluator on only in windows of looking for hot code (needs sampling);
    # RESTRAIN_EVALUATOR=always keeps it on (and function types untouched)
    windows: bool = True

    @classmethod
    def from_environment(cls) -> "Config":
        c = cls()
        if os.environ.get("RESTRAIN_THRESHOLD"):
            try:
                c.threshold = max(1, int(os.environ["RESTRAIN_THRESHOLD"]))
            except ValueError:
                logger.warning("ignoring RESTRAIN_THRESHOLD=%r: not an integer", os.environ["RESTRAIN_THRESHOLD"])
        c.sync = bool(_env_flag("RESTRAIN_SYNC"))
        c.stats = bool(_env_flag("RESTRAIN_STATS"))
        if _env_flag("RESTRAIN_SAMPLE") is False:
            c.sample = False
        if _env_flag("RESTRAIN_LONG_CALLS") is False:
            c.long_calls = False
        if os.environ.get("RESTRAIN_EVALUATOR", "").strip().lower() == "always":
            c.windows = False
        if _env_flag("RESTRAIN_NO_CACHE"):
            c.cache = False
        if os.environ.get("RESTRAIN_CACHE_DIR"):
            c.cache_dir = os.environ["RESTRAIN_CACHE_DIR"]
        if os.environ.get("RESTRAIN_CACHE_LIMIT_MB"):
            try:
                c.cache_limit_bytes = int(float(os.environ["RESTRAIN_CACHE_LIMIT_MB"]) * 1024 * 1024)
            except ValueError:
                logger.warning("ignoring RESTRAIN_CACHE_LIMIT_MB=%r: not a number",
                               os.environ["RESTRAIN_CACHE_LIMIT_MB"])
        return c


class FunctionRecord:
    """What restrain did with one hot code object."""
    status: str = "queued"           # queued | compiled | failed | unsupported | interpreted
    reason: Optional[str] = None
    seconds: float = 0.0
    source_path = None               # the generated .pyx (a Path)
    from_cache: bool = False
    entry: object = None             # keeps the loaded module alive
    versions: int = 0                # compiled versions so far
    relinks: int = 0                 # of those, compiled again for a callee's C version
    no_speculate: frozenset = frozenset()
    linked: frozenset = frozenset()  # callees whose C versions its module was built with
    # compiled because compiled code calls it (_compile_leaf): entered by
    # compiled callers only, interpreted ones keep inlining their calls of it
    drawn_in: bool = False
    # compiled for its frameless version (_saves_slot_frames): a call that
    # cannot take it (keywords, defaults) runs as a plain function's
    frameless_only: bool = False
    keyword_call: bool = False       # the call that made it hot passed keywords

    def __init__(self, code: CodeType, arg_types: tuple = ()):
        self.code = code
        self.arg_types = arg_types
        self.retired: list = []      # versions replaced while they may still run (_record_outcome)
        self.relinking = False       # being compiled again for a callee (_relink_callers)

    def as_dict(self) -> dict:
        from . import _hook_or_none
        hook = _hook_or_none()
        calls = hook.info(self.code)[0] if hook else 0
        return {
            "name": self.code.co_name,
            "qualname": self.code.co_qualname,
            "location": f"{self.code.co_filename}:{self.code.co_firstlineno}",
            "status": self.status,
            "reason": self.reason,
            "compiled_callers_only": self.drawn_in,
            "calls": calls,
            "compile_seconds": round(self.seconds, 4),
            "versions": self.versions,
            "deopt_sites": sorted(self.no_speculate),
            "from_cache": self.from_cache,
            "source_path": str(self.source_path) if self.source_path else None,
        }


class CompileResult:
    """What `restrain.compile(func)` returns."""
    FIELDS = ("ok", "reason", "seconds", "source_path", "status")

    def __init__(self, ok: bool, reason: Optional[str], seconds: float, source_path,
                 status: str = "compiled"):
        self.ok, self.reason, self.seconds, self.source_path, self.status = \
            ok, reason, seconds, source_path, status

    def __repr__(self) -> str:
        return "CompileResult(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in self.FIELDS) + ")"

    def __eq__(self, other) -> bool:
        return isinstance(other, CompileResult) and all(
            getattr(self, f) == getattr(other, f) for f in self.FIELDS)


class _State:
    """The runtime's state, one per process (reset in a forked child)."""

    def __init__(self):
        self.config = Config.from_environment()
        self.records: dict = {}          # id(code) -> FunctionRecord (code objects compare by content)
        self.queue: queue.Queue = queue.Queue()
        self.worker_running = False
        self.pending = 0
        # reentrant: _on_hot may run on a thread that holds it (a hot function
        # called inside threading's own code while wait() holds the lock)
        self.lock = threading.RLock()
        self.idle = threading.Condition(self.lock)
        self.enabled = False
        self.warned_unsupported_python = False
        self.atexit_registered = False
        self.shutting_down = False
        self.current: Optional[list] = None       # the (code, feedback) pairs the worker is compiling
        self.sampler_running = False
        self.window_until = 0.0         # monotonic time the evaluator's window may close
        # hot functions for the sampler's thread to report (if nobody has) once
        # the time is up: (deadline, code, argument types); see _report_sampled
        self.late: list = []


_state = _State()


# -- configuration and switching on/off ------------------------------------------

def configure(threshold=None, sync=None, cache=None, cache_dir=None, stats=None, sample=None) -> None:
    c = _state.config
    if sample is not None:
        c.sample = bool(sample)
    if threshold is not None:
        c.threshold = max(1, int(threshold))
        hook = _hook()
        if hook is not None:
            hook.set_threshold(c.threshold)
    if sync is not None:
        c.sync = bool(sync)
    if cache is not None:
        c.cache = bool(cache)
    if cache_dir is not None:
        c.cache_dir = os.fspath(cache_dir)
    if stats is not None:
        c.stats = bool(stats)
    _register_atexit()


_hook_module = False   # not looked up yet


def _hook():
    """The evaluator module, or None.  Looked up once: an import statement
    on every call would make importlib's helpers hot in every program."""
    global _hook_module
    if _hook_module is False:
        from . import _hook_or_none
        _hook_module = _hook_or_none()
        if _hook_module is not None:
            _hook_module.set_fingerprint(_code_fingerprint)
    return _hook_module


def _code_fingerprint(code: CodeType) -> str:
    """For compiled code calling the C version of a function (hook.c,
    fingerprint_callback): the digest the cache keys use."""
    with _import_guard:
        from .build import code_fingerprint
    return code_fingerprint(code)


def enable(threshold=None, sync=None, sample=None) -> bool:
    """Install the evaluator. Returns False (after one warning) on a Python
    restrain does not support; raises RuntimeError if another PEP 523
    evaluator is installed."""
    hook = _hook()
    if sys.version_info[:2] != SUPPORTED or hook is None:
        if not _state.warned_unsupported_python:
            _state.warned_unsupported_python = True
            warnings.warn(f"restrain supports CPython {SUPPORTED[0]}.{SUPPORTED[1]} only; "
                          f"this program runs on the interpreter unchanged", RuntimeWarning, stacklevel=2)
        return False
    if not hook.in_main_interpreter():
        return False    # a subinterpreter (RESTRAIN=1 reaches them too): the JIT is per process
    configure(threshold=threshold, sync=sync, sample=sample)
    if _state.config.sync:
        # compiles will run inside whatever the program is doing, an import
        # of json or subprocess included: import the compiler's modules first
        _import_pipeline()
    hook.set_threshold(_state.config.threshold)
    hook.set_prewarm(_prewarm)
    hook.set_deopt(_on_deopt, DEOPT_LIMIT)
    hook.set_leaf(_on_leaf_called)
    hook.set_long_call(_on_long_call if _state.config.long_calls else None)
    hook.install(_on_hot)
    hook.set_windows(_windows_mode())
    _note_activity()
    _state.enabled = True
    _start_threads()
    _register_atexit()
    return True


def disable() -> None:
    hook = _hook()
    if hook is not None:
        hook.uninstall()
    _state.enabled = False


def is_enabled() -> bool:
    """Whether restrain is looking for hot code (enable() was called)."""
    hook = _hook()
    return bool(_state.enabled and hook is not None and hook.is_installed())


# restrain imports its own modules lazily, some of them on its own threads.
# A fork while one is half imported would leave the child waiting forever for
# that module's import lock, held by a thread the child does not have; so
# os.fork waits for such an import to finish (_before_fork).
_import_guard = threading.RLock()

# -- compiling ----------------------------------------------------------------------

def _build_options():
    with _import_guard:
        from . import cache
        from .build import BuildOptions
    c = _state.config
    from pathlib import Path
    cache_dir = cache.open_cache(Path(c.cache_dir) if c.cache_dir else cache.default_cache_dir()) \
        if c.cache else None
    return BuildOptions(cache_dir=cache_dir, timeout=c.compile_timeout, limit_bytes=c.cache_limit_bytes)


def _feedback(code: CodeType, record: FunctionRecord):
    """What the next version of `code` is specialised for, and the compiled
    functions it calls whose C versions its module may carry (_companions)."""
    with _import_guard:
        from .feedback import observe
    companions, arg_callees = [], []
    if not _state.config.sync:
        companions = [r.code.co_name for r in _callee_records(code) if r.status in ("compiled", "queued")]
        for i, r in _passed_records(record):
            if r.status in ("compiled", "queued"):
                arg_callees.append((i, r.code.co_name))
                companions.append(r.code.co_name)
    return observe(code, record.arg_types, record.no_speculate,
                   speculate=record.versions - record.relinks < MAX_VERSIONS - 1,
                   companions=set(companions), arg_callees=arg_callees)


def _passed_records(record: FunctionRecord) -> list:
    """(argument index, record) of the functions passed to `record`'s code
    as arguments on the sampled call (the evaluator samples a function
    argument as its code object, hook.c argument_type).  A record holds
    its code object, so an id found in the records is that very code."""
    out = []
    for i, sampled in enumerate(record.arg_types):
        passed = _state.records.get(id(sampled)) if isinstance(sampled, CodeType) else None
        if passed is not None and passed is not record:
            out.append((i, passed))
    return out


@contextlib.contextmanager
def _evaluator_paused():
    """The evaluator neither counts nor compiles this thread's frames
    meanwhile: restrain's own code (and what it calls) never turns hot."""
    hook = _hook()
    if hook is not None:
        hook.pause_thread()
    try:
        yield
    finally:
        if hook is not None:
            hook.resume_thread()


def _compile_now(code: CodeType, cache_only: bool = False, feedback=None,
                 in_server: bool = False) -> Optional[FunctionRecord]:
    """Compile on this thread with the evaluator paused for it, install the
    entry, record and log the outcome.  With cache_only, only a module
    already in the cache is loaded; None if there is none.  With in_server,
    the front end too runs in the compile server (remote.py)."""
    with _evaluator_paused():
        if cache_only:
            with _import_guard:
                from .load import load_from_cache
            outcome = load_from_cache(code, _build_options(), feedback)
            if outcome is None:
                return None
        else:
            outcome = None
            if in_server:
                with _import_guard:
                    from .remote import compile_in_server
                outcome = compile_in_server(code, _build_options(), feedback)
            if outcome is None:
                with _import_guard:
                    from .pipeline import compile_code
                outcome = compile_code(code, _build_options(), feedback)
    return _record_outcome(code, outcome)


def _record_outcome(code: CodeType, outcome) -> FunctionRecord:
    """Install a compiled entry (or mark the code never to be compiled),
    record and log the outcome."""
    hook = _hook()
    record = _state.records.setdefault(id(code), FunctionRecord(code))
    if record.relinking:
        record.relinking = False
        if not outcome.ok:      # the version it has stays
            record.status = "compiled"
            logger.debug("restrain: compiling %s again failed (%s); its version stays", code.co_qualname,
                         outcome.reason)
            return record
    record.status, record.reason, record.seconds = outcome.status, outcome.reason, outcome.seconds
    record.source_path, record.from_cache = outcome.source_path, outcome.from_cache
    if outcome.ok:
        record.versions += 1
    if outcome.ok and hook is not None:
        if record.entry is not None:
            # the version it replaces may be running on another thread (a
            # relink does not wait for it to return): its module stays loaded
            record.retired.append(record.entry)
        record.entry = outcome.entry
        hook.compiled_callers_only(code, record.drawn_in)
        hook.frameless_only(code, record.frameless_only)
        hook.set_entry(code, outcome.entry.capsule, *(outcome.entry.pure or ()))
        if outcome.entry.frameless is not None:
            hook.set_frameless(code, outcome.entry.frameless)
        if not record.drawn_in:
            # the evaluator swaps its function objects (one drawn in keeps
            # them: compiled callers find its entry through the code object)
            _note_activity(open_window=True)
    elif hook is not None:
        hook.mark_never(code)
    _log_outcome(record)
    if outcome.ok:
        _relink_callers(record)
        if _calls_what_stays_interpreted(record.code):
            # a compile queued before a function it calls was left to the
            # interpreter for good (_release_callers skips callers not yet
            # compiled)
            _release(record)
    return record


MAX_RELINKS = 2


def _relink_callers(callee: FunctionRecord) -> None:
    """A function compiled after a compiled function that calls it (by
    global name, or as an argument it was passed: _calls): that
    caller's module was built without the callee's C version, so its calls
    make frames (float_loops' newton_sum, hot by a sample at its first
    call, before newton_cbrt had been called enough).  Compile the caller
    again with the callee as a companion (a new cache key: Feedback's
    companions), at most MAX_RELINKS times.  Only for a callee called with
    int and float arguments, and lists or tuples it loops over (what a C
    version takes), and not with --sync (its in-process compiles build no
    companions)."""
    with _import_guard:
        from .costmodel import called_global_names, looped_over_only
        from .feedback import arg_type_name
    types = [arg_type_name(t) for t in callee.arg_types]
    if _state.config.sync or _state.shutting_down or not types:
        return
    # other arguments only if the function loops over them (a list or a tuple)
    if not all(t in ("int", "float") or looped_over_only(callee.code, i) for i, t in enumerate(types)) \
            or "int" not in types and "float" not in types:
        return
    name = callee.code.co_name
    for record in list(_state.records.values()):
        if (record is callee or record.status != "compiled" or record.relinks >= MAX_RELINKS
                or name in record.linked or not _calls(record, callee, called_global_names)):
            continue
        with _report_in_progress():
            record.status, record.relinks, record.relinking = "queued", record.relinks + 1, True
            logger.debug("restrain: compiling %s again, for the C version of %s", record.code.co_qualname,
                         callee.code.co_qualname)
            _schedule(record.code, _feedback(record.code, record))


def _calls(caller: FunctionRecord, callee: FunctionRecord, called_global_names) -> bool:
    """Whether `caller` calls `callee` by global name, or was passed it as
    an argument (_passed_records)."""
    return _calls_by_name(caller, callee, called_global_names) \
        or any(r is callee for _, r in _passed_records(caller))


def _calls_by_name(caller: FunctionRecord, callee: FunctionRecord, names_of) -> bool:
    """Whether `caller` calls `callee` by one of the names `names_of(code)`
    gives (costmodel.called_global_names: by global name), in its own file
    (as _callee_records matches them)."""
    return caller.code.co_filename == callee.code.co_filename \
        and callee.code.co_name in names_of(caller.code)


def _log_outcome(record: FunctionRecord) -> None:
    where = f"{record.code.co_qualname} ({record.code.co_filename}:{record.code.co_firstlineno})"
    if record.status == "failed":
        logger.warning("restrain: compiling %s failed: %s", where, record.reason)
    elif record.status == "unsupported":
        logger.info("restrain: %s stays interpreted: %s", where, record.reason)
    else:
        logger.debug("restrain: compiled %s in %.3f s%s", where, record.seconds,
                     " (cache)" if record.from_cache else "")


def _prewarm(code: CodeType, arg_types: tuple = ()) -> None:
    """A first function is halfway to hot.  Import what loading from the
    cache needs, and unless that function is already cached (a warm start:
    probably no compile at all) start the compile server, which imports
    Cython (the bulk of a first compile) in parallel with the program.
    A function that will not be compiled does not count: the next one
    halfway to hot is asked again (without that, a warm start imported the
    loader on its first hot function, 15 ms in bench/latency.py)."""
    try:
        if _state.shutting_down:
            return
        if _importing_here() or _why_not_compile(code):
            _hook().set_prewarm(_prewarm)   # another time (see _importing_here); or no need for Cython yet
            return
        with _import_guard:
            from . import build, load  # noqa: F401 - load: for load_from_cache, at hot
            from .feedback import observe
        options = _build_options()
        if not _state.config.sync and build.lookup_cached(code, options, observe(code, arg_types)) is None:
            build.compile_server().ensure_started()
        # news: the window stays open (or opens again: the imports and the
        # server's start can take longer than QUIET_SECONDS) for the calls
        # that make it hot
        _note_activity(open_window=True)
    except Exception:  # noqa: BLE001
        logger.debug("restrain: could not start the compile server early", exc_info=True)


def _on_hot(code: CodeType, arg_types: tuple = (), sampled: bool = False) -> None:
    """Called by the evaluator, once per hot code object, with the types of
    the arguments of the call that made it hot. Never raises an Exception
    (the C side would treat it as a restrain bug)."""
    try:
        if id(code) in _state.records or _state.shutting_down or not _state.enabled:
            return
        if _importing_here():
            # later, from the sampler's thread (_report_late)
            _state.late.append((time.monotonic() + MAIN_THREAD_WAIT_SECONDS, code, tuple(arg_types)))
            return
        record = _state.records[id(code)] = FunctionRecord(code, arg_types=tuple(arg_types))
        if not sampled:
            record.keyword_call = _called_with_keywords(sys._getframe(1))
        with _report_in_progress():
            reason = _why_not_compile(code, sampled)
            feedback = None if reason else _feedback(code, record)
            if feedback is not None and _left_in_an_earlier_run(code, feedback):
                reason = DEOPTIMISED_BEFORE_REASON      # not leaf-worthy: its callers are released
            if reason:
                record.status, record.reason = "interpreted", reason
                _hook().mark_never(code)
                if not _leaf_worth_compiling(record):
                    # for good: compiled callers now call it through C
                    _release_callers(record)
                return
            _note_activity()
            _schedule(code, feedback)
        if not sampled:
            # called by the evaluator: the frame below is the hot call's caller
            _report_loop_caller(code, sys._getframe(1))
    except Exception:  # noqa: BLE001
        logger.exception("restrain: internal error while queueing a compile")


def _called_with_keywords(frame) -> bool:
    """Whether the call that made a function hot, from `frame` (its
    caller's frame, below the evaluator's report), passed keywords."""
    if frame is None:
        return False
    with _import_guard:
        from .costmodel import calls_with_keywords
    return calls_with_keywords(frame.f_code, frame.f_lasti)


def _report_loop_caller(callee: CodeType, frame) -> None:
    """A function turned hot by its calls from one frame: if that frame's
    function calls it by global name in a loop, the loop ran it `threshold`
    times, so it is hot too, though called only once or twice (the
    evaluator counts calls, not loop iterations; float_loops' newton_sum
    was found only if a stack sample happened to land in it).  Reported
    now, while the callee is queued, it is compiled with the callee's C
    version (_companions).  Left alone (for the sampler) if the cost model
    does not take it."""
    if frame is None or not _report_pending_for(callee):
        return
    code = frame.f_code
    hook = _hook()
    if id(code) in _state.records or code is callee or not _reportable(hook, code):
        return
    with _import_guard:
        from .costmodel import called_global_names, has_loop
    if callee.co_name not in called_global_names(code) or not has_loop(code) \
            or _cost_model_reason(code, sampled=True):
        return
    hook.mark_queued(code)
    _on_hot(code, _argument_types(frame), sampled=True)


def _on_long_call(code: CodeType, arg_types: tuple) -> bool:
    """Called by the evaluator when the calls of a function with a loop it
    timed while counting ran long together (hook.c, eval_timed), at the
    return of the last: hot as if a
    stack sample had found it (_report_sampled), if the cost model takes it
    now.  Deterministic where a sample is luck: int_loops' sum_of_squares,
    8 ms once a round, was compiled in some runs and not in others.  False:
    ask again at its next long call (one made while importing, or one from
    a module body outside its loops: main() and the like return only once,
    a function a script's top-level loop calls returns again)."""
    try:
        hook = _hook()
        if _importing_here():
            return False
        # this frame's caller made the call (the callee's frame is gone)
        caller = sys._getframe(0).f_back
        if caller is not None and _called_by_module_body(caller.f_code) \
                and not _in_a_loop(caller.f_code, caller.f_lasti):
            return False
        if id(code) in _state.records or _state.shutting_down or not _state.enabled \
                or not _reportable(hook, code):
            return True
        if _worth_compiling_now(code):
            hook.mark_queued(code)
            _on_hot(code, arg_types, sampled=True)
    except Exception:  # noqa: BLE001
        logger.exception("restrain: internal error while queueing a compile")
    return True


def _report_pending_for(code: CodeType) -> bool:
    record = _state.records.get(id(code))
    return record is not None and record.status in ("queued", "compiled") and not _state.config.sync


def _reportable(hook, code: CodeType) -> bool:
    """Whether a code object the evaluator has not reported could be:
    still counted, a function (not a module or class body, a generator,
    restrain's launcher)."""
    return (hook.info(code)[1] == "counting" and code.co_flags & _FUNCTION_FLAGS == _FUNCTION_FLAGS
            and not code.co_flags & _RESUMABLE_FLAGS and not code.co_filename.startswith(_PACKAGE_DIR))


def _argument_types(frame) -> tuple:
    """The types of a running frame's arguments (NoneType for one deleted).
    Not through frame.f_locals: that leaves a dict of all the frame's
    locals in the frame until it returns, and an object the function then
    deletes would live on (hook.c, argument_types)."""
    return _hook().argument_types(frame)


@contextlib.contextmanager
def _report_in_progress():
    """A report being decided on (cost model, cache lookup) counts as a
    pending compile: wait() on another thread must not return while the
    record still says "queued" and nothing is in the queue yet (the
    sampler's thread reporting for a main thread that was blocked)."""
    with _state.lock:
        _state.pending += 1
    try:
        yield
    finally:
        with _state.lock:
            _state.pending -= 1
            _state.idle.notify_all()


LOOPLESS_REASON = ("no loop, or loops of mostly Python calls or work on objects: the interpreter, "
                   "which inlines calls, runs it as fast or faster")
DEOPTIMISED_REASON = ("deoptimised: without the guesses that failed, its loops do less typed work "
                      "than work on objects, which compiled code does no faster than the interpreter")
DEOPTIMISED_BEFORE_REASON = ("deoptimised for good in an earlier run (noted in the cache): "
                             "its version there would only deoptimise again")
CALLEES_LEFT_REASON = ("its loops call functions that were then left to the interpreter (they deoptimised, "
                       "or are not worth compiling): calls of them are faster from the interpreter, which "
                       "inlines them")
COMPREHENSION_REASON = "a comprehension: a new function object per run, entered only through the evaluator"
_COMPREHENSIONS = {"<listcomp>", "<setcomp>", "<dictcomp>"}


def _why_not_compile(code: CodeType, sampled: bool = False) -> Optional[str]:
    """The decision on a hot function's report: why not to compile it, or None."""
    return _cost_model_reason(code, sampled)


def _cost_model_reason(code: CodeType, sampled: bool = False) -> Optional[str]:
    """Why compiled code would not beat the interpreter on `code`, or None.
    Entering compiled code costs a C call through the function's vectorcall
    and the evaluator (~230 instructions more than an inlined interpreter
    call), and so does every call compiled code makes to a Python function.
    So a function without a loop (every instruction runs at most once per
    call) or whose loops mostly call Python functions is left to the
    interpreter -- when the evaluator is off between windows.  While it is
    on for good (no windows) calls are never inlined and compiling pays."""
    if not _windows_mode():
        return None
    if code.co_name in _COMPREHENSIONS:
        return COMPREHENSION_REASON
    with _import_guard:
        from .costmodel import calls_itself, has_loop, runs_generic_loops, work_mix
    if sampled and runs_generic_loops(code) and not _calls_what_stays_interpreted(code):
        # found running (a stack sample, a long call): its loops run on the
        # interpreter's generic instructions (a function reported by its
        # call count is not quickened yet only below 3.11's 8 calls)
        worth = True
    elif has_loop(code):
        compiled = frozenset(r.code.co_name for r in _callee_records(code) if r.status in ("compiled", "queued"))
        worth = work_mix(code, compiled_callees=compiled, frameless_methods=_frameless_methods(code)) \
            .favours_compiling(sampled or _runs_long_per_call(code))
    else:
        # recursive: compiled, its calls of itself are direct
        worth = calls_itself(code)
        if not worth and _saves_slot_frames(code):
            worth = True
            record = _state.records.get(id(code))
            if record is not None:
                record.frameless_only = True
    return None if worth else LOOPLESS_REASON


def _saves_slot_frames(code: CodeType) -> bool:
    """Whether `code`, without a loop, is worth compiling for its frameless
    version (costmodel.frameless_shaped): it is a method the interpreter
    calls through a type's slot, or calls such methods
    (costmodel.uses_slots), whose frames the frameless version saves.
    raytrace's `Vector.__sub__` (`return Vector(self.x - other.x, ...)`):
    interpreted, BINARY_OP calls it on a frame of its own, and it calls the
    class, whose `__init__` gets another; frameless, neither.  The
    functions it calls are drawn in (_leaf_callees).  Compiled this way,
    a call that cannot take the frameless version (calls.py's
    `Item(price, weight, quantity=...)`: keywords) runs interpreted, as
    before (hook.c, RsCodeInfo.frameless_only)."""
    with _import_guard:
        from .costmodel import frameless_shaped, uses_slots
    record = _state.records.get(id(code))
    if record is not None and record.keyword_call:
        return False        # (it would not run frameless: calls.py's `Item(p, w, quantity=q)`)
    same_file = _records_in_file(code)
    classes = frozenset(r.code.co_qualname.rpartition(".")[0].rpartition(".")[2] for r in same_file
                        if r.code.co_name == "__init__" and "." in r.code.co_qualname)
    python_functions = frozenset(r.code.co_name for r in same_file) | classes
    return uses_slots(code, classes) and frameless_shaped(code, python_functions)


def _records_in_file(code: CodeType) -> list:
    """The records of the hot functions of `code`'s file (names in one
    file are what the cost model's frameless rules match calls by)."""
    return [r for r in list(_state.records.values()) if r.code.co_filename == code.co_filename]


def _frameless_methods(code: CodeType) -> frozenset:
    """The names of the methods `code` calls whose every hot function of
    that name (in its file) is one compiled code would call without a frame
    (costmodel.frameless_shaped) and would be compiled with it: compiled or
    queued, or drawn in (_leaf_callees).  deltablue's `execute(plan)` loop
    calls `c.execute()`, which calls `output()` and `input()`: three frames
    per turn interpreted, none compiled."""
    with _import_guard:
        from .costmodel import called_method_names, frameless_shaped
    methods = called_method_names(code)
    if not methods:
        return frozenset()
    same_file = _records_in_file(code)
    python_functions = frozenset(r.code.co_name for r in same_file)
    by_name: dict[str, list] = {}
    for record in same_file:
        if record.code.co_name in methods and record.code is not code:
            by_name.setdefault(record.code.co_name, []).append(record)
    return frozenset(name for name, records in by_name.items() if all(
        (r.status in ("compiled", "queued") or _leaf_worth_compiling(r))
        and frameless_shaped(r.code, python_functions) for r in records))


# A function with a loop whose calls, timed while the evaluator counted
# them (hook.c, eval_timed), took this long on average runs its loops long
# enough for one typed step to pay for entering compiled code, as one found
# by the sampler does (WorkMix.favours_compiling, MIN_TYPED_OPS_CALLED).
# int_overflow's fibonacci (80-150 steps, about 3-5 us a call) and
# rising_product (25-40 big-integer products, 2-3 us); random's
# `while r >= n` loop runs once or twice in some 0.2 us.
LONG_PER_CALL_NS = 2000


def _runs_long_per_call(code: CodeType) -> bool:
    """Whether `code`'s timed calls took LONG_PER_CALL_NS or more on average."""
    hook = _hook()
    if hook is None:
        return False
    calls, nanoseconds = hook.call_time(code)
    return calls > 0 and nanoseconds >= LONG_PER_CALL_NS * calls


def _calls_what_stays_interpreted(code: CodeType) -> bool:
    """Whether `code` calls (by name, as _leaf_callees matches them) a hot
    function that will stay interpreted, not drawn in: compiled, it would
    call that function through C instead of the interpreter's inlined call
    (deltablue's `make_plan`, a `while` loop 3.11 never quickens, calls
    `add_constraints_consuming`, whose loop calls methods: compiled, the
    program ran 2% slower)."""
    return any(record.status == "interpreted" and not _leaf_worth_compiling(record)
               for record in _named_callee_records(code))


def _named_callee_records(code: CodeType) -> list:
    """The records of the functions `code` calls by global name or as
    methods (`obj.name(...)`), matched as _callee_records matches them."""
    return _callee_records(code, _called_names(code))


def _called_names(code: CodeType) -> frozenset:
    """The names `code` calls functions by: global names and method names."""
    with _import_guard:
        from .costmodel import called_global_names, called_method_names
    return called_global_names(code) | called_method_names(code)


def _windows_mode() -> bool:
    """Whether the evaluator is on only in windows (it needs the sampler)."""
    return _state.config.sample and _state.config.windows


def _schedule(code: CodeType, feedback) -> None:
    """Compile now (sync), load from the cache, or queue for the worker.
    The hot functions it calls that _compile_leaf would draw in
    (_leaf_callees) come along: queued with it, they are built into its
    module, and a warm start loads them with it, instead of each turning
    up a run later (when compiled code has called them enough)."""
    todo = [(code, feedback)] + [(leaf, _feedback(leaf, _state.records[id(leaf)])) for leaf in _leaf_callees(code)]
    for item_code, item_feedback in todo:
        item_record = _state.records.get(id(item_code))
        if item_record is not None:
            item_record.linked = frozenset(item_feedback.companions)
    if _state.config.sync:
        for item_code, item_feedback in todo:
            _compile_now(item_code, feedback=item_feedback)
        return
    # warm start: about a millisecond each
    todo = [(c, fb) for c, fb in todo if _compile_now(c, cache_only=True, feedback=fb) is None]
    if todo:
        # What the worker needs, imported here and not on its thread: an
        # import adds to sys.modules, and a program iterating over
        # sys.modules meanwhile would fail with "dictionary changed size
        # during iteration" (CPython's regrtest did, at start-up).  The
        # worker's imports held the GIL as these do: the program loses the
        # same time either way.
        if "restrain.pipeline" not in sys.modules:
            with _import_guard:
                import json, select, subprocess, tempfile  # noqa: F401,E401 - building, the server's protocol
                from . import emit, pipeline, remote  # noqa: F401 - the front end, batches
            # tens of milliseconds, in which the sampler may have closed the
            # window: open again, once (opening it at every compile queued
            # made float_loops' cold run 1.15 -> 1.9 s: calls stop being
            # inlined while it is open)
            _note_activity(open_window=True)
        with _state.lock:
            _state.pending += len(todo)
        _ensure_worker()
        _state.queue.put(todo)      # one item: the worker takes them together


# at most this many functions drawn in along with one compiled function
MAX_DRAWN_IN = 16


def _leaf_callees(code: CodeType) -> list:
    """Code objects of the hot functions `code` calls, by global name or as
    methods (`obj.name(...)`), and those they call in turn, that
    _compile_leaf would compile once compiled code had called them enough:
    compiled now, with it, instead of one level of calls a compile later
    (richards' scheduler loop calls the tasks' `run` methods, which call
    `wait`, `send`, ...: without this, the whole process ended before most
    were compiled, and the next run paid for their compiles).  Matched by
    name and file among the records (the evaluator reports code objects,
    not function objects; a wrong match only compiles a function for
    nothing: it is entered by compiled callers only).  Marked queued."""
    leaves, seen, callers = [], {id(code)}, [code]
    while callers and len(leaves) < MAX_DRAWN_IN:
        for record in _named_callee_records(callers.pop(0)):
            if id(record.code) in seen:
                continue
            seen.add(id(record.code))
            if _leaf_worth_compiling(record) and len(leaves) < MAX_DRAWN_IN:
                record.status, record.reason, record.drawn_in = "queued", None, True
                leaves.append(record.code)
                callers.append(record.code)
    return leaves


def _callee_records(code: CodeType, names: frozenset | None = None) -> list:
    """The records of the functions `code` calls by global name (or of the
    functions named `names`), matched by name and file: the evaluator
    reports code objects, not function objects; a wrong match costs a
    compile, never a wrong result: calls are guarded."""
    if names is None:
        with _import_guard:
            from .costmodel import called_global_names
        names = called_global_names(code)
    return [record for record in list(_state.records.values())
            if record.code.co_name in names and record.code.co_filename == code.co_filename
            and record.code is not code]


def _passed_within(batch: list, codes: set) -> list:
    """The batch with each member's feedback naming the functions passed to
    it that are built into the same module (`codes`: ids of the batch's and
    the companions' code objects): a function reported hot before the one
    it is passed (integrate before bump) had no C version to name then,
    and once built together it is not compiled again for it."""
    out = []
    for code, feedback in batch:
        record = _state.records.get(id(code))
        if record is not None and feedback.speculate:
            found = {(i, r.code.co_name) for i, r in _passed_records(record) if id(r.code) in codes}
            if not found <= set(feedback.arg_callees):
                feedback = feedback._replace(
                    arg_callees=tuple(sorted(found | set(feedback.arg_callees))),
                    companions=tuple(sorted({name for _, name in found} | set(feedback.companions))))
        out.append((code, feedback))
    return out


def _companions(batch: list) -> list:
    """(code, feedback) of the small functions the batch calls by global
    name, or was passed as arguments on the sampled call (_passed_records),
    that are already compiled or queued elsewhere (a leaf that came
    along with another caller): built into the batch's module too, not
    for their own entry, but for a C version its functions may call
    directly (build._calling_each_other; without one they are dropped)."""
    in_batch = {id(code) for code, _ in batch}
    out = []
    for code, _ in batch:
        own = _state.records.get(id(code))
        passed = [r for _, r in _passed_records(own)] if own is not None else []
        for record in _callee_records(code) + passed:
            callee = record.code
            if id(callee) not in in_batch and record.status in ("compiled", "queued"):
                in_batch.add(id(callee))
                out.append((callee, _feedback(callee, record)))
    return out


def _on_deopt(code: CodeType, sites: tuple) -> None:
    """Called by the evaluator when a compiled version deoptimised
    DEOPT_LIMIT times (it has already been dropped): compile the next
    version without the guesses that failed."""
    try:
        record = _state.records.get(id(code))
        if record is None or _state.shutting_down:
            return
        record.no_speculate = record.no_speculate | frozenset(sites)
        if _windows_mode():
            with _import_guard:
                from .costmodel import work_mix
            if not work_mix(code, generic_sites=record.no_speculate).favours_generic_version():
                # big integers in an integer loop: the interpreter, whose
                # specialisations handle them, is as fast as generic code
                record.status, record.reason = "interpreted", DEOPTIMISED_REASON
                _hook().mark_never(code)
                _remember_left(code, record)
                logger.debug("restrain: %s deoptimised at %s; left to the interpreter", code.co_qualname,
                             sorted(sites))
                _release_callers(record)
                return
        with _report_in_progress():
            record.status = "queued"
            logger.debug("restrain: %s deoptimised at %s; compiling version %d", code.co_qualname,
                         sorted(sites), record.versions + 1)
            _schedule(code, _feedback(code, record))
    except Exception:  # noqa: BLE001
        logger.exception("restrain: internal error while recompiling after deoptimisation")


def _left_family(code: CodeType, feedback):
    """(cache directory, family key) under which a decision to leave `code`
    to the interpreter is kept: its code and argument types (the callees
    it would carry depend on what happened to be compiled first), or None
    without a cache."""
    options = _build_options()
    if options.cache_dir is None:
        return None
    with _import_guard:
        from .build import family_key
    return options.cache_dir, family_key(code, options, feedback._replace(companions=(), arg_callees=()))


def _remember_left(code: CodeType, record: FunctionRecord) -> None:
    """Note in the cache that `code` deoptimised for good (cache.record_left)."""
    try:
        where = _left_family(code, _feedback(code, record))
        if where is not None:
            with _import_guard:
                from . import cache
            cache.record_left(*where)
    except Exception:  # noqa: BLE001 - a note not written costs the next run a deoptimisation
        logger.debug("restrain: could not note %s as left to the interpreter", code.co_qualname, exc_info=True)


def _left_in_an_earlier_run(code: CodeType, feedback) -> bool:
    """Whether an earlier run left `code` to the interpreter after it
    deoptimised for good (cache.honour_left): then its version in the cache
    would only deoptimise again."""
    if not _windows_mode():
        return False
    try:
        where = _left_family(code, feedback)
        if where is None:
            return False
        with _import_guard:
            from . import cache
        return cache.honour_left(*where)
    except Exception:  # noqa: BLE001 - no note read: compiled as usual
        logger.debug("restrain: could not read the note on %s", code.co_qualname, exc_info=True)
        return False


def _release_callers(callee: FunctionRecord) -> None:
    """`callee` is left to the interpreter for good: it was compiled and
    deoptimised, or it turned hot after a compiled function that calls it
    and is not worth compiling (nor drawn in: its loops call Python
    functions).  A compiled function whose loops call it, by global name or
    as a method, may have been worth compiling only because its calls of
    callee were direct calls of compiled code (costmodel.work_mix counts
    them as typed work), or because callee was not hot yet when it was
    judged (_calls_what_stays_interpreted).  Now each call is a C call into
    the interpreter, where the interpreter would inline it (int_overflow's
    `run`, calling three functions that meet big integers, ran 0.87x;
    deltablue's `make_plan`, compiled before `add_constraints_consuming`
    turned hot, executed 16% more instructions per round, bench/
    instructions.py).  Each such caller the cost model no longer takes goes
    back to the interpreter (_release)."""
    if not _windows_mode():
        return
    for record in list(_state.records.values()):
        if record is not callee and record.status == "compiled" \
                and _calls_by_name(record, callee, _called_names):
            _release(record)


def _release(record: FunctionRecord) -> None:
    """Back to the interpreter if the cost model no longer takes the
    compiled `record` (its module stays loaded: frames of it may still be
    running), and so, in turn, may its own callers be."""
    hook = _hook()
    if hook is None or record.drawn_in or not _windows_mode() \
            or _cost_model_reason(record.code, sampled=True) is None:
        return
    hook.clear_entry(record.code)
    record.status, record.reason = "interpreted", CALLEES_LEFT_REASON
    logger.debug("restrain: %s left to the interpreter: the functions it calls were", record.code.co_qualname)
    _release_callers(record)


# -- finding loop-heavy functions -------------------------------------------------------

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# `python -m restrain script.py` runs the whole program inside these: they
# do not make a thread one of restrain's own
_LAUNCHER_FILES = {_PACKAGE_DIR + "__main__.py", _PACKAGE_DIR + "_startup.py"}


def _start_threads() -> None:
    """restrain's threads start with it, not when first needed: programs and
    test suites that check for leaked threads (CPython's own count the
    threads before and after each test) must not see one appear when a
    function happens to turn hot."""
    if _state.config.sample:
        _ensure_sampler()
    if not _state.config.sync:
        _ensure_worker()


def _ensure_sampler() -> None:
    """A bare thread (_thread, not threading): it runs no Python code of
    threading's before it stops the evaluator from counting its frames, so
    it never makes threading's own functions hot."""
    _start_once("sampler_running", _sample_loop)


def _start_once(flag: str, loop) -> None:
    """Start `loop` on a bare thread unless `_state.<flag>` says it runs
    (the loop clears the flag when it ends)."""
    with _state.lock:
        if getattr(_state, flag):
            return
        setattr(_state, flag, True)
    try:
        with _signals_blocked():
            _thread.start_new_thread(loop, ())
    except Exception:  # noqa: BLE001
        setattr(_state, flag, False)
        raise


def _sample_loop() -> None:
    """Count, per code object, the samples in which it is running; report
    one that reaches HOT_SAMPLES as hot (the evaluator only sees calls, and
    a function with a long loop may be called a handful of times)."""
    hook = _hook()
    if hook is None:
        _state.sampler_running = False
        return
    hook.pause_thread()
    try:
        _sample_until_disabled(hook)
    finally:
        _state.sampler_running = False


def _sample_until_disabled(hook) -> None:
    counts: dict[CodeType, int] = {}
    enough: dict[CodeType, int] = {}        # samples that make it hot (hot_samples)
    late = _state.late
    while _state.enabled and _state.config.sample and not _state.shutting_down:
        time.sleep(_sample_interval(hook, late))
        if not _program_running():
            return
        _report_late(late)
        try:
            # code objects, not frame objects (hook.c, sample_stacks): one held
            # while its function returned kept the function's locals alive;
            # functions of compiled code made while the window was closed are
            # swapped on the way
            for codes, top in hook.sample_stacks(SAMPLE_DEPTH + 1):
                if _in_restrain(codes):
                    continue      # restrain's own threads, or a synchronous compile
                for k, (code, _, arg_types) in enumerate(top[:SAMPLE_DEPTH]):
                    caller = top[k + 1] if k + 1 < len(top) else None     # (code, f_lasti, types)
                    n = counts[code] = counts.get(code, 0) + 1
                    needed = enough.get(code) or enough.setdefault(code, _hot_samples(code))
                    if needed <= n <= HOT_SAMPLES and _sampled_hot(code, caller, n):
                        _report_sampled(hook, code, arg_types, late)
                    elif n > HOT_SAMPLES and caller is not None:
                        # every sample, not every third: a short leaf is seen on
                        # top mostly while its caller still runs interpreted
                        _compile_if_called_from_compiled(hook, code, caller[0])
        except Exception:  # noqa: BLE001 - sampling must never disturb the program
            logger.debug("restrain: sampling failed", exc_info=True)
        if len(counts) > 10000:
            counts.clear()
            enough.clear()
        _update_window(hook)


def _sample_interval(hook, late: list) -> float:
    """Seconds until the next sample: SAMPLE_SECONDS while the evaluator's
    window is open, QUIET_SAMPLE_SECONDS between windows, and
    SETTLED_SAMPLE_SECONDS once the program has settled (reports waiting
    in `late` are news: they are taken up at the next sample)."""
    if hook.window()[1]:
        return SAMPLE_SECONDS
    if not late and time.monotonic() - _state.window_until > SETTLED_SECONDS:
        return SETTLED_SAMPLE_SECONDS
    return QUIET_SAMPLE_SECONDS


def _worth_compiling_now(code: CodeType) -> bool:
    """An early report (a loop seen once) is made only if the cost model
    takes the function now; else the function gets its HOT_SAMPLES, by
    when the functions it calls may be compiled (which counts for it)."""
    try:
        return _cost_model_reason(code, sampled=True) is None
    except Exception:  # noqa: BLE001 - then the usual report decides
        return False


def _hot_samples(code: CodeType) -> int:
    with _import_guard:
        from .costmodel import has_loop
    return LOOP_HOT_SAMPLES if has_loop(code) else HOT_SAMPLES


def _called_by_module_body(caller: Optional[CodeType]) -> bool:
    """main() and the like: called once from a module body (`caller`, the
    code of the calling frame).  Compiled, they would only run when called
    again (restrain does not replace a running frame), so they are not
    worth a place in the compile queue."""
    return caller is not None and caller.co_name == "<module>"


def _in_a_loop(code: CodeType, lasti: int) -> bool:
    """Whether a frame's current instruction (a call) is inside a loop."""
    with _import_guard:
        from .costmodel import in_loop
    return in_loop(code, lasti)


def _sampled_hot(code: CodeType, caller: Optional[tuple], n: int) -> bool:
    """Whether a function found in n samples (at least its hot_samples) is
    hot: at HOT_SAMPLES, or earlier (a loop) if the cost model takes it now.
    One called by a module body only from inside a loop of it, and only if
    it has a loop the cost model takes: main() is called once and runs on
    in the frame it was sampled in (compiled, it would never run), a loop
    function that a script's top-level loop calls runs again.  `caller`:
    (code, f_lasti, ...) of the calling frame, if any."""
    if caller is not None and _called_by_module_body(caller[0]):
        return n == _hot_samples(code) == LOOP_HOT_SAMPLES and _in_a_loop(caller[0], caller[1]) \
            and _worth_compiling_now(code)
    return n == HOT_SAMPLES or _worth_compiling_now(code)


def _note_activity(open_window: bool = False) -> None:
    _state.window_until = time.monotonic() + QUIET_SECONDS
    hook = _hook()
    if open_window and hook is not None and _state.enabled:
        hook.set_counting(True)


def _update_window(hook) -> None:
    """Close the evaluator's window after QUIET_SECONDS without news (a
    compile that finishes later opens it again): from then on uncompiled
    code runs at the interpreter's own speed, inlined calls included, and
    compiled functions are entered through their swapped function objects."""
    windows, counting, _ = hook.window()
    if windows and counting and time.monotonic() > _state.window_until:
        hook.set_counting(False)


def _in_restrain(codes) -> bool:
    """Whether a thread's stack (its frames' code objects) runs restrain's own code."""
    for code in codes:
        filename = code.co_filename
        if filename.startswith(_PACKAGE_DIR) and filename not in _LAUNCHER_FILES:
            return True
    return False


# a function's own scope, not a generator or coroutine (what compiles)
_FUNCTION_FLAGS = 0x1 | 0x2          # CO_OPTIMIZED | CO_NEWLOCALS
_RESUMABLE_FLAGS = 0x20 | 0x80 | 0x100 | 0x200


def _compile_if_called_from_compiled(hook, code: CodeType, caller: CodeType) -> None:
    """The sampler sees `code` running below `caller`."""
    if hook.info(caller)[1] == "compiled":
        _compile_leaf(code)


def _on_leaf_called(code: CodeType) -> None:
    """Called by the evaluator module once compiled code has called `code`,
    left to the interpreter, `threshold` times (hook.c, leaf_callback).
    Never raises an Exception."""
    try:
        if not _importing_here():      # else the sampler may find it (see _importing_here)
            _compile_leaf(code)
    except Exception:  # noqa: BLE001
        logger.exception("restrain: internal error while queueing a compile")


def _compile_leaf(code: CodeType) -> None:
    """A function left to the interpreter by the cost model, called again
    and again by compiled code: compiled, its calls from there are direct
    C calls (no vectorcall, no new interpreter loop), so compile it after
    all; interpreted callers keep inlining their calls of it (hook.c,
    compiled_callers_only): entering compiled code from the interpreter
    costs more than a small function gains there (deltablue's one-line
    methods, called from everywhere: 0.95 of the interpreter's speed when
    the interpreter's calls of them entered compiled code too).  The
    Python functions it calls itself, hot, follow the same way
    once it calls them from compiled code, so a compiled loop draws in the
    methods it runs, and their calls between each other become direct too
    (richards: 1.36x with its scheduler loop compiled, 1.59x with the
    task methods drawn in; they used to stay interpreted because they call
    Python functions)."""
    record = _state.records.get(id(code))
    if record is None or not _leaf_worth_compiling(record):
        return
    with _report_in_progress():
        record.status, record.reason, record.drawn_in = "queued", None, True
        _note_activity()
        _schedule(code, _feedback(code, record))


def _leaf_worth_compiling(record: FunctionRecord) -> bool:
    """A function the cost model left to the interpreter whose loops (if
    any) call no Python functions.  (Compiled, such a loop would call them
    through C, interpreted until they are drawn in too: raytrace's
    `render`, drawn in by the compiled `run`, made the first runs of a
    process 5-10% slower.)"""
    if record.status != "interpreted" or record.reason != LOOPLESS_REASON \
            or _state.shutting_down or not _state.enabled:
        return False
    with _import_guard:
        from .costmodel import work_mix
    return not work_mix(record.code).python_calls


def _importing_here() -> bool:
    """Whether this thread is running a module body for an import.  The
    callbacks of the evaluator run inside the program's code, which may be
    importing `dis` or `logging` at that moment: importing them again from
    there gives the half-initialised module (an AttributeError in the cost
    model, CPython's test_inspect saw it).  On another thread, an import
    waits until the module is complete."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib._bootstrap"):
            return True
        frame = frame.f_back
    return False


def _report_late(late: list) -> None:
    """Hot functions the main thread has not taken up in time (it may be
    blocked, joining the threads that run them): reported from here."""
    now = time.monotonic()
    while late and late[0][0] <= now:
        _, code, arg_types = late.pop(0)
        _on_hot(code, arg_types, sampled=True)     # nothing to do if the main thread did it


def _report_sampled(hook, code: CodeType, arg_types: Optional[tuple], late: list) -> None:
    if hook.info(code)[1] != "counting":
        return
    if not _reportable(hook, code):
        hook.mark_never(code)        # module and class bodies, generators, restrain's launcher
        return
    arg_types = arg_types or ()      # None: too many arguments to sample, no guesses
    hook.mark_queued(code)
    # on the main thread, where a cache lookup does not wait for the GIL
    # after each system call (hook.c, call_on_main_thread)
    late.append((time.monotonic() + MAIN_THREAD_WAIT_SECONDS, code, arg_types))
    if not hook.call_on_main_thread(lambda: _on_hot(code, arg_types, sampled=True)):
        _report_late([(0.0, code, arg_types)])


def _import_pipeline() -> None:
    """With --sync, compiles run the front end in this process, inside
    whatever the program is doing: import it at enable(), not in the middle
    of an import of the program's."""
    with _import_guard:
        from . import build, pipeline  # noqa: F401
    build.cython_version()


def _ensure_worker() -> None:
    """A bare thread, like the sampler: not in threading.enumerate() or
    active_count(), which programs may check, and none of threading's code
    runs in it to turn hot."""
    _start_once("worker_running", _worker_loop)


@contextlib.contextmanager
def _signals_blocked():
    """A signal sent to the process goes to any thread that does not block
    it.  Without restrain, a program whose threads all block a signal sees
    it pending (signal.sigpending, sigwait); restrain's threads must not take
    it instead.  Python handlers run in the main thread anyway, whichever
    thread the kernel picked.  So they are started with every signal
    blocked, a mask a new thread inherits: blocking them from the thread
    itself left it open to a signal until it first got the GIL (CPython's
    test_signal.test_sigpending, which blocks and sends one at once, failed
    now and then).  (The compile server, a child process, inherits this mask
    and clears it: compile_server.main.)"""
    try:
        import _signal
        old = _signal.pthread_sigmask(_signal.SIG_BLOCK, _signal.valid_signals())
    except (ImportError, AttributeError, OSError, ValueError):
        yield     # no pthread_sigmask on this platform
        return
    try:
        yield
    finally:
        _signal.pthread_sigmask(_signal.SIG_SETMASK, old)


def _program_running() -> bool:
    """False once the program's main thread has ended.  Normally that is the
    end of the process, but in a child forked from another thread the forking
    thread becomes the main thread, and when it ends nobody calls exit(): the
    process lives while any thread does, daemon threads included.  So
    restrain's threads end themselves, or such a child would never exit."""
    return threading.main_thread().is_alive()


def _worker_loop() -> None:
    hook = _hook()
    if hook is not None:
        hook.pause_thread()   # the compiler's own frames are never counted
    try:
        _compile_until_the_program_ends()
    finally:
        _state.worker_running = False


def _compile_until_the_program_ends() -> None:
    while True:
        try:
            batch = list(_state.queue.get(timeout=WORKER_IDLE_CHECK_SECONDS))
        except queue.Empty:
            if _program_running():
                continue
            return
        # what turned hot while the last compile ran is built together
        while len(batch) < MAX_BATCH:
            try:
                batch += _state.queue.get_nowait()
            except queue.Empty:
                break
        with _state.lock:
            _state.current = batch      # the exit hand-over includes them
        try:
            for start in range(0, len(batch), MAX_BATCH):    # a function with many leaves
                _compile_batch_now(batch[start:start + MAX_BATCH])
        except Exception:  # noqa: BLE001
            logger.exception("restrain: internal error in the compiler thread")
        finally:
            with _state.lock:
                _state.current = None
                _state.pending -= len(batch)
                _state.idle.notify_all()


def _compile_batch_now(batch: list) -> None:
    """Compile (code, feedback) pairs on the compiler thread, in the compile
    server; several at once share one module (remote.compile_batch_in_server)."""
    companions = _companions(batch)
    batch = _passed_within(batch, {id(code) for code, _ in batch + companions})
    together = frozenset(code.co_name for code, _ in batch + companions)
    for code, _ in batch:
        record = _state.records.get(id(code))
        if record is not None:
            record.linked = record.linked | together
    if len(batch) == 1 and not companions:
        code, feedback = batch[0]
        _compile_now(code, feedback=feedback, in_server=True)
        return
    with _evaluator_paused():
        with _import_guard:
            from .remote import compile_batch_in_server
        outcomes = compile_batch_in_server(batch, _build_options(), companions)
    for (code, feedback), outcome in zip(batch, outcomes):
        if outcome is None:     # cannot be sent to the server: compiled here
            _compile_now(code, feedback=feedback)
        else:
            _record_outcome(code, outcome)


def compile(func, arg_types=None) -> CompileResult:  # noqa: A001 - the public name
    """Compile `func` now, on this thread; its later calls run compiled code.
    `arg_types` (a tuple of types, one per argument) specialises it for
    those argument types, as the evaluator does with the types of the call
    that made a function hot; calls with other types run interpreted."""
    code = func.__code__ if isinstance(func, FunctionType) else getattr(func, "__code__", func)
    if not isinstance(code, CodeType):
        return CompileResult(False, f"not a Python function: {type(func).__name__}", 0.0, None, "unsupported")
    hook = _hook()
    if hook is None:
        return CompileResult(False, "restrain's evaluator is not available on this Python", 0.0, None, "unsupported")
    hook.mark_queued(code)
    record = _state.records.get(id(code))
    if record is None or record.code is not code:
        record = _state.records[id(code)] = FunctionRecord(code)
    record.arg_types = tuple(arg_types or ())
    record = _compile_now(code, feedback=_feedback(code, record))
    if record.status == "compiled" and not hook.is_installed():
        # compiled entries run through the evaluator: install it, without
        # looking for hot code (that is what enable() adds)
        hook.install(None)
    hook.set_deopt(_on_deopt, DEOPT_LIMIT)
    return CompileResult(record.status == "compiled", record.reason, record.seconds,
                         record.source_path, record.status)


def wait(timeout: Optional[float] = None) -> bool:
    """Block until queued compiles are done; False if the timeout passed."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with _evaluator_paused(), _state.lock:    # threading's own functions must not turn hot here
        while _state.pending > 0:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            _state.idle.wait(remaining)
    return True


# -- reporting -------------------------------------------------------------------------

def stats() -> dict:
    records = list(_state.records.values())
    count = lambda status: sum(1 for r in records if r.status == status)  # noqa: E731
    return {
        "enabled": is_enabled(),
        "threshold": _state.config.threshold,
        "compiled": count("compiled"),
        "failed": count("failed"),
        "unsupported": count("unsupported"),
        "interpreted": count("interpreted"),
        "queued": count("queued"),
        "compile_seconds": round(sum(r.seconds for r in records), 4),
        "functions": [r.as_dict() for r in records],
    }


def format_stats() -> str:
    s = stats()
    lines = [
        f"restrain: {s['compiled']} compiled, {s['failed']} failed, {s['unsupported']} unsupported, "
        f"{s['interpreted']} left to the interpreter, {s['queued']} queued; compile time {s['compile_seconds']:.2f} s (threshold {s['threshold']})",
    ]
    for f in sorted(s["functions"], key=lambda f: -f["calls"]):
        detail = f" ({f['reason']})" if f["reason"] else ""
        cache = " [cache]" if f["from_cache"] else ""
        lines.append(f"  {f['status']:<11} {f['qualname']}  {f['location']}  "
                     f"calls={f['calls']} {f['compile_seconds']:.3f}s{cache}{detail}")
    return "\n".join(lines)


def explain(func, arg_types=None) -> str:
    """Every pipeline stage's product for `func`; with `arg_types` (Python
    types or the names "int", "float", "object") specialised for them, as
    if a call with such arguments had made it hot."""
    from .feedback import observe
    from .pipeline import explain_code
    code = func.__code__ if hasattr(func, "__code__") else func
    return explain_code(code, observe(code, tuple(arg_types)) if arg_types is not None else None)


HANDOVER_SECONDS = 0.3


def _hand_over_queue() -> None:
    """At exit: send every compile still queued to a fresh compile server,
    which runs the whole pipeline for them after this process has gone, so
    that the next run of the program finds them in the cache.  Bounded by
    HANDOVER_SECONDS; never waits for a compile."""
    deadline = time.monotonic() + HANDOVER_SECONDS
    with _state.lock:
        # the worker may have taken one and not yet sent it: send it again
        # (the compile server's per-key lock makes the second build a no-op)
        todo = list(_state.current or [])
        while True:
            try:
                todo += _state.queue.get_nowait()
            except queue.Empty:
                break
    if not todo:
        return          # nothing queued: not even an import of the compiler
    from .build import BuildJob, CompileServerClient, batch_request, prepare
    from .remote import companion_specs, front_end_spec
    options = _build_options()
    if options.cache_dir is None:
        return
    members = []
    for code, feedback in todo:
        try:
            members.append((code, feedback, front_end_spec(code, feedback)))
        except Exception:  # noqa: BLE001 - not marshallable, or a bug: nothing to hand over
            continue
    server = CompileServerClient()
    for start in range(0, len(members), MAX_BATCH):     # built together, as the worker would
        if time.monotonic() > deadline:
            break
        chunk = members[start:start + MAX_BATCH]
        try:
            found = _companions([(code, feedback) for code, feedback, _ in chunk]) \
                if "restrain.costmodel" in sys.modules else []        # nothing new imported at exit
            request = batch_request(chunk, options, companion_specs(found))
            if request is not None:
                server.submit(request)
                continue
            for code, feedback, spec in chunk:
                job = prepare(code, None, options, feedback, front_end=spec)
                if isinstance(job, BuildJob):
                    server.submit(job.request)
        except Exception:  # noqa: BLE001 - a bug: hand over the rest
            continue
    server.detach()


def _at_exit() -> None:
    with _state.lock:
        _state.shutting_down = True
    hook = _hook()
    if hook is not None:
        hook.pause_thread()
    try:
        _hand_over_queue()
    except Exception:  # noqa: BLE001
        logger.debug("restrain: could not hand over queued compiles", exc_info=True)
    _record_cache_use()
    # Import nothing new at exit: importing subprocess there loses the exit
    # status of an unhandled KeyboardInterrupt (CPython then exits with 1
    # instead of dying by SIGINT).  No build module, no compile server.
    # A thread of restrain's may be importing it right now: then it is in
    # sys.modules half initialised, and there is no server yet anyway.
    compile_server = getattr(sys.modules.get(f"{__package__}.build"), "compile_server", None)
    if compile_server is not None:
        try:
            compile_server().detach()   # it finishes its current compile, then exits
        except Exception:  # noqa: BLE001
            logger.debug("restrain: could not detach the compile server", exc_info=True)


def _record_cache_use() -> None:
    """Hits and misses of this run, for `python -m restrain cache info`;
    and the RESTRAIN_STATS report."""
    compiled = [r for r in _state.records.values() if r.status == "compiled"]
    if compiled and _state.config.cache:
        from . import cache
        cache_dir = _build_options().cache_dir
        if cache_dir is not None:
            hits = sum(1 for r in compiled if r.from_cache)
            cache.record_run(cache_dir, hits, len(compiled) - hits)
    if _state.config.stats and _state.records:     # also when nothing compiled: why not
        try:
            print(format_stats(), file=sys.stderr)
        except Exception:  # noqa: BLE001
            pass


def _register_atexit() -> None:
    if not _state.atexit_registered:
        _state.atexit_registered = True
        atexit.register(_at_exit)


def _before_fork() -> None:
    _import_guard.acquire()      # no import of restrain's own half done at fork


def _after_fork_in_parent() -> None:
    _import_guard.release()


def _after_fork_in_child() -> None:
    """restrain's threads do not survive fork, and queued work is the
    parent's: both threads start again (forked workers find their own hot
    loops) with fresh locks; build.py gives the child its own compile server."""
    global _import_guard
    _import_guard = threading.RLock()
    _state.worker_running = False
    _state.sampler_running = False
    _state.queue = queue.Queue()
    _state.late = []
    _state.pending = 0
    _state.lock = threading.RLock()
    _state.idle = threading.Condition(_state.lock)
    if _state.enabled:
        try:
            _start_threads()
        except Exception:  # noqa: BLE001
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)
