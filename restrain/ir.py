"""Stack to registers: abstract interpretation of the value stack.

Each basic block is interpreted once over a symbolic stack of value names.
Every instruction becomes zero or more `Op`s that name the values they use
and produce, so the emitter never sees a stack.  Within a block values are
SSA temporaries (`v12`).  Across block boundaries the stack travels in
variables named by depth (`s0`, `s1`, ...): a block starts with its stack in
`s0..s{d-1}` and each edge out of a block says which values go into which
slot (`Exit.edges`).  These per-depth variables are the phis of the IR.

Why per-depth phis: an exception handler must find the values below its
depth where it expects them, wherever in the protected range the exception
was raised.  CPython's compiler never pops below a protected range's base
depth inside that range, and blocks are split at range boundaries (cfg.py),
so the slots a handler needs are always in their `s` variables.

Every Op keeps its bytecode offset and instruction index, and the layout of
the value stack before it (`stack_before`), so that later stages can hand a
frame back to the interpreter at that exact instruction.

Handlers are `op_<OPNAME>` methods, in the style of numba's byteflow.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .cfg import CFG, Block, build_cfg
from .decode import Instruction, decode
from .errors import Unsupported


@dataclass(frozen=True)
class Op:
    """One operation: `results = kind(args; params)`."""
    kind: str
    results: tuple[str, ...]
    args: tuple[str, ...]
    params: tuple = ()
    offset: int = 0
    index: int = 0
    line: Optional[int] = None
    stack_before: tuple[str, ...] = ()   # the value stack when its instruction starts

    def __str__(self) -> str:
        lhs = ", ".join(self.results)
        rhs = f"{self.kind}({', '.join(self.args)}"
        if self.params:
            rhs += ("; " if self.args else "") + ", ".join(repr(p) for p in self.params)
        rhs += ")"
        return f"{lhs} = {rhs}" if lhs else rhs


@dataclass(frozen=True)
class Exit:
    """How a block ends.

    kind:
      "goto"    -> edges[0]
      "branch"  -> test `value` with `test` ("truth", "none", "null");
                   edges[0] when true, edges[1] when false
      "return"  -> return `value`
      "stop"    -> the last op raised; no successor
    edges: (target label, values that form the target's stack bottom first)
    polled_edge: the edge (0 or 1) of a branch that is a back-edge the
      interpreter polls its eval breaker on (POP_JUMP_BACKWARD_IF_*), if any
    """
    kind: str
    value: Optional[str] = None
    test: Optional[str] = None
    edges: tuple[tuple[int, tuple[str, ...]], ...] = ()
    index: int = 0       # instruction index of the exiting instruction
    line: Optional[int] = None
    polled_edge: Optional[int] = None

    def __str__(self) -> str:
        targets = "; ".join(f"-> {t} [{', '.join(vals)}]" for t, vals in self.edges)
        if self.kind == "branch":
            polled = "" if self.polled_edge is None else f" (polls on edge {self.polled_edge})"
            return f"branch {self.test}({self.value}) {targets}{polled}"
        if self.kind == "return":
            return f"return {self.value}"
        return f"{self.kind} {targets}".rstrip()


@dataclass(frozen=True)
class IRBlock:
    label: int
    stack_in: tuple[str, ...]
    ops: tuple[Op, ...]
    exit: Exit
    handler_label: Optional[int]
    is_handler_entry: bool


@dataclass(frozen=True)
class IRFunction:
    cfg: CFG
    blocks: dict[int, IRBlock]
    entry: int
    temps: tuple[str, ...]
    max_depth: int

    def successor_map(self) -> dict[int, tuple[int, ...]]:
        return {label: tuple(t for t, _ in b.exit.edges) for label, b in self.blocks.items()}

    def handler_table(self):
        """Exception-table entries whose handler is reachable."""
        return [e for e in self.cfg.decoded.exception_table if e.target in self.blocks]

    def entry_labels(self) -> list[int]:
        """Where control can enter: the function entry, then every handler."""
        handlers = sorted({e.target for e in self.handler_table()})
        return [self.entry] + [h for h in handlers if h != self.entry]

    def dump(self) -> str:
        lines = []
        for block in self.blocks.values():
            head = f"block {block.label}  stack_in=[{', '.join(block.stack_in)}]"
            if block.handler_label is not None:
                head += f"  except->{block.handler_label}"
            if block.is_handler_entry:
                head += "  (handler entry)"
            lines.append(head)
            for op in block.ops:
                lines.append(f"    {op.offset:>5}  {op}")
            lines.append(f"           {block.exit}")
        return "\n".join(lines)


def phi_name(depth: int) -> str:
    return f"s{depth}"


# BINARY_OP's oparg numbering is the operator; COMPARE_OP's is Py_LT..Py_GE.
UNARY_OPS = {"UNARY_NEGATIVE": 0, "UNARY_POSITIVE": 1, "UNARY_INVERT": 2}

BRANCH_TESTS = {
    # opname: (test, jump when test is ...)
    "POP_JUMP_FORWARD_IF_TRUE": ("truth", True),
    "POP_JUMP_BACKWARD_IF_TRUE": ("truth", True),
    "POP_JUMP_FORWARD_IF_FALSE": ("truth", False),
    "POP_JUMP_BACKWARD_IF_FALSE": ("truth", False),
    "POP_JUMP_FORWARD_IF_NONE": ("none", True),
    "POP_JUMP_BACKWARD_IF_NONE": ("none", True),
    "POP_JUMP_FORWARD_IF_NOT_NONE": ("none", False),
    "POP_JUMP_BACKWARD_IF_NOT_NONE": ("none", False),
}

NO_OPS = {"NOP", "PRECALL", "EXTENDED_ARG", "CACHE"}


@dataclass
class _BlockBuilder:
    """Mutable state while one block is interpreted."""
    block: Block
    stack: list[str]
    ops: list[Op] = field(default_factory=list)
    exit: Optional[Exit] = None
    kwnames: Optional[int] = None


class IRBuilder:
    def __init__(self, cfg: CFG):
        self.cfg = cfg
        self.counter = 0
        self.temps: list[str] = []
        self.max_depth = 0

    # -- helpers -----------------------------------------------------------
    def new(self) -> str:
        self.counter += 1
        name = f"v{self.counter}"
        self.temps.append(name)
        return name

    def emit(self, kind: str, nresults: int, args: tuple[str, ...], *params) -> tuple[str, ...]:
        results = tuple(self.new() for _ in range(nresults))
        b = self.cur
        self.max_depth = max(self.max_depth, len(b.stack))
        b.ops.append(Op(kind, results, tuple(args), tuple(params), self.inst.offset,
                        self.inst.index, self.inst.line, self.stack_at_instruction))
        return results

    def push(self, *names: str) -> None:
        self.cur.stack.extend(names)

    def pop(self, n: int = 1) -> list[str]:
        if n == 0:
            return []
        if len(self.cur.stack) < n:
            raise Unsupported(f"stack underflow at offset {self.inst.offset}")
        vals = self.cur.stack[-n:]
        del self.cur.stack[-n:]
        return vals

    def pop1(self) -> str:
        return self.pop(1)[0]

    def peek(self, i: int) -> str:
        """PEEK(i) of ceval.c: 1 is the top of the stack."""
        return self.cur.stack[-i]

    def simple(self, kind: str, npop: int, *params) -> None:
        args = self.pop(npop)
        (r,) = self.emit(kind, 1, tuple(args), *params)
        self.push(r)

    def effect(self, kind: str, npop: int, *params) -> None:
        """An op with no result."""
        args = self.pop(npop)
        self.emit(kind, 0, tuple(args), *params)

    # -- driver -------------------------------------------------------------
    def build(self) -> IRFunction:
        blocks = {}
        for label, block in self.cfg.blocks.items():
            blocks[label] = self.build_block(block)
        return IRFunction(self.cfg, blocks, self.cfg.entry, tuple(self.temps),
                          max(self.max_depth, max((b.depth_in for b in self.cfg.blocks.values()), default=0)) + 2)

    def build_block(self, block: Block) -> IRBlock:
        stack_in = tuple(phi_name(i) for i in range(block.depth_in))
        self.cur = _BlockBuilder(block, list(stack_in))
        for inst in block.instructions:
            self.inst = inst
            # the interpreter's value stack when this instruction starts:
            # what a deoptimisation at it writes back into the frame
            self.stack_at_instruction = tuple(self.cur.stack)
            if self.cur.exit is not None:
                raise Unsupported(f"instruction after block end at offset {inst.offset}")
            self.dispatch(inst)
            self.spill_protected(block)
            self.max_depth = max(self.max_depth, len(self.cur.stack))
        if self.cur.exit is None:
            (succ,) = block.successors
            last = block.instructions[-1]
            self.cur.exit = Exit("goto", edges=((succ, tuple(self.cur.stack)),),
                                 index=last.index, line=last.line)
        handler = block.handler.target if block.handler is not None else None
        return IRBlock(block.label, stack_in, tuple(self.cur.ops), self.cur.exit,
                       handler, block.is_handler_entry)

    def spill_protected(self, block: Block) -> None:
        """Keep the slots an exception handler needs in their s variables.

        A handler covering this block expects slots 0..depth-1 in s0..; an
        instruction inside the range may still replace one of them
        (PUSH_EXC_INFO swaps the exception for the previous one), so the new
        values are copied into place at once."""
        if block.handler is None or self.cur.exit is not None:
            return
        stack = self.cur.stack
        depth = min(block.handler.depth, len(stack))
        overwritten = {phi_name(k) for k in range(depth) if stack[k] != phi_name(k)}
        if not overwritten:
            return
        # values still needed from an s variable about to be overwritten
        # (PUSH_EXC_INFO leaves the exception, s0, on top) move to a temporary
        saved: dict[str, str] = {}
        for i, name in enumerate(stack):
            if name in overwritten and not (i < depth and name == phi_name(i)):
                if name not in saved:
                    (saved[name],) = self.emit("copy", 1, (name,))
                stack[i] = saved[name]
        self.emit("spill", 0, tuple(stack[:depth]))
        self.cur.stack[:depth] = [phi_name(k) for k in range(depth)]

    def dispatch(self, inst: Instruction) -> None:
        if inst.opname in NO_OPS:
            return
        handler = getattr(self, f"op_{inst.opname}", None)
        if handler is None:
            raise Unsupported(f"opcode {inst.opname}")
        handler(inst)

    def end(self, kind: str, value: Optional[str] = None, test: Optional[str] = None,
            edges: tuple = (), polled_edge: Optional[int] = None) -> None:
        self.cur.exit = Exit(kind, value, test, edges, self.inst.index, self.inst.line, polled_edge)

    def successors(self) -> tuple[int, ...]:
        return self.cur.block.successors

    # -- stack manipulation ---------------------------------------------------
    def op_POP_TOP(self, inst):
        # An op of its own so the emitter can drop the reference here, as
        # the interpreter does (a generator closes, a file is closed, ...).
        self.effect("pop", 1)
    def op_PUSH_NULL(self, inst): self.simple("null", 0)
    def op_COPY(self, inst): self.push(self.peek(inst.arg))

    def op_SWAP(self, inst):
        s = self.cur.stack
        s[-1], s[-inst.arg] = s[-inst.arg], s[-1]

    # -- constants, locals, globals, cells -----------------------------------
    def op_LOAD_CONST(self, inst): self.simple("const", 0, inst.arg)
    def op_LOAD_FAST(self, inst): self.simple("load_fast", 0, inst.arg)
    def op_STORE_FAST(self, inst): self.effect("store_fast", 1, inst.arg)
    def op_DELETE_FAST(self, inst): self.effect("delete_fast", 0, inst.arg)

    def op_LOAD_GLOBAL(self, inst):
        if inst.arg & 1:
            self.simple("null", 0)
        self.simple("load_global", 0, inst.arg >> 1)

    def op_STORE_GLOBAL(self, inst): self.effect("store_global", 1, inst.arg)
    def op_DELETE_GLOBAL(self, inst): self.effect("delete_global", 0, inst.arg)
    def op_MAKE_CELL(self, inst): self.effect("make_cell", 0, inst.arg)
    def op_COPY_FREE_VARS(self, inst): self.effect("copy_free_vars", 0, inst.arg)
    def op_LOAD_CLOSURE(self, inst): self.simple("load_closure", 0, inst.arg)
    def op_LOAD_DEREF(self, inst): self.simple("load_deref", 0, inst.arg)
    def op_STORE_DEREF(self, inst): self.effect("store_deref", 1, inst.arg)
    def op_DELETE_DEREF(self, inst): self.effect("delete_deref", 0, inst.arg)

    # -- attributes ----------------------------------------------------------
    def op_LOAD_ATTR(self, inst): self.simple("load_attr", 1, inst.arg)

    def op_STORE_ATTR(self, inst):
        owner = self.pop1()
        value = self.pop1()
        self.emit("store_attr", 0, (owner, value), inst.arg)

    def op_DELETE_ATTR(self, inst): self.effect("delete_attr", 1, inst.arg)

    def op_LOAD_METHOD(self, inst):
        owner = self.pop1()
        first, second = self.emit("load_method", 2, (owner,), inst.arg)
        self.push(first, second)

    # -- calls ----------------------------------------------------------------
    def op_KW_NAMES(self, inst): self.cur.kwnames = inst.arg

    def op_CALL(self, inst):
        args = self.pop(inst.arg)
        second = self.pop1()
        first = self.pop1()
        (r,) = self.emit("call", 1, (first, second, *args), self.cur.kwnames)
        self.cur.kwnames = None
        self.push(r)

    def op_CALL_FUNCTION_EX(self, inst):
        kwargs = self.pop1() if inst.arg & 1 else None
        args = self.pop1()
        func = self.pop1()
        self.pop1()  # the NULL below the callable
        operands = (func, args) + ((kwargs,) if kwargs else ())
        (r,) = self.emit("call_ex", 1, operands)
        self.push(r)

    MAKE_FUNCTION_PARTS = ((0x08, "closure"), (0x04, "annotations"), (0x02, "kwdefaults"), (0x01, "defaults"))

    def op_MAKE_FUNCTION(self, inst):
        """args: the code, then the parts present in MAKE_FUNCTION_PARTS
        order; params: which parts are present."""
        code = self.pop1()
        present = tuple(bool(inst.arg & bit) for bit, _ in self.MAKE_FUNCTION_PARTS)
        parts = tuple(self.pop1() for p in present if p)
        (r,) = self.emit("make_function", 1, (code, *parts), *present)
        self.push(r)

    # -- operators -------------------------------------------------------------
    def op_BINARY_OP(self, inst): self.simple("binary_op", 2, inst.arg)
    def op_UNARY_NEGATIVE(self, inst): self.simple("unary", 1, 0)
    def op_UNARY_POSITIVE(self, inst): self.simple("unary", 1, 1)
    def op_UNARY_INVERT(self, inst): self.simple("unary", 1, 2)
    def op_UNARY_NOT(self, inst): self.simple("not", 1)
    def op_COMPARE_OP(self, inst): self.simple("compare", 2, inst.arg)
    def op_IS_OP(self, inst): self.simple("is", 2, inst.arg)
    def op_CONTAINS_OP(self, inst): self.simple("contains", 2, inst.arg)

    # -- subscripts ------------------------------------------------------------
    def op_BINARY_SUBSCR(self, inst): self.simple("getitem", 2)

    def op_STORE_SUBSCR(self, inst):
        sub = self.pop1()
        container = self.pop1()
        value = self.pop1()
        self.emit("setitem", 0, (container, sub, value))

    def op_DELETE_SUBSCR(self, inst): self.effect("delitem", 2)
    def op_BUILD_SLICE(self, inst): self.simple("build_slice", inst.arg)

    # -- displays -------------------------------------------------------------
    def op_BUILD_TUPLE(self, inst): self.simple("build_tuple", inst.arg)
    def op_BUILD_LIST(self, inst): self.simple("build_list", inst.arg)
    def op_BUILD_SET(self, inst): self.simple("build_set", inst.arg)
    def op_BUILD_MAP(self, inst): self.simple("build_map", 2 * inst.arg)
    def op_BUILD_CONST_KEY_MAP(self, inst): self.simple("build_const_key_map", inst.arg + 1)
    def op_BUILD_STRING(self, inst): self.simple("build_string", inst.arg)
    def op_LIST_TO_TUPLE(self, inst): self.simple("list_to_tuple", 1)

    def _into(self, kind: str, inst, nvalues: int = 1) -> None:
        values = self.pop(nvalues)
        target = self.peek(inst.arg)
        self.emit(kind, 0, (target, *values))

    def op_LIST_APPEND(self, inst): self._into("list_append", inst)
    def op_SET_ADD(self, inst): self._into("set_add", inst)
    def op_MAP_ADD(self, inst): self._into("map_add", inst, 2)
    def op_LIST_EXTEND(self, inst): self._into("list_extend", inst)
    def op_SET_UPDATE(self, inst): self._into("set_update", inst)
    def op_DICT_UPDATE(self, inst): self._into("dict_update", inst)

    def op_DICT_MERGE(self, inst):
        update = self.pop1()
        target = self.peek(inst.arg)
        func = self.peek(inst.arg + 2)
        self.emit("dict_merge", 0, (func, target, update))

    def op_UNPACK_SEQUENCE(self, inst):
        value = self.pop1()
        results = self.emit("unpack_sequence", inst.arg, (value,), inst.arg)
        self.push(*reversed(results))

    def op_UNPACK_EX(self, inst):
        before, after = inst.arg & 0xFF, inst.arg >> 8
        value = self.pop1()
        results = self.emit("unpack_ex", before + 1 + after, (value,), before, after)
        self.push(*reversed(results))

    def op_FORMAT_VALUE(self, inst):
        spec = self.pop1() if inst.arg & 0x04 else None
        value = self.pop1()
        args = (value, spec) if spec else (value,)
        (r,) = self.emit("format", 1, args, inst.arg & 0x03)
        self.push(r)

    # -- iteration and control flow ------------------------------------------------
    def op_GET_ITER(self, inst): self.simple("get_iter", 1)

    def op_FOR_ITER(self, inst):
        fallthrough, target = self.successors()
        it = self.peek(1)
        (item,) = self.emit("for_iter", 1, (it,))
        below = tuple(self.cur.stack[:-1])
        body = tuple(self.cur.stack) + (item,)
        # true = exhausted
        self.end("branch", item, "null", ((target, below), (fallthrough, body)))

    def _jump(self) -> None:
        (target,) = self.successors()
        self.end("goto", edges=((target, tuple(self.cur.stack)),))

    def op_JUMP_FORWARD(self, inst): self._jump()

    # The interpreter polls its eval breaker (signals, other threads waiting
    # for the GIL, ...) on back-edges (JUMP_BACKWARD, and POP_JUMP_BACKWARD_IF_*
    # in _pop_jump) and at RESUME: compiled code polls at the same places.
    # Without the RESUME check, compiled recursion with no loop in it (fib)
    # would never look.
    def op_JUMP_BACKWARD(self, inst):
        self.emit("check_signals", 0, ())
        self._jump()

    def op_RESUME(self, inst):
        if inst.arg < 2:      # ceval.c: function start and after a yield, not after yield from/await
            self.emit("check_signals", 0, ())

    def op_JUMP_BACKWARD_NO_INTERRUPT(self, inst): self._jump()

    def _pop_jump(self, inst):
        test, jump_when = BRANCH_TESTS[inst.opname]
        value = self.pop1()
        fallthrough, target = self.successors()
        stack = tuple(self.cur.stack)
        first, second = (target, fallthrough) if jump_when else (fallthrough, target)
        # 3.11's backward conditional jumps poll like JUMP_BACKWARD, on the
        # taken edge only (`while cond:` loops end in one)
        polled = (0 if jump_when else 1) if "BACKWARD" in inst.opname else None
        self.end("branch", value, test, ((first, stack), (second, stack)), polled)

    op_POP_JUMP_FORWARD_IF_TRUE = op_POP_JUMP_BACKWARD_IF_TRUE = _pop_jump
    op_POP_JUMP_FORWARD_IF_FALSE = op_POP_JUMP_BACKWARD_IF_FALSE = _pop_jump
    op_POP_JUMP_FORWARD_IF_NONE = op_POP_JUMP_BACKWARD_IF_NONE = _pop_jump
    op_POP_JUMP_FORWARD_IF_NOT_NONE = op_POP_JUMP_BACKWARD_IF_NOT_NONE = _pop_jump

    def _jump_or_pop(self, inst, jump_when: bool):
        value = self.peek(1)
        fallthrough, target = self.successors()
        kept = tuple(self.cur.stack)
        popped = kept[:-1]
        first, second = ((target, kept), (fallthrough, popped))
        if not jump_when:
            first, second = (fallthrough, popped), (target, kept)
        self.end("branch", value, "truth", (first, second))

    def op_JUMP_IF_TRUE_OR_POP(self, inst): self._jump_or_pop(inst, True)
    def op_JUMP_IF_FALSE_OR_POP(self, inst): self._jump_or_pop(inst, False)

    def op_RETURN_VALUE(self, inst):
        self.end("return", self.pop1())

    # -- exceptions ----------------------------------------------------------------
    def op_RAISE_VARARGS(self, inst):
        args = self.pop(inst.arg)
        self.emit("raise", 0, tuple(args))
        self.end("stop")

    def op_RERAISE(self, inst):
        exc = self.pop1()
        args = (exc, self.peek(inst.arg)) if inst.arg else (exc,)
        self.emit("reraise", 0, args)
        self.end("stop")

    def op_PUSH_EXC_INFO(self, inst):
        exc = self.pop1()
        (prev,) = self.emit("push_exc_info", 1, (exc,))
        self.push(prev, exc)

    def op_POP_EXCEPT(self, inst): self.effect("pop_except", 1)

    def op_CHECK_EXC_MATCH(self, inst):
        type_ = self.pop1()
        exc = self.peek(1)
        (r,) = self.emit("check_exc_match", 1, (exc, type_))
        self.push(r)

    def op_LOAD_ASSERTION_ERROR(self, inst): self.simple("assertion_error", 0)

    def op_BEFORE_WITH(self, inst):
        mgr = self.pop1()
        exit_, result = self.emit("before_with", 2, (mgr,))
        self.push(exit_, result)

    def op_WITH_EXCEPT_START(self, inst):
        (r,) = self.emit("with_except_start", 1, (self.peek(4), self.peek(1)))
        self.push(r)

    # -- imports ----------------------------------------------------------------------
    def op_IMPORT_NAME(self, inst): self.simple("import_name", 2, inst.arg)

    def op_IMPORT_FROM(self, inst):
        (r,) = self.emit("import_from", 1, (self.peek(1),), inst.arg)
        self.push(r)


def build_ir(cfg: CFG) -> IRFunction:
    return IRBuilder(cfg).build()


def ir_for(code) -> IRFunction:
    return build_ir(build_cfg(decode(code)))
