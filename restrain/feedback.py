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
import hashlib
from dataclasses import dataclass, field
from types import CodeType

from .decode import BACKWARD_JUMPS, decode

# Argument types worth a C representation; anything else is "object".
TYPED_ARGS = {int: "int", float: "float"}

# Specialised instruction name -> the operand types it proves.
OPERAND_FEEDBACK = {
    "BINARY_OP_ADD_FLOAT": "float", "BINARY_OP_SUBTRACT_FLOAT": "float",
    "BINARY_OP_MULTIPLY_FLOAT": "float",
    "BINARY_OP_ADD_INT": "int", "BINARY_OP_SUBTRACT_INT": "int", "BINARY_OP_MULTIPLY_INT": "int",
    "COMPARE_OP_FLOAT_JUMP": "float", "COMPARE_OP_INT_JUMP": "int",
    "BINARY_SUBSCR_LIST_INT": "list", "BINARY_SUBSCR_TUPLE_INT": "tuple",
    "STORE_SUBSCR_LIST_INT": "list",
}


@dataclass(frozen=True)
class Feedback:
    arg_types: tuple[str, ...] = ()                 # per argument: "int", "float" or "object"
    op_types: tuple[tuple[int, str], ...] = ()      # (instruction index, OPERAND_FEEDBACK value)
    no_speculate: frozenset[int] = field(default_factory=frozenset)
    speculate: bool = True                          # False: a generic version, no guesses at all

    @functools.cached_property
    def _op_types(self) -> dict[int, str]:
        return dict(self.op_types)

    def op_type(self, index: int) -> str | None:
        if not self.speculate or index in self.no_speculate:
            return None
        return self._op_types.get(index)

    def arg_type(self, i: int) -> str:
        if not self.speculate or 0 in self.no_speculate or i >= len(self.arg_types):
            return "object"
        return self.arg_types[i]

    def key(self) -> str:
        """A stable digest for the cache key."""
        text = repr((self.arg_types, self.op_types, sorted(self.no_speculate), self.speculate))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def dump(self) -> str:
        lines = [f"arguments: {', '.join(self.arg_types) or '(none)'}"]
        lines += [f"  @{index}: {kind}" for index, kind in self.op_types]
        if self.no_speculate:
            lines.append(f"no guesses at: {sorted(self.no_speculate)}")
        if not self.speculate:
            lines.append("generic version (no guesses)")
        return "\n".join(lines)


NO_FEEDBACK = Feedback(speculate=False)


def observe(code: CodeType, arg_types: tuple = (), no_speculate=frozenset(),
            speculate: bool = True) -> Feedback:
    """Feedback for `code` now: `arg_types` are Python types (or names)."""
    names = tuple(t if isinstance(t, str) else TYPED_ARGS.get(t, "object") for t in arg_types)
    return Feedback(names, interpreter_specialisations(code), frozenset(no_speculate), speculate)


def interpreter_specialisations(code: CodeType) -> tuple[tuple[int, str], ...]:
    try:
        live = code._co_code_adaptive
    except AttributeError:      # not 3.11's layout
        return ()
    found = []
    for inst in decode(code).instructions:
        if inst.offset < len(live):
            name = dis._all_opname[live[inst.offset]]
            if name in OPERAND_FEEDBACK:
                found.append((inst.index, OPERAND_FEEDBACK[name]))
    return tuple(found)


# Calls that may be calls of Python functions and methods: 3.11 specialises
# every call's PRECALL (CALL_PY_* only appear with no evaluator installed);
# one still adaptive has not settled (several callees, a Python class, too
# few runs yet) and counts as one too.  From interpreted code the
# interpreter inlines such calls; from compiled code each one goes through C
# (vectorcall, a new _PyEval_EvalFrameDefault), which costs more.
PYTHON_CALLS = frozenset({"PRECALL_PYFUNC", "PRECALL_BOUND_METHOD", "PRECALL_ADAPTIVE", "PRECALL"})


# A function called often (hot by its call count) whose loops do less typed
# work than this (random's `while r >= n: r = getrandbits(k)`, a sum over
# *args) loses more entering compiled code than the few iterations gain; one
# found running by the sampler has long loops, and one typed step pays.
MIN_TYPED_OPS_CALLED = 3


@dataclass(frozen=True)
class WorkMix:
    """What the interpreter has seen a code object's instructions do."""
    python_calls: int     # call sites specialised for Python functions
    typed_ops: int        # sites specialised for ints, floats, list/tuple items; loop steps
    object_ops: int = 0   # attribute and method lookups, calls of C functions, generic operators

    def favours_compiling(self, sampled: bool = False) -> bool:
        """Typed work gains when compiled (~20-30 instructions saved per
        operation), a call of a Python function loses (~150 more than the
        interpreter's inlined call), and work on objects (an attribute,
        `d.get(k)`, `x + y` of strings) costs compiled code about what it
        costs the specialised interpreter: a loop of mostly calls or mostly
        object work is better left to the interpreter.  Static sites, a
        rough guide: bench/run.py is the judge (calls, raytrace and
        richards-style loops and examples/particles.py's grid lookups stay
        interpreted, spectral-norm's and the sieve's compile)."""
        minimum = 1 if sampled else MIN_TYPED_OPS_CALLED
        return (self.typed_ops > 3 * self.python_calls and self.typed_ops >= minimum
                and self.typed_ops >= self.object_ops)


# Object work, as the specialised interpreter does it too: compiled, it is
# no faster (attribute caches, C calls) and sometimes slower.
OBJECT_WORK_PREFIXES = ("LOAD_ATTR", "STORE_ATTR", "LOAD_METHOD")
OBJECT_WORK = frozenset({"BINARY_SUBSCR", "BINARY_SUBSCR_DICT", "BINARY_SUBSCR_GETITEM",
                         "STORE_SUBSCR", "STORE_SUBSCR_DICT", "BINARY_OP", "COMPARE_OP",
                         "BUILD_TUPLE", "BUILD_LIST", "BINARY_OP_ADD_UNICODE"})


def is_object_work(name: str) -> bool:
    return (name.startswith(OBJECT_WORK_PREFIXES) or name in OBJECT_WORK
            or (name.startswith("PRECALL_") and name not in PYTHON_CALLS))


def work_mix(code: CodeType, loops_only: bool = True) -> WorkMix:
    try:
        live = code._co_code_adaptive
    except AttributeError:      # not 3.11's layout
        return WorkMix(0, 0)
    # only instructions inside loops count (unless not loops_only): a site
    # run once per call (a len() before the loop) neither gains nor costs
    # much, and may not even be specialised yet
    instructions = list(dis.get_instructions(code))
    loops = [(inst.argval, inst.offset) for inst in instructions
             if inst.opname in BACKWARD_JUMPS and isinstance(inst.argval, int)]
    names = [dis._all_opname[live[inst.offset]] for inst in instructions
             if inst.offset < len(live)
             and (not loops_only or any(start <= inst.offset <= end for start, end in loops))]
    # a FOR_ITER is a loop step: over a range a C loop, over a list an index
    return WorkMix(sum(name in PYTHON_CALLS for name in names),
                   sum(name in OPERAND_FEEDBACK or name == "FOR_ITER" for name in names),
                   sum(is_object_work(name) for name in names))

