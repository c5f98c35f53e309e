"""The background compile path: the whole pipeline runs in the compile server.

A compile on the compiler thread used to run the front end (decode ... emit)
in the program's own process: importing it costs some 25 ms once, and each
function's front end a few more, all of it holding the program's GIL.  Here
the program only looks up the cache, sends the code object (marshalled) and
its type feedback to the compile server, and loads the module the server
built.  The server runs the same stages (pipeline.front_end_stages) and
reports an unsupported construct or a failing stage the way the in-process
pipeline would, so the outcome is the same either way.

`restrain.compile()`, `--sync` and `explain` keep running the front end in
the calling process (pipeline.compile_code): they are asked for right there.
"""
from __future__ import annotations

import base64
import marshal
import time
from types import CodeType

from .build import BuildOptions, build, build_batch
from .errors import BuildError, FrontEndFailed, Unsupported
from .feedback import NO_FEEDBACK, Feedback
from .load import load, load_from_cache, load_together
from .outcome import CompileOutcome


def compile_in_server(code: CodeType, options: BuildOptions,
                      feedback: Feedback = NO_FEEDBACK) -> CompileOutcome | None:
    """As pipeline.compile_code, with the front end in the compile server.
    None when the code object cannot be marshalled (a constant marshal does
    not know): the caller runs the pipeline in-process instead."""
    start = time.perf_counter()
    timings: dict = {}
    cached = load_from_cache(code, options, feedback)
    timings["cache"] = time.perf_counter() - start
    if cached is not None:
        return cached._replace(stage_seconds=timings)
    try:
        spec = front_end_spec(code, feedback)
    except ValueError:
        return None

    t = time.perf_counter()
    try:
        module = build(code, None, options, feedback, front_end=spec)
    except (Unsupported, FrontEndFailed, BuildError) as e:
        return _outcome(e, None, time.perf_counter() - start, timings)
    timings["server"] = time.perf_counter() - t
    t = time.perf_counter()
    try:
        entry = load(module)
    except BuildError as e:
        entry = e
    except Exception as e:  # noqa: BLE001 - as pipeline.compile_code
        entry = BuildError(f"{type(e).__name__}: {e}")
    timings["load"] = time.perf_counter() - t
    return _outcome(module, entry, time.perf_counter() - start, timings)


def compile_batch_in_server(items: list[tuple[CodeType, Feedback]], options: BuildOptions,
                            companions: list[tuple[CodeType, Feedback]] = ()) -> list[CompileOutcome | None]:
    """As compile_in_server for several functions that became hot together:
    those not in the cache are built into one module (build.build_batch),
    with the `companions` the items may call the C versions of.  Per item,
    its outcome, or None as for compile_in_server."""
    start = time.perf_counter()
    outcomes: list[CompileOutcome | None] = [None] * len(items)
    todo = []       # (item index, code, feedback, spec)
    for i, (code, feedback) in enumerate(items):
        outcomes[i] = load_from_cache(code, options, feedback)
        if outcomes[i] is None:
            try:
                todo.append((i, code, feedback, front_end_spec(code, feedback)))
            except ValueError:
                pass
    if not todo:
        return outcomes
    built = build_batch([(code, feedback, spec) for _, code, feedback, spec in todo], options,
                        companion_specs(companions))
    server_seconds = time.perf_counter() - start
    entries = iter(load_together([b for b in built if not isinstance(b, Exception)]))
    for (i, *_), result in zip(todo, built):
        entry = None if isinstance(result, Exception) else next(entries)
        outcomes[i] = _outcome(result, entry, time.perf_counter() - start, {"server": server_seconds})
    return outcomes


def _outcome(built, entry, seconds: float, timings: dict) -> CompileOutcome:
    """The outcome of a build (BuiltModule, or the exception it raised) and
    of loading it (LoadedEntry, or the BuildError of loading), reported as
    pipeline.compile_code reports them."""
    if isinstance(built, Unsupported):
        return CompileOutcome("unsupported", built.reason, seconds, stage_seconds=timings)
    if isinstance(built, FrontEndFailed):
        return CompileOutcome("failed", str(built), seconds, stage_seconds=timings)
    if isinstance(built, Exception):
        return CompileOutcome("failed", f"build: {built}", seconds, stage_seconds=timings)
    if isinstance(entry, Exception):
        return CompileOutcome("failed", f"load: {entry}", seconds, stage_seconds=timings)
    return CompileOutcome("compiled", None, seconds, built.source_path, built.from_cache, entry, timings)


def front_end_spec(code: CodeType, feedback: Feedback) -> dict:
    """What the server needs to run the front end: JSON-able.  Raises
    ValueError for a code object marshal cannot write."""
    return {
        "code": base64.b64encode(marshal.dumps(code)).decode("ascii"),
        "arg_types": list(feedback.arg_types),
        "op_types": [list(pair) for pair in feedback.op_types],
        "no_speculate": sorted(feedback.no_speculate),
        "speculate": feedback.speculate,
        "arg_callees": [list(pair) for pair in feedback.arg_callees],
    }


def companion_specs(companions: list[tuple[CodeType, Feedback]]) -> list[dict]:
    """The front-end specs of the companions that can be sent: they are
    extras, so one that cannot (not marshallable, or a bug) is left out and
    costs the batch nothing."""
    specs = []
    for code, feedback in companions:
        try:
            specs.append(front_end_spec(code, feedback))
        except Exception:  # noqa: BLE001
            continue
    return specs


# -- server side ---------------------------------------------------------------

def front_end_module(spec: dict, prefix: str = "", pure_callees: dict | None = None):
    """Run the front end on a spec (in the compile server): the emitted
    module (emit.EmittedModule), its module-level names prefixed with
    `prefix`, calling the C versions `pure_callees` (emit.PureCallee, by
    global name) of the module's other functions.  Raises Unsupported, or
    FrontEndFailed naming the stage, as compile_code reports them."""
    from .pipeline import front_end_stages
    code = marshal.loads(base64.b64decode(spec["code"]))
    feedback = Feedback(tuple(spec["arg_types"]), tuple(tuple(p) for p in spec["op_types"]),
                        frozenset(spec["no_speculate"]), bool(spec["speculate"]),
                        arg_callees=tuple((int(i), str(n)) for i, n in spec.get("arg_callees", ())))
    products: dict = {"code": code, "feedback": feedback, "prefix": prefix, "pure_callees": pure_callees}
    for name, stage in front_end_stages():
        try:
            products[name] = stage(products)
        except Unsupported:
            raise
        except BuildError as e:
            raise FrontEndFailed(f"{name}: {e}") from None
        except Exception as e:  # noqa: BLE001 - a bug in a stage is a failed compile
            raise FrontEndFailed(f"{name}: {type(e).__name__}: {e}") from None
    return products["emit"]


def front_end_source(spec: dict) -> str:
    return front_end_module(spec).source
