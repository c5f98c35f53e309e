"""The compile pipeline: a list of named stages run by one loop that times
each stage and names the one that failed (numba's pass manager, small).

    (cache) -> decode -> cfg -> ir -> structure -> emit -> build -> load

Every stage's product has a readable form; `explain` prints them all.
"""
from __future__ import annotations

import time
from types import CodeType
from typing import Any, Callable

from . import structure
from .build import BuildOptions, build
from .cfg import build_cfg
from .decode import decode, is_function_scope, is_generator_like
from .emit import emit_module
from .errors import BuildError, Unsupported
from .feedback import NO_FEEDBACK, Feedback
from .ir import build_ir
from .load import load, load_from_cache
from .outcome import CompileOutcome
from .types import infer_types


def title_of(code: CodeType) -> str:
    return f"{code.co_qualname} ({code.co_filename}:{code.co_firstlineno})"


def check_kind(code: CodeType) -> CodeType:
    if is_generator_like(code):
        raise Unsupported("generator or coroutine")
    if not is_function_scope(code):
        raise Unsupported("module or class body")
    return code


def front_end_stages() -> list[tuple[str, Callable[[dict], Any]]]:
    """Stages up to the generated source; each reads earlier products."""
    return [
        ("kind", lambda p: check_kind(p["code"])),
        ("decode", lambda p: decode(p["code"])),
        ("cfg", lambda p: build_cfg(p["decode"])),
        ("ir", lambda p: build_ir(p["cfg"])),
        ("types", lambda p: infer_types(p["ir"], p["feedback"], p.get("pure_callees"))),
        ("structure", lambda p: structure.build_shape(p["ir"].entry_labels(), p["ir"].successor_map())),
        ("emit", lambda p: emit_module(p["ir"], p["structure"], "rsjit", title_of(p["code"]), p["types"],
                                       p.get("prefix", ""), p.get("pure_callees"))),
    ]


def run_front_end(code: CodeType, timings: dict | None = None,
                  feedback: Feedback = NO_FEEDBACK) -> dict:
    products: dict = {"code": code, "feedback": feedback}
    for name, stage in front_end_stages():
        start = time.perf_counter()
        products[name] = stage(products)
        if timings is not None:
            timings[name] = time.perf_counter() - start
    return products


def compile_code(code: CodeType, options: BuildOptions, feedback: Feedback = NO_FEEDBACK) -> CompileOutcome:
    """Load the module from the cache, or run every stage. Never raises (an
    interruption such as KeyboardInterrupt aside): a problem becomes the
    outcome's reason, naming the stage where it happened."""
    start = time.perf_counter()
    timings: dict = {}
    products: dict = {"code": code, "feedback": feedback}
    stages = [("cache", lambda p: load_from_cache(p["code"], options, feedback))]
    stages += front_end_stages() + [
        ("build", lambda p: build(p["code"], p["emit"].source, options, feedback)),
        ("load", lambda p: load(p["build"])),
    ]
    name = "cache"
    try:
        for name, stage in stages:
            t = time.perf_counter()
            products[name] = stage(products)
            timings[name] = time.perf_counter() - t
            if name == "cache" and products["cache"] is not None:
                return products["cache"]._replace(stage_seconds=timings)
    except Unsupported as e:
        return CompileOutcome("unsupported", e.reason, time.perf_counter() - start, stage_seconds=timings)
    except BuildError as e:
        return CompileOutcome("failed", f"{name}: {e}", time.perf_counter() - start, stage_seconds=timings)
    except Exception as e:  # noqa: BLE001 - a bug in a stage must not reach the program
        return CompileOutcome("failed", f"{name}: {type(e).__name__}: {e}",
                              time.perf_counter() - start, stage_seconds=timings)
    built = products["build"]
    return CompileOutcome("compiled", None, time.perf_counter() - start, built.source_path,
                          built.from_cache, products["load"], timings)


def explain_code(code: CodeType, feedback: Feedback | None = None) -> str:
    """Every stage's product for one code object, as text.  Without
    feedback, what the interpreter has specialised so far is used (and no
    argument types)."""
    from .feedback import observe
    if feedback is None:
        feedback = observe(code)
    out = [f"=== restrain explain: {title_of(code)}", "\n--- feedback", feedback.dump()]
    products: dict = {"code": code, "feedback": feedback}
    for name, stage in front_end_stages():
        try:
            products[name] = stage(products)
        except Unsupported as e:
            out.append(f"\n--- {name}: unsupported: {e.reason}")
            return "\n".join(out)
        if name == "kind":
            continue
        out.append(f"\n--- {name}")
        out.append(_render(name, products[name]))
    return "\n".join(out)


def _render(name: str, product: Any) -> str:
    if name == "structure":
        return structure.dump(product)
    if name == "emit":
        return product.source
    return product.dump()
