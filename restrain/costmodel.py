"""The cost model: whether compiled code would beat the interpreter on a code
object, judged from what 3.11's adaptive interpreter has specialised in it.

The runtime asks this of every function that turns hot, in the program's
own thread, so this module imports only `dis`: the front end (decode,
feedback and their dataclasses) is not needed to say "leave it to the
interpreter", which is the answer for most hot functions of most programs.

Version-specific: the specialised opcode names are 3.11's (opcode and dis
expose them as `_specialized_instructions` / `_all_opname`).
"""
from __future__ import annotations

import dis
import functools
from types import CodeType
from typing import NamedTuple

#: Jumps to an earlier instruction: every loop has one.
BACKWARD_JUMPS: frozenset[str] = frozenset({
    "JUMP_BACKWARD",
    "JUMP_BACKWARD_NO_INTERRUPT",
    "POP_JUMP_BACKWARD_IF_TRUE",
    "POP_JUMP_BACKWARD_IF_FALSE",
    "POP_JUMP_BACKWARD_IF_NONE",
    "POP_JUMP_BACKWARD_IF_NOT_NONE",
})
_BACKWARD_OPCODES = frozenset(dis.opmap[name] for name in BACKWARD_JUMPS)


@functools.lru_cache(maxsize=512)
def instructions(code: CodeType) -> tuple[dis.Instruction, ...]:
    """The de-quickened instructions of `code`, decoded once: the runtime
    asks the questions below of a function again and again (at each report,
    in every stack sample that finds it), and decoding was most of their
    cost, on the program's own time.  (Code objects hash and compare by
    content, which is all the decoding depends on.)"""
    return tuple(dis.get_instructions(code))


@functools.lru_cache(maxsize=512)
def loop_ranges(code: CodeType) -> tuple[tuple[int, int], ...]:
    """(start, end) byte offsets of each loop: a backward jump's target and
    the jump itself."""
    return tuple((inst.argval, inst.offset) for inst in instructions(code)
                 if inst.opname in BACKWARD_JUMPS and isinstance(inst.argval, int))


def in_loop(code: CodeType, offset: int) -> bool:
    """Whether the instruction at byte `offset` is inside a loop of `code`."""
    return any(start <= offset <= end for start, end in loop_ranges(code))


def calls_with_keywords(code: CodeType, offset: int) -> bool:
    """Whether the call at byte `offset` of `code` (a frame's f_lasti: its
    CALL) passes keyword arguments: a KW_NAMES before its PRECALL."""
    insts = instructions(code)
    for k, inst in enumerate(insts):
        if inst.offset == offset:
            return any(i.opname == "KW_NAMES" for i in insts[max(0, k - 3):k])
    return False


def has_loop(code: CodeType) -> bool:
    """Whether `code` has a loop: a cheap scan of the de-quickened bytes (an
    opcode every two bytes; inline caches are zero, CACHE), no decoding."""
    raw = code.co_code
    return any(raw[i] in _BACKWARD_OPCODES for i in range(0, len(raw), 2))


_RESUME = dis.opmap["RESUME"]
# generators, coroutines and async generators (inspect's CO_* values,
# without importing inspect): not compiled, whatever their loops
_RESUMABLE = 0x20 | 0x80 | 0x100 | 0x200


def interpreter_quickened(code: CodeType) -> bool:
    """Whether 3.11's interpreter has quickened `code` (its RESUME is
    RESUME_QUICK): only then do its instructions specialise.  It warms a
    code object up on calls and on unconditional backward jumps only, so a
    function called a few times whose loops are `while cond:` loops (3.11
    closes those with a conditional backward jump) runs its loops on the
    generic instructions for good: every attribute, method and global a
    dictionary lookup, every operator a generic call.  Compiled code's
    caches beat that whatever the mix of work (richards' scheduler loop,
    all method calls and attributes, 1.37x compiled alone)."""
    try:
        live = code._co_code_adaptive
    except AttributeError:      # not 3.11's layout
        return True
    resume = next((inst.offset for inst in instructions(code) if inst.opname == "RESUME"), None)
    return resume is None or resume >= len(live) or live[resume] != _RESUME


