"""Type feedback: what a code object has seen, gathered before compiling.

Two sources, both free at run time:

* the argument types of a call, sampled by the evaluator (csrc/hook.c) on
  the call that made the function hot;
* the interpreter's own specialisations.  3.11's adaptive interpreter
  rewrites an instruction it has run a few times into a specialised form
  (BINARY_OP_ADD_FLOAT, COMPARE_OP_INT_JUMP, BINARY_SUBSCR_LIST_INT, ...)
  in the code object's live bytecode (`_co_code_adaptive`).  Each of those
  names says which operand types that instruction has met; a guard checks
  the guess in compiled code.

`no_speculate` lists instruction indices where a guess failed in an
earlier compiled version (a deoptimisation); they get generic code.

The feedback is part of the cache key: it decides the generated code.
Version-specific: the specialised opcode names are 3.11's (opcode and dis
expose them as `_specialized_instructions` / `_all_opname`).
"""
from __future__ import annotations

import dis
import functools
from types import CodeType
from typing import NamedTuple

from .cache import new_digest
from .costmodel import OPERAND_FEEDBACK, instructions

# Argument types worth a C representation; anything else is "object".
TYPED_ARGS = {int: "int", float: "float"}


class Feedback(NamedTuple):
    """(A NamedTuple, not a dataclass: a warm start observes feedback to
    find its cache entry, and dataclasses imports inspect, 4-5 ms.)"""
    arg_types: tuple[str, ...] = ()                 # per argument: "int", "float" or "object"
    op_types: tuple[tuple[int, str], ...] = ()      # (instruction index, OPERAND_FEEDBACK value)
    no_speculate: frozenset[int] = frozenset()
    speculate: bool = True                          # False: a generic version, no guesses at all
    # global names of the compiled functions it calls, whose C versions its
    # module may carry (runtime._companions): a caller compiled before its
    # callee is compiled again once the callee is (runtime._relink_callers),
    # and the two versions must not share a cache entry
    companions: tuple[str, ...] = ()
    # (argument index, name) of a Python function passed as that argument
    # whose C version its module may carry too (runtime._feedback; the
    # evaluator samples a function argument as its code object, hook.c
    # argument_type): integrate(f, ...) calling f calls it directly
    # (emit.ModuleEmitter.passed_callee), behind the same guard as a global
    arg_callees: tuple[tuple[int, str], ...] = ()

    def op_type(self, index: int) -> str | None:
        if not self.speculate or index in self.no_speculate:
            return None
        return _op_table(self.op_types).get(index)

    def arg_type(self, i: int) -> str:
        if not self.speculate or 0 in self.no_speculate or i >= len(self.arg_types):
            return "object"
        return self.arg_types[i]

    def key(self) -> str:
        """A stable digest for the cache key."""
        text = repr((self.arg_types, self.op_types, sorted(self.no_speculate), self.speculate, self.companions)
                    + ((self.arg_callees,) if self.arg_callees else ()))
        return new_digest(text.encode()).hexdigest()[:16]

    def dump(self) -> str:
        lines = [f"arguments: {', '.join(self.arg_types) or '(none)'}"]
        lines += [f"  @{index}: {kind}" for index, kind in self.op_types]
        if self.no_speculate:
            lines.append(f"no guesses at: {sorted(self.no_speculate)}")
        if not self.speculate:
            lines.append("generic version (no guesses)")
        if self.companions:
            lines.append(f"may call the C versions of: {', '.join(self.companions)}")
        for i, name in self.arg_callees:
            lines.append(f"argument {i} was the function {name}")
        return "\n".join(lines)


NO_FEEDBACK = Feedback(speculate=False)


@functools.lru_cache(maxsize=64)
def _op_table(op_types: tuple) -> dict[int, str]:
    return dict(op_types)


def arg_type_name(sampled) -> str:
    """The name of a sampled argument type: "int", "float" or "object" (a
    name given as such, or a function argument's code object, hook.c)."""
    return sampled if isinstance(sampled, str) else TYPED_ARGS.get(sampled, "object")


def observe(code: CodeType, arg_types: tuple = (), no_speculate=frozenset(),
            speculate: bool = True, companions=(), arg_callees=()) -> Feedback:
    """Feedback for `code` now: `arg_types` are Python types (or names)."""
    names = tuple(arg_type_name(t) for t in arg_types)
    return Feedback(names, interpreter_specialisations(code), frozenset(no_speculate), speculate,
                    tuple(sorted(companions)), tuple(sorted(arg_callees)))


def interpreter_specialisations(code: CodeType) -> tuple[tuple[int, str], ...]:
    try:
        live = code._co_code_adaptive
    except AttributeError:      # not 3.11's layout
        return ()
    found = []
    # dis, not restrain.decode: a warm start observes feedback to find its
    # cache entry, and must not import the compiler's front end for it
    for inst in instructions(code):
        if inst.opname != "CACHE" and inst.offset < len(live):
            name = dis._all_opname[live[inst.offset]]
            if name in OPERAND_FEEDBACK:
                found.append((inst.offset // 2, OPERAND_FEEDBACK[name]))
    return tuple(found)