def runs_generic_loops(code: CodeType) -> bool:
    """A plain function (not a generator) with a loop that the interpreter
    has not quickened (interpreter_quickened)."""
    return not code.co_flags & _RESUMABLE and has_loop(code) and not interpreter_quickened(code)


def calls_itself(code: CodeType) -> bool:
    """Whether `code` loads its own name as a global: a recursive function
    (methods calling themselves through `self` are not recognised)."""
    return code.co_name in code.co_names and any(
        inst.opname == "LOAD_GLOBAL" and inst.argval == code.co_name
        for inst in instructions(code))


# Specialised instruction name -> the operand types it proves.
OPERAND_FEEDBACK = {
    "BINARY_OP_ADD_FLOAT": "float", "BINARY_OP_SUBTRACT_FLOAT": "float",
    "BINARY_OP_MULTIPLY_FLOAT": "float",
    "BINARY_OP_ADD_INT": "int", "BINARY_OP_SUBTRACT_INT": "int", "BINARY_OP_MULTIPLY_INT": "int",
    "COMPARE_OP_FLOAT_JUMP": "float", "COMPARE_OP_INT_JUMP": "int",
    "BINARY_SUBSCR_LIST_INT": "list", "BINARY_SUBSCR_TUPLE_INT": "tuple",
    "STORE_SUBSCR_LIST_INT": "list",
}


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


class WorkMix(NamedTuple):
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
        interpreted, spectral-norm's and the sieve's compile).  As much
        typed work as object work is not enough: entering compiled code
        costs more than the interpreter's inlined call (examples/particles.py's
        Grid.neighbours, 6 and 6, ran 1% slower compiled)."""
        minimum = 1 if sampled else MIN_TYPED_OPS_CALLED
        return (self.typed_ops > 3 * self.python_calls and self.typed_ops >= minimum
                and self.typed_ops > self.object_ops)

    def favours_generic_version(self) -> bool:
        """After a deoptimisation (the sites whose guesses failed counted as
        object work): whether the version without those guesses gains.  A
        tie is enough here, unlike in favours_compiling: the function is
        known to run long loops (it deoptimised DEOPT_LIMIT times), and an
        integer that outgrew 64 bits costs compiled code what it costs the
        interpreter's BINARY_OP_ADD_INT, while a range loop's step and the
        loads and stores around it still gain.  Measured (int_overflow's
        loops, interpreted against compiled, in one process): a range step
        and one big-integer operation 1.35-1.6x (fibonacci) and 1.3x
        (rising_product); a step and two 0.96x (power_sum)."""
        return (self.typed_ops > 3 * self.python_calls and self.typed_ops >= 1
                and self.typed_ops >= self.object_ops)


# Object work, as the specialised interpreter does it too: compiled, it is
# no faster (attribute caches, C calls) and sometimes slower.
OBJECT_WORK_PREFIXES = ("LOAD_ATTR", "STORE_ATTR", "LOAD_METHOD")
OBJECT_WORK = frozenset({"BINARY_SUBSCR", "BINARY_SUBSCR_DICT", "BINARY_SUBSCR_GETITEM",
                         "STORE_SUBSCR", "STORE_SUBSCR_DICT", "BINARY_OP", "COMPARE_OP",
                         "BUILD_TUPLE", "BUILD_LIST", "BINARY_OP_ADD_UNICODE"})


def _loads_a_called_global(inst) -> bool:
    """3.11's LOAD_GLOBAL pushes a NULL first (oparg bit 0) when the value
    is called."""
    return inst.opname == "LOAD_GLOBAL" and inst.arg is not None and bool(inst.arg & 1)


@functools.lru_cache(maxsize=512)
def called_global_names(code: CodeType) -> frozenset:
    """Names of globals `code` calls."""
    return frozenset(inst.argval for inst in instructions(code) if _loads_a_called_global(inst))


@functools.lru_cache(maxsize=512)
def called_method_names(code: CodeType) -> frozenset:
    """Names of the methods `code` calls (`obj.name(...)`: LOAD_METHOD)."""
    return frozenset(inst.argval for inst in instructions(code) if inst.opname == "LOAD_METHOD")


def looped_over_only(code: CodeType, i: int) -> bool:
    """Whether argument `i` is only the iterable of for loops (each load of
    it followed by GET_ITER, never stored): a C version may still take it
    (emit.PureEmitter.loop_only_param, for a list or a tuple)."""
    decoded = instructions(code)
    loads = 0
    for inst, following in zip(decoded, decoded[1:] + (None,)):
        if inst.opname in ("STORE_FAST", "DELETE_FAST") and inst.arg == i:
            return False
        if inst.opname == "LOAD_FAST" and inst.arg == i:
            if following is None or following.opname != "GET_ITER":
                return False
            loads += 1
    return loads > 0


# Methods of the built-in types that programs call most (`xs.append(x)`,
# `d.items()`, `s.join(parts)`), rarely names of a class's own methods: a
# frameless version (frameless.py) cannot call a C method, so one calling
# these would give up at that call every time; it is not built
BUILTIN_METHOD_NAMES = frozenset({
    "append", "extend", "insert", "pop", "popleft", "appendleft", "items", "keys", "values",
    "setdefault", "join", "split", "startswith", "endswith", "strip", "encode", "decode", "lower",
    "upper", "format", "sort",
})

# Functions of C a frameless version calls with exact int and float
# arguments (restrain_abi.h rs_fl_c_functions: math's and three builtins)
FRAMELESS_C_FUNCTIONS = frozenset({
    "sqrt", "floor", "ceil", "fabs", "exp", "log", "sin", "cos", "tan", "atan2", "hypot",
    "abs", "min", "max",
})

# Methods of exact lists a frameless version calls (restrain_abi.h
# rs_fl_list_append, rs_fl_list_pop: logged, undone on a give-up)
FRAMELESS_LIST_METHODS = frozenset({"append", "pop"})

# The instructions a frameless version (frameless.py) has fast paths for
# (with the operand checks of frameless_shaped below)
FRAMELESS_INSTRUCTIONS = frozenset({
    "RESUME", "NOP", "LOAD_FAST", "STORE_FAST", "LOAD_CONST", "LOAD_GLOBAL", "LOAD_ATTR", "STORE_ATTR",
    "LOAD_METHOD", "PRECALL", "CALL", "PUSH_NULL", "BINARY_SUBSCR", "COMPARE_OP", "IS_OP", "UNARY_NOT",
    "UNARY_NEGATIVE", "BINARY_OP", "GET_ITER", "FOR_ITER", "BUILD_TUPLE", "BUILD_LIST", "UNPACK_SEQUENCE",
    "POP_TOP", "COPY", "SWAP", "RETURN_VALUE", "JUMP_FORWARD", "JUMP_BACKWARD",
    "POP_JUMP_FORWARD_IF_TRUE", "POP_JUMP_FORWARD_IF_FALSE", "POP_JUMP_BACKWARD_IF_TRUE",
    "POP_JUMP_BACKWARD_IF_FALSE", "POP_JUMP_FORWARD_IF_NONE", "POP_JUMP_FORWARD_IF_NOT_NONE",
    "POP_JUMP_BACKWARD_IF_NONE", "POP_JUMP_BACKWARD_IF_NOT_NONE", "JUMP_IF_TRUE_OR_POP",
    "JUMP_IF_FALSE_OR_POP",
})

# BINARY_OP opargs a frameless version computes (restrain_abi.h rs_fl_binary)
_FRAMELESS_BINARY = frozenset(oparg for oparg, (name, _) in enumerate(dis._nb_ops)
                              if name.replace("INPLACE_", "") not in ("NB_MATRIX_MULTIPLY", "NB_POWER"))

_PLAIN_FUNCTION = 0x1 | 0x2     # CO_OPTIMIZED | CO_NEWLOCALS
_NOT_FRAMELESS_FLAGS = 0x4 | 0x8 | _RESUMABLE     # *args, **kwargs, generators and coroutines


@functools.lru_cache(maxsize=512)
def frameless_shaped(code: CodeType, python_functions: frozenset) -> bool:
    """Whether `code` would most likely get a frameless version that
    answers (frameless.py decides for good, from the IR): a plain function
    without handlers, cells or keyword-only arguments whose instructions
    all have frameless fast paths, and which calls (by global name or as a
    method) only names in `python_functions`, those of Python functions
    (`xs.append` would give up), of classes (their `__init__` must be in
    it too) and of the C functions in FRAMELESS_C_FUNCTIONS.  Read from the
    bytecode alone, for the cost model: compiled loops call such functions
    without a frame."""
    if (code.co_flags & _PLAIN_FUNCTION) != _PLAIN_FUNCTION or code.co_flags & _NOT_FRAMELESS_FLAGS \
            or code.co_kwonlyargcount or code.co_cellvars or code.co_freevars or code.co_exceptiontable:
        return False
    insts = instructions(code)
    for k, inst in enumerate(insts):
        if inst.opname not in FRAMELESS_INSTRUCTIONS:
            return False
        if inst.opname == "BINARY_OP" and inst.arg not in _FRAMELESS_BINARY:
            return False
        if inst.opname == "LOAD_METHOD" or _loads_a_called_global(inst):
            called = inst.argval
            if inst.opname == "LOAD_GLOBAL" and k + 1 < len(insts) and insts[k + 1].opname == "LOAD_ATTR":
                called = insts[k + 1].argval        # `math.sqrt(x)`: the module's function
            if called not in python_functions and called not in FRAMELESS_C_FUNCTIONS \
                    and not (inst.opname == "LOAD_METHOD" and called in FRAMELESS_LIST_METHODS):
                return False
    return True


# Methods the interpreter reaches through a type's slot (type_call ->
# slot_tp_init, BINARY_OP -> slot_nb_subtract): it calls them through C
# on a frame of their own, never inlined, so a frameless version saves
# that frame whoever calls (restrain_abi.h rs_fl_new_instance,
# rs_fl_binary_method call them frameless in turn)
SLOT_METHODS = frozenset({
    "__init__", "__add__", "__and__", "__floordiv__", "__lshift__", "__matmul__", "__mul__",
    "__mod__", "__or__", "__rshift__", "__sub__", "__truediv__", "__xor__",
})
# BINARY_OP opargs a frameless version sends to an instance's method
_SLOT_BINARY = frozenset(oparg for oparg, (name, _) in enumerate(dis._nb_ops)
                         if not name.startswith("NB_INPLACE") and name != "NB_POWER")


def _adaptive_binary_ops(code: CodeType) -> tuple[int, ...]:
    """The opargs of `code`'s BINARY_OPs that 3.11 tried to specialise and
    could not (BINARY_OP_ADAPTIVE: not two ints, floats or strs).  Not
    cached: it changes as the function warms up."""
    return tuple(inst.arg for inst in dis.get_instructions(code, adaptive=True)
                 if inst.opname == "BINARY_OP_ADAPTIVE")


def uses_slots(code: CodeType, classes: frozenset) -> bool:
    """Whether the interpreter runs `code` or what it calls through type
    slots, each on a frame of its own: `code` is such a method
    (SLOT_METHODS), calls one of `classes` (classes whose `__init__` is a
    Python function), or applies an operator to something other than ints,
    floats and strs (raytrace's `self * k` on a Vector: its `__mul__`).
    The adaptive forms are read as they are now: call it once the function
    has run enough to be quickened."""
    if code.co_name in SLOT_METHODS:
        return True
    if any(_loads_a_called_global(inst) and inst.argval in classes for inst in instructions(code)):
        return True
    return any(arg in _SLOT_BINARY for arg in _adaptive_binary_ops(code))


def is_object_work(name: str) -> bool:
    return (name.startswith(OBJECT_WORK_PREFIXES) or name in OBJECT_WORK
            or (name.startswith("PRECALL_") and name not in PYTHON_CALLS))


# BINARY_OP's opargs (NB_AND, NB_LSHIFT, NB_OR, NB_RSHIFT, NB_XOR, and their
# in-place forms, +13) that 3.11 never specialises: bit operations, on ints
# almost always; the type pass guesses ints for them (types.BIT_OPS)
BIT_OPARGS = frozenset(oparg for oparg, (name, _) in enumerate(dis._nb_ops)
                       if name.replace("INPLACE_", "") in ("NB_AND", "NB_LSHIFT", "NB_OR", "NB_RSHIFT", "NB_XOR"))
BIT_OP = "BINARY_OP (bits)"

# `/`, `//`, `%` and `**` (and their in-place forms), which 3.11 never
# specialises, whatever the operands: an unspecialised one says nothing
# about objects.  Compiled, it is C arithmetic where the type pass knows the
# operands and the same generic call as the interpreter's where it does
# not: neutral, neither typed work nor work on objects.
DIVISION_OPARGS = frozenset(oparg for oparg, (name, _) in enumerate(dis._nb_ops)
                            if name.replace("INPLACE_", "") in ("NB_TRUE_DIVIDE", "NB_FLOOR_DIVIDE",
                                                                 "NB_REMAINDER", "NB_POWER"))
DIVISION_OP = "BINARY_OP (division)"

# `xs.append(v)` on a list: compiled code skips the lookup and the call as
# the specialised interpreter does (restrain_abi.h, rs_append_descr), and
# makes the list no faster or slower than it: neutral too.
LIST_APPEND = "list.append"


def _site_name(opname: str, inst) -> str:
    if opname == "BINARY_OP" and inst.arg in BIT_OPARGS:
        return BIT_OP
    if opname == "BINARY_OP" and inst.arg in DIVISION_OPARGS:
        return DIVISION_OP
    if opname == "PRECALL_NO_KW_LIST_APPEND" or (opname == "LOAD_METHOD_NO_DICT" and inst.argval == "append"):
        return LIST_APPEND
    return opname


def work_mix(code: CodeType, loops_only: bool = True, generic_sites: frozenset = frozenset(),
             compiled_callees: frozenset = frozenset(), frameless_methods: frozenset = frozenset()) -> WorkMix:
    """`generic_sites`: instruction indices (offset // 2) where a compiled
    version's guesses failed: the next version does generic work there.
    `compiled_callees`: global names of functions that are compiled: a call
    of one is no Python call to lose but a gain, counted as typed work: from
    compiled code it is a direct C call of its entry (or of its C version),
    from the interpreter it goes through vectorcall and the evaluator.
    `frameless_methods`: names of methods whose every function of that name
    is frameless_shaped: from compiled code a call of one runs without a
    frame (frameless.py), where the interpreter pushes one; typed work too."""
    try:
        live = code._co_code_adaptive
    except AttributeError:      # not 3.11's layout
        return WorkMix(0, 0)
    # only instructions inside loops count (unless not loops_only): a site
    # run once per call (a len() before the loop) neither gains nor costs
    # much, and may not even be specialised yet
    counted = [inst for inst in instructions(code) if inst.offset < len(live)
               and (not loops_only or in_loop(code, inst.offset))]
    sites = [(inst.offset // 2, _site_name(dis._all_opname[live[inst.offset]], inst)) for inst in counted]
    names = [name for index, name in sites if index not in generic_sites]
    direct = sum(1 for inst in counted if (_loads_a_called_global(inst) and inst.argval in compiled_callees)
                 or (inst.opname == "LOAD_METHOD" and inst.argval in frameless_methods))
    # a FOR_ITER is a loop step: over a range a C loop, over a list an index
    return WorkMix(max(0, sum(name in PYTHON_CALLS for name in names) - direct),
                   sum(name in OPERAND_FEEDBACK or name in ("FOR_ITER", BIT_OP) for name in names) + direct,
                   sum(is_object_work(name) for name in names) + len(sites) - len(names))
