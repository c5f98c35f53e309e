"""Cython emission: IR + structured control flow -> a .pyx module.

The module defines one C-level entry point, `rs_entry(RsFrame *f)`, and
exports its address in a capsule (`__restrain_entry__`) that the loader
hands to the evaluator.  All Python semantics go through the helpers of
restrain_abi.h / restrain_abi.pxd: the generated code never names a Python
builtin or global itself (Cython would bind those at import time, and
rebinding them later must be seen), and it reads constants and names from
the running code object, so one module serves every code object with the
same content.

Exceptions: when the function has exception handlers, the structured body
runs inside `while True: try: ... except BaseException:`.  The except clause
fixes the traceback (rs_catch), finds the handler for the instruction that
raised (rs_lasti against the exception table), puts the exception (and the
lasti value) in the handler's stack slots, sets `label` to the handler block
and goes round again.
"""
from __future__ import annotations

import functools
import inspect
import re
from dataclasses import dataclass, replace

from .ir import IRBlock, IRFunction, Op, phi_name
from .structure import BlockCode, Branch, Goto, Shape, Stop, render
from .types import BOOL, FLOAT, INT, OBJ, OpPlan, TypePlan, const_rep

INDENT = "    "

# Ops that cannot raise: no need to store prev_instr before them.
CANNOT_RAISE = frozenset({
    "pop", "spill", "copy", "null", "const", "load_closure", "store_fast", "push_exc_info", "pop_except", "is",
    "copy_free_vars", "store_deref", "assertion_error",
})

# Ops that store prev_instr themselves, only when they need it: the
# eval-breaker poll (rs_check_signals) does on its slow path, so a loop pays
# no store per turn for it.
SETS_OWN_INDEX = frozenset({"check_signals"})

CALL_HELPER_MAX_ARGS = 4

C_TYPES = {INT: "long long", FLOAT: "double", BOOL: "bint"}
# A C version's parameter that is a list or tuple it loops over (PureEmitter):
# a borrowed object, checked where the loop starts
SEQ = "seq"
PARAM_TYPES = {**C_TYPES, SEQ: "PyObject *"}
SIGNATURE_CODES = {INT: "i", FLOAT: "f", SEQ: "s"}
# COMPARE_OP's oparg (Py_LT ...) as a C operator
C_COMPARE = ("<", "<=", "==", "!=", ">", ">=")
C_INT_TOTAL = {"and": "&", "or": "|", "xor": "^"}
C_FLOAT_TOTAL = {"add": "+", "sub": "-", "mul": "*"}
# typed plans that can raise (the others deoptimise instead): they need
# prev_instr stored first, like any generic op
PLANS_THAT_RAISE = ("getitem:int", "getitem:truth", "setitem:int", "call:builtins.len")


@dataclass(frozen=True)
class PureCallee:
    """A function's C version (PureEmitter) as the other functions of its
    module may call it: by the global name `name`, when that global runs
    the code whose digest is `fingerprint` (restrain_abi.h,
    rs_pure_call_budget)."""
    name: str
    function: str          # the C function: (PyObject *rs_fn, arguments, int *rs_bail, int rs_depth)
    bails: str             # its module-level count of give-ups
    arg_reps: tuple
    return_rep: str
    fingerprint: str

    @property
    def signature(self) -> str:
        """Its C types, as compiled calls of unknown callables ask for them
        (restrain_abi.h rs_dynamic_pure): "ff>f", "ii>i"."""
        return signature_of(self.arg_reps, self.return_rep)


def signature_of(arg_reps, return_rep: str) -> str:
    return "".join(SIGNATURE_CODES[r] for r in arg_reps) + ">" + SIGNATURE_CODES[return_rep]


@dataclass(frozen=True)
class EmittedModule:
    module_name: str
    source: str          # the module with this one function
    function: str = ""   # the function's own part (its names prefixed), for combined_source
    entry: str = "rs_entry"
    title: str = ""
    pure: PureCallee | None = None       # its C version, for the other functions of a combined module
    # the code's co_names and the functions passed to it (TypePlan.passed_callees):
    # which of those it may call
    global_names: tuple = ()
    # the C version's text when `function` leaves it out (ModuleEmitter.needs_own_pure):
    # combined_source adds it where another function of the module calls it
    pure_function: str = ""
    # its frameless version's C function (frameless.py), in `function`
    frameless: str | None = None


_IF = re.compile(r"(\s*)if (.+):")


def mark_cold_paths(lines: list[str]) -> list[str]:
    """Every `if` that leads to a deoptimisation, a C version giving up, or
    the ordinary call a C version stands for is marked unlikely
    (restrain_abi.h rs_unlikely): gcc then weighs the calls on those paths
    as rare, and keeps the loop's C variables in registers."""
    out = []
    for k, line in enumerate(lines):
        m = _IF.fullmatch(line)
        following = lines[k + 1].strip() if k + 1 < len(lines) else ""
        if m and (following.startswith("rs_deopt_begin(") or following == f"rs_bail[0] = {BAIL_GAVE_UP}"
                  or m.group(2) in ("rs_cb", f"rs_cb == {BAIL_GAVE_UP}")):
            line = f"{m.group(1)}if rs_unlikely({m.group(2)}):"
        out.append(line)
    return out


def _null_or(value: str | None) -> str:
    return value if value else "rs_null()"


def _tuple(values) -> str:
    values = list(values)
    if not values:
        return "()"
    return "(" + ", ".join(values) + ("," if len(values) == 1 else "") + ")"


def op_lines(op: Op) -> list[str]:
    """The Cython statements for one op (without the rs_at line)."""
    a, r, p = op.args, op.results, op.params
    k = op.kind
    if k == "pop":
        return []   # the reference is dropped by the emitter's release logic
    if k == "spill":
        return phi_moves(a)
    if k == "copy":
        return [f"{r[0]} = {a[0]}"]
    simple = {
        "null": lambda: f"{r[0]} = rs_null()",
        "const": lambda: f"{r[0]} = rs_const(f, {p[0]})",
        "load_fast": lambda: f"{r[0]} = rs_load_fast(f, {p[0]})",
        "store_fast": lambda: f"rs_store_fast(f, {p[0]}, {a[0]})",
        "delete_fast": lambda: f"rs_delete_fast(f, {p[0]})",
        "load_global": lambda: f"{r[0]} = rs_load_global(f, {p[0]})",
        "store_global": lambda: f"rs_store_global(f, {p[0]}, {a[0]})",
        "delete_global": lambda: f"rs_delete_global(f, {p[0]})",
        "make_cell": lambda: f"rs_make_cell(f, {p[0]})",
        "copy_free_vars": lambda: f"rs_copy_free_vars(f, {p[0]})",
        "load_closure": lambda: f"{r[0]} = rs_load_closure(f, {p[0]})",
        "load_deref": lambda: f"{r[0]} = rs_load_deref(f, {p[0]})",
        "store_deref": lambda: f"rs_store_deref(f, {p[0]}, {a[0]})",
        "delete_deref": lambda: f"rs_delete_deref(f, {p[0]})",
        "load_attr": lambda: f"{r[0]} = rs_load_attr(f, {a[0]}, {p[0]})",
        "store_attr": lambda: f"rs_store_attr(f, {a[0]}, {p[0]}, {a[1]})",
        "delete_attr": lambda: f"rs_delete_attr(f, {a[0]}, {p[0]})",
        "binary_op": lambda: f"{r[0]} = rs_binary_op({p[0]}, {a[0]}, {a[1]})",
        "unary": lambda: f"{r[0]} = rs_unary_op({p[0]}, {a[0]})",
        "not": lambda: f"{r[0]} = rs_not({a[0]})",
        "compare": lambda: f"{r[0]} = rs_compare({a[0]}, {a[1]}, {p[0]})",
        "is": lambda: f"{r[0]} = rs_is({a[0]}, {a[1]}, {p[0]})",
        "contains": lambda: f"{r[0]} = rs_contains({a[0]}, {a[1]}, {p[0]})",
        "getitem": lambda: f"{r[0]} = rs_getitem({a[0]}, {a[1]})",
        "setitem": lambda: f"rs_setitem({a[0]}, {a[1]}, {a[2]})",
        "delitem": lambda: f"rs_delitem({a[0]}, {a[1]})",
        "build_slice": lambda: f"{r[0]} = rs_build_slice({a[0]}, {a[1]}, {_null_or(a[2] if len(a) > 2 else None)})",
        "build_tuple": lambda: f"{r[0]} = {_tuple(a)}",
        "build_list": lambda: f"{r[0]} = [{', '.join(a)}]",
        "build_const_key_map": lambda: f"{r[0]} = rs_const_key_map({a[-1]}, {_tuple(a[:-1])})",
        "build_string": lambda: f"{r[0]} = rs_build_string({_tuple(a)})",
        "list_to_tuple": lambda: f"{r[0]} = rs_list_to_tuple({a[0]})",
        "list_append": lambda: f"rs_list_append({a[0]}, {a[1]})",
        "set_add": lambda: f"rs_set_add({a[0]}, {a[1]})",
        "map_add": lambda: f"rs_map_add({a[0]}, {a[1]}, {a[2]})",
        "list_extend": lambda: f"rs_list_extend({a[0]}, {a[1]})",
        "set_update": lambda: f"rs_set_update({a[0]}, {a[1]})",
        "dict_update": lambda: f"rs_dict_update({a[0]}, {a[1]})",
        "dict_merge": lambda: f"rs_dict_merge({a[0]}, {a[1]}, {a[2]})",
        "format": lambda: f"{r[0]} = rs_format({a[0]}, {p[0]}, {_null_or(a[1] if len(a) > 1 else None)})",
        "get_iter": lambda: f"{r[0]} = rs_get_iter({a[0]})",
        "for_iter": lambda: f"{r[0]} = rs_for_iter({a[0]})",
        "check_signals": lambda: f"rs_check_signals(f, {op.index})",
        "raise": lambda: f"rs_raise(f, {_null_or(a[0] if a else None)}, {_null_or(a[1] if len(a) > 1 else None)})",
        "reraise": lambda: f"rs_reraise(f, {a[0]}, {_null_or(a[1] if len(a) > 1 else None)})",
        "push_exc_info": lambda: f"{r[0]} = rs_push_exc_info(f, {a[0]})",
        "pop_except": lambda: f"rs_pop_except(f, {a[0]})",
        "check_exc_match": lambda: f"{r[0]} = rs_check_exc_match({a[0]}, {a[1]})",
        "assertion_error": lambda: f"{r[0]} = rs_assertion_error()",
        "with_except_start": lambda: f"{r[0]} = rs_with_except_start({a[0]}, {a[1]})",
        "import_name": lambda: f"{r[0]} = rs_import_name(f, {p[0]}, {a[1]}, {a[0]})",
        "import_from": lambda: f"{r[0]} = rs_import_from(f, {a[0]}, {p[0]})",
    }
    if k in simple:
        return [simple[k]()]
    if k == "load_method":
        return [f"{r[0]} = rs_load_method(f, {a[0]}, {p[0]})", f"{r[1]} = rs_take_second(f)"]
    if k == "before_with":
        return [f"{r[1]} = rs_before_with(f, {a[0]})", f"{r[0]} = rs_take_second(f)"]
    # after a call, the eval-breaker poll of 3.11's CALL (rs_poll_after_call)
    if k == "call":
        return [_call_line(op), f"rs_poll_after_call(f, {op.index}, {a[0]}, {a[1]})"]
    if k == "call_ex":
        return [f"{r[0]} = rs_call_ex({a[0]}, {a[1]}, {_null_or(a[2] if len(a) > 2 else None)})",
                f"rs_check_signals(f, {op.index})"]
    if k == "make_function":
        parts = iter(a[1:])
        operands = [next(parts) if present else "rs_null()" for present in p]
        return [f"{r[0]} = rs_make_function(f, {a[0]}, {', '.join(operands)})"]
    if k == "build_set":
        return [f"{r[0]} = rs_new_set()"] + [f"rs_set_add({r[0]}, {x})" for x in a]
    if k == "build_map":
        return [f"{r[0]} = rs_new_dict()"] + [
            f"rs_map_add({r[0]}, {a[i]}, {a[i + 1]})" for i in range(0, len(a), 2)]
    if k == "unpack_sequence":
        fast = [f"{name} = rs_seq_item({a[0]}, {i})" for i, name in enumerate(r)]
        slow = [f"rs_t = rs_unpack_sequence({a[0]}, {p[0]})"] + [
            f"{name} = rs_t[{i}]" for i, name in enumerate(r)] + ["rs_t = None"]
        return [f"if rs_is_exact_seq({a[0]}, {p[0]}):"] + [INDENT + x for x in fast] + ["else:"] + [
            INDENT + x for x in slow]
    if k in ("unpack_sequence", "unpack_ex"):
        extra = ", ".join(str(x) for x in p)
        lines = [f"rs_t = rs_{k}({a[0]}, {extra})"]
        return lines + [f"{name} = rs_t[{i}]" for i, name in enumerate(r)] + ["rs_t = None"]
    raise NotImplementedError(f"no emitter for IR op {k}")


def _call_line(op: Op) -> str:
    first, second, *args = op.args
    (result,) = op.results
    (kwnames,) = op.params
    if kwnames is None and len(args) <= CALL_HELPER_MAX_ARGS:
        operands = ", ".join([first, second, *args])
        return f"{result} = rs_call{len(args)}({operands})"
    kw = f"rs_const(f, {kwnames})" if kwnames is not None else "None"
    return f"{result} = rs_call_n({first}, {second}, {_tuple(args)}, {kw})"


def block_exit(block: IRBlock) -> Goto | Branch | Stop:
    """Where control goes after the block, for the structurer's renderer
    (a branch tests rs_c, which the block's code sets)."""
    ex = block.exit
    if ex.kind == "goto":
        return Goto(ex.edges[0][0])
    if ex.kind == "branch":
        return Branch("rs_c", ex.edges[0][0], ex.edges[1][0])
    return Stop()


def phi_moves(values: tuple[str, ...], dests: tuple[str, ...] | None = None) -> list[str]:
    """Assign an edge's stack values to the target's s0..s{n-1} (or the
    given variables), as a parallel copy (a source may itself be an s
    variable being overwritten)."""
    if dests is None:
        dests = tuple(phi_name(i) for i in range(len(values)))
    moves = [(d, v) for d, v in zip(dests, values) if v != d]
    dests = {d for d, _ in moves}
    lines, renamed = [], {}
    for _, src in moves:
        if src in dests and src not in renamed:
            typed = src.rpartition("_")[2] if src[0] == "s" and "_" in src else ""
            renamed[src] = f"rs_p{len(renamed)}" + (f"_{typed}" if typed else "")
            lines.append(f"{renamed[src]} = {src}")
    lines += [f"{d} = {renamed.get(s, s)}" for d, s in moves]
    return lines


class ModuleEmitter:
    def __init__(self, ir: IRFunction, shape: Shape, module_name: str, title: str,
                 plan: TypePlan | None = None, prefix: str = "", pure_callees: dict | None = None):
        self.ir = ir
        self.producers = {r: op for block in ir.blocks.values() for op in block.ops for r in op.results}
        # C versions of other functions of the module, by global name (PureCallee)
        self.pure_callees = pure_callees or {}
        self.callee_caches: list[str] = []
        self.pure_globals: set[str] = set()       # module-level counters it assigns to
        # on the module-level names (entry, bail function, caches), so that
        # several functions can share one module (combined_source)
        self.prefix = prefix
        self.shape = shape
        self.module_name = module_name
        self.title = title
        self.plan = plan if plan is not None else TypePlan()
        self.typed_decls: dict[str, str] = {}     # extra C variables: name -> rep
        self.guard_caches: list[str] = []
        self.global_caches: list[str] = []
        self.cache_tag = ""        # in the caches' names: the C version's are its own
        self.attr_caches: list[str] = []
        self.method_caches: list[str] = []
        self.borrowed: set[str] = set()           # temporaries held as borrowed PyObject*
        self.pointer_decls: set[str] = set()      # other PyObject * variables (rs_other, ...)
        self.array_decls: set[str] = set()        # PyObject ** variables (a C version's item arrays)
        # Object temporaries share a few variables (t0, t1, ...): a block's
        # temporaries take one at their definition and give it back after
        # their last use.  Cython initialises and finally releases every
        # object variable of a function on each call, so their number is
        # what a call costs.
        self.slot_of: dict[str, str] = {}
        self.nslots = 0
        self.pure_call: list[str] = []        # the entry's call of the C version (PureEmitter)
        # int:lshift_wrap results (C name) -> the shift's operands (masked_shift)
        self.wrapped_shifts: dict[str, tuple[str, str]] = {}
        # module-level declarations of the calls that try unknown callables' C versions
        self.dynamic_sites: list[str] = []

    def nm(self, label: int, name: str) -> str:
        """The expression for IR value `name` in block `label`."""
        if name in self.borrowed:
            return f"<object>{name}"
        if name in self.slot_of:
            return self.slot_of[name]
        return self.plan.slot_name(label, name)

    def rep(self, label: int, name: str) -> str:
        if name in self.borrowed:
            return "borrowed"
        return self.plan.value_rep(label, name)

    def borrowable(self, block: IRBlock, last_use: dict[str, int]) -> set[str]:
        """Temporaries that need no reference of their own: constants (the
        code object holds them), the NULL marker of a call (static), and
        object locals read for uses that come before the next store to that
        local (the frame holds them)."""
        ops = block.ops
        out_names = {v for _, values in block.exit.edges for v in values} | {block.exit.value}
        found = set()
        for pos, op in enumerate(ops):
            r = op.results[0] if op.results else None
            if r is None or r in self.plan.reps or r in self.plan.fused:
                continue
            if op.kind in ("const", "null"):
                found.add(r)
            elif op.kind == "load_fast" and op.params[0] not in self.plan.local_reps:
                end = len(ops) if r in out_names else last_use.get(r, pos)
                i = op.params[0]
                if not any(o.kind in ("store_fast", "delete_fast") and o.params[0] == i
                           for o in ops[pos + 1:end]):
                    found.add(r)
        return found

    # -- blocks -------------------------------------------------------------
    # References: the interpreter drops a stack value the moment it is
    # consumed or popped, and programs notice (a generator's `finally` runs,
    # a file closes, `__del__` prints).  So a temporary is set to None right
    # after its last use, and at each block exit every temporary and every
    # stack slot the edge does not carry is dropped.  (C-typed values hold
    # no reference.)
    def block_code(self, label: int) -> BlockCode:
        block = self.ir.blocks[label]
        carried = {v for _, values in block.exit.edges for v in values}
        if block.exit.value:
            carried.add(block.exit.value)
        last_use = {}
        for i, op in enumerate(block.ops):
            for name in op.args:
                last_use[name] = i
        live: dict[str, None] = {}      # temporaries of this block holding a reference
        body: list[str] = []
        last_index = None
        self.assigned = set(self.plan.assigned_in.get(label, ()))
        self.borrowed |= self.borrowable(block, last_use)
        free = [f"t{k}" for k in range(self.nslots)]   # every slot is free on block entry
        self.released: set[str] = set()     # stack slots this block has dropped (edge_lines)
        direct = self.item_slot(block)
        for i, op in enumerate(block.ops):
            for r in op.results:
                if r == direct[0]:
                    self.slot_of[r] = direct[1]     # not live: the loop's edge carries it as it is
                elif self.rep(label, r) == OBJ:
                    if free:
                        self.slot_of[r] = free.pop(0)
                    else:
                        self.slot_of[r] = f"t{self.nslots}"
                        self.nslots += 1
            plan = self.plan.ops.get((label, i))
            raises = op.kind not in CANNOT_RAISE and (plan is None or plan.how in PLANS_THAT_RAISE
                                                      or plan.how.startswith("guard:"))
            if op.kind == "load_fast" and op.params[0] in self.assigned:
                raises = False
            if op.kind in SETS_OWN_INDEX or (plan is not None and plan.how.startswith("iter:")):
                last_index = None       # prev_instr may or may not have moved
            elif raises and op.index != last_index:
                body.append(f"rs_at(f, {op.index})")
                last_index = op.index
            body.extend(self.op_code(block, op, plan))
            if op.kind == "store_fast":
                self.assigned.add(op.params[0])
            live.update(dict.fromkeys(self.slot_of[r] for r in op.results
                                      if self.rep(label, r) == OBJ and r != direct[0]))
            # the item a loop stored into its local itself: its slot holds nothing
            stored = i == 0 and op.kind == "store_fast" and self.stored_by_loop(label)
            for name in dict.fromkeys(op.args):
                if last_use[name] == i and name not in carried and self.rep(label, name) == OBJ:
                    slot = self.nm(label, name)
                    if not stored:
                        body.append(f"{slot} = None")
                    live.pop(slot, None)
                    self.released.add(slot)
                    if name in self.slot_of:
                        free.append(slot)
        exit_lines = self.exit_lines(block, last_index, list(live))
        return BlockCode(tuple(body) + tuple(exit_lines), block_exit(block))

    def item_slot(self, block: IRBlock) -> tuple[str | None, str | None]:
        """A for loop's next item, when the block ends with its FOR_ITER: the
        stack slot the loop body receives it in, so that it is fetched
        straight into that variable (a move between two Cython object
        variables costs reference counting on every iteration)."""
        ops, ex = block.ops, block.exit
        if not ops or ops[-1].kind != "for_iter" or ex.kind != "branch" or ex.test != "null":
            return None, None
        item = ops[-1].results[0]
        target, values = ex.edges[1]
        k = len(values) - 1
        if ex.value != item or values.count(item) != 1 or values[k] != item or k < len(block.stack_in) \
                or self.rep(block.label, item) != OBJ or self.rep(target, phi_name(k)) != OBJ:
            return None, None
        return item, phi_name(k)

    @functools.cached_property
    def stored_items(self) -> dict[int, int]:
        """Loops whose body stores the item into an object local first thing
        (`for row in rows:`): the for_iter's block -> that local.  The item
        goes straight into the local (restrain_abi.h rs_for_iter_store),
        never into a variable of its own."""
        found = {}
        for label, block in self.ir.blocks.items():
            item, slot = self.item_slot(block)
            if item is None or (label, len(block.ops) - 1) in self.plan.ops:
                continue
            body = self.ir.blocks[block.exit.edges[1][0]]
            store = body.ops[0] if body.ops else None
            if store is None or store.kind != "store_fast" or store.args[0] != slot \
                    or (body.label, 0) in self.plan.ops or store.params[0] in self.plan.local_reps \
                    or self.ir.cfg.predecessors(body.label) != (label,) \
                    or any(slot in op.args for op in body.ops[1:]) or body.exit.value == slot \
                    or any(slot in values for _, values in body.exit.edges):
                continue
            found[label] = store.params[0]
        return found

    def stored_by_loop(self, label: int) -> bool:
        """Whether block `label` is the body of a stored_items loop (its first op, the store, is done)."""
        return any(self.ir.blocks[b].exit.edges[1][0] == label for b in self.stored_items)

    # -- ops ----------------------------------------------------------------
    def op_code(self, block: IRBlock, op: Op, plan: OpPlan | None) -> list[str]:
        label = block.label
        renamed = replace(op, args=tuple(self.nm(label, a) for a in op.args),
                          results=tuple(self.nm(label, r) for r in op.results))
        if op.kind in ("call", "get_iter", "for_iter"):
            lines = self.c_loop_op(block, op, renamed, plan)
            if lines is not None:
                return lines
        if op.kind == "for_iter" and label in self.stored_items:
            return [f"rs_fi = rs_for_iter_store(f, {self.nm(label, op.args[0])}, {self.stored_items[label]})"]
        if op.kind == "store_fast" and op is block.ops[0] and self.stored_by_loop(label):
            return []
        if op.kind == "const" and op.results[0] in self.plan.reps:
            return [f"{op.results[0]} = {self.c_literal(op.params[0])}"]
        if op.kind == "const" and op.results[0] in self.borrowed:
            return [f"{op.results[0]} = rs_const_b(f, {op.params[0]})"]
        if op.kind == "null" and op.results[0] in self.borrowed:
            return [f"{op.results[0]} = rs_null_b()"]
        if op.kind == "load_fast" and op.results[0] in self.borrowed:
            r, i = op.results[0], op.params[0]
            if i in self.assigned:
                return [f"{r} = rs_local_b(f, {i})"]
            return [f"{r} = rs_local_b(f, {i})", f"if {r} == NULL:", INDENT + f"rs_unbound_local_error(f, {i})"]
        if op.kind == "store_fast" and plan is not None and plan.how.startswith("store:") and plan.unbox:
            (name, rep), = plan.unbox          # an object into a local guessed from its uses
            shadow = f"u_{name}_{rep}"
            self.typed_decls[shadow] = rep
            return [f"if rs_unbox_{rep}({renamed.args[0]}, &{shadow}):"] + [
                INDENT + x for x in self.deopt_lines(block, op)] + self.typed_local(replace(renamed, args=(shadow,)))
        if op.kind in ("load_fast", "store_fast") and op.params[0] in self.plan.local_reps:
            return self.typed_local(renamed)
        if op.kind == "load_method":
            cache = f"{self.prefix}rs_mc{len(self.method_caches)}"
            self.method_caches.append(cache)
            r, a = renamed.results, renamed.args
            lines = [f"{r[0]} = rs_load_method_cached(f, {a[0]}, {op.params[0]}, &{cache})",
                     f"{r[1]} = rs_take_second(f)"]
            return lines + (self.guard_lines(block, renamed, plan) if plan is not None else [])
        if op.kind in ("load_attr", "store_attr"):
            cache = f"{self.prefix}rs_ac{len(self.attr_caches)}"
            self.attr_caches.append(cache)
            a = renamed.args
            if op.kind == "load_attr":
                line = f"{renamed.results[0]} = rs_load_attr_cached(f, {a[0]}, {op.params[0]}, &{cache})"
            else:
                line = f"rs_store_attr_cached(f, {a[0]}, {op.params[0]}, {a[1]}, &{cache})"
            return [line] + (self.guard_lines(block, renamed, plan) if plan is not None else [])
        if op.kind == "load_global" and plan is not None and plan.how.startswith("global:"):
            return self.global_into(block, op, plan, "f")
        if op.kind == "load_global":
            cache = f"{self.prefix}{self.cache_tag}rs_gc{len(self.global_caches)}"
            self.global_caches.append(cache)
            lines = [f"{renamed.results[0]} = rs_load_global_cached(f, {op.params[0]}, &{cache})"]
            return lines + (self.guard_lines(block, renamed, plan) if plan is not None else [])
        if plan is None and op.kind == "call" and self.makes_range_iterator(block, op):
            first, callable_, *bounds = renamed.args
            start, stop = ("0", bounds[0]) if len(bounds) == 1 else bounds
            return [f"{renamed.results[0]} = rs_range_iter({first}, {callable_}, {start}, {stop}, {len(bounds)})",
                    f"rs_poll_after_call(f, {op.index}, {first}, {callable_})"]
        if plan is None and op.kind == "call":
            target = self.pure_callee_of(block, op)
            if target is not None:
                return self.pure_callee_call(op, renamed, *target)
        if plan is not None and plan.how.startswith(("purecall:", "dyncall:")):
            return self.typed_result_call(block, op, renamed, plan)
        if plan is None:
            return op_lines(renamed)
        if plan.how.startswith("guard:"):
            return op_lines(renamed) + self.guard_lines(block, renamed, plan)
        if plan.how == "getitem:int" and plan.unbox:      # fused: types.fuse_item_unboxing
            (name, rep), = plan.unbox
            shadow = self.nm(label, name)
            self.typed_decls[shadow] = rep
            return [f"if rs_item_{rep}_i({renamed.args[0]}, {renamed.args[1]}, &{shadow}):"] + [
                INDENT + x for x in self.deopt_lines(block, op)]
        lines: list[str] = []
        operands = list(renamed.args)
        for name, rep in plan.unbox:
            shadow = f"u_{name}_{rep}"
            self.typed_decls[shadow] = rep
            lines.append(f"if rs_unbox_{rep}({self.nm(label, name)}, &{shadow}):")
            lines += [INDENT + x for x in self.deopt_lines(block, op)]
            operands = [shadow if a == self.nm(label, name) else a for a in operands]
        return lines + self.typed_op(block, renamed, plan, operands)

    def makes_range_iterator(self, block: IRBlock, op: Op) -> bool:
        """`range(stop)` or `range(start, stop)` of C integers whose one use
        is the GET_ITER of a for loop: the call makes the iterator
        (restrain_abi.h rs_range_iter), no range object, no boxed bounds."""
        first, callee, *bounds = op.args
        load = self.producers.get(callee)
        if op.params[0] is not None or len(bounds) not in (1, 2) or load is None or load.kind != "load_global" \
                or self.ir.cfg.decoded.code.co_names[load.params[0]] != "range":
            return False
        if any(self.rep(block.label, b) != INT for b in bounds):
            return False
        users = self.value_users.get(op.results[0], [])
        return len(users) == 1 and users[0] is not None and users[0].kind == "get_iter"

    @functools.cached_property
    def value_users(self) -> dict[str, list[Op | None]]:
        """The ops that take each IR value; None for a block exit (an edge
        or a return or branch)."""
        users: dict[str, list[Op | None]] = {}
        for block in self.ir.blocks.values():
            for op in block.ops:
                for a in op.args:
                    users.setdefault(a, []).append(op)
            for _, values in block.exit.edges:
                for v in values:
                    users.setdefault(v, []).append(None)
            if block.exit.value:
                users.setdefault(block.exit.value, []).append(None)
        return users

    def range_iterators(self) -> tuple[set, set]:
        """iter(range(...)) values, and the stack slots (block label, depth)
        that hold one on some path (then on every path: the stack's shape
        at a block is fixed)."""
        values = self.range_iterator_values()
        return values, self.slots_holding(values)

    def range_iterator_values(self) -> set:
        """The values of iter(range(...)): GET_ITER of a call of the global `range`."""
        code = self.ir.cfg.decoded.code
        producers = self.producers
        values = set()
        for block in self.ir.blocks.values():
            for op in block.ops:
                call = producers.get(op.args[0]) if op.kind == "get_iter" else None
                load = producers.get(call.args[1]) if call is not None and call.kind == "call" else None
                if load is not None and load.kind == "load_global" and code.co_names[load.params[0]] == "range":
                    values.add(op.results[0])
        return values

    def slots_holding(self, values: set) -> set:
        """The stack slots (block label, depth) that hold one of `values`
        on some path (then on every path: the stack's shape at a block is
        fixed; edge_lines checks it)."""
        slots: set = set()
        changed = bool(values)
        while changed:
            changed = False
            for block in self.ir.blocks.values():
                for target, carried in block.exit.edges:
                    for k, value in enumerate(carried):
                        if (target, k) not in slots and self.holds_iterator(block.label, value, values, slots):
                            slots.add((target, k))
                            changed = True
        return slots

    @staticmethod
    def slot_depth(name: str) -> int | None:
        """k for the stack slot variable phi_name(k), else None."""
        slot = re.fullmatch(r"s(\d+)", name)
        return int(slot.group(1)) if slot is not None else None

    @classmethod
    def holds_iterator(cls, label: int, name: str, values: set, slots: set) -> bool:
        return name in values or (label, cls.slot_depth(name)) in slots

    # -- loops whose iterator is C variables -----------------------------------
    # A loop whose iterator only the loop itself uses (its FOR_ITER, the pop
    # at its end, the edges into the loop's stack slot) keeps its state in
    # C variables, and an iterator object is made only where the
    # interpreter could see one: a deoptimisation with it on the stack
    # (stack_value).  Two kinds:
    #   "index": over an exact list by index (restrain_abi.h
    #            rs_get_iter_indexed): the list where the iterator would be,
    #            rs_<name>_seq (borrowed; NULL: not a list, the iterator
    #            runs as before) and rs_<name>_cur;
    #   "range": over range(stop) / range(start, stop) of C integers
    #            (restrain_abi.h rs_range_c): the NULL marker where the
    #            iterator would be (anything else: what a rebound `range`
    #            returned), rs_<name>_cur and rs_<name>_stop.
    LOOP_VARS = {"index": (("seq", None), ("cur", INT)), "range": (("cur", INT), ("stop", INT))}

    @functools.cached_property
    def c_loops(self) -> tuple[dict, dict]:
        """({IR value: kind}, {(block, depth): kind}) of the loops above:
        GET_ITER results, the range() calls that make them, and the stack
        slots holding them.  Not an iterator passed on (a comprehension's
        argument) or moved to another depth."""
        made = {op.results[0]: op for block in self.ir.blocks.values() for op in block.ops
                if op.kind == "get_iter"}
        range_calls = {}        # get_iter result -> the range() call's result
        for block in self.ir.blocks.values():
            for pos, op in enumerate(block.ops):
                if op.kind == "call" and (block.label, pos) not in self.plan.ops \
                        and self.makes_range_iterator(block, op):
                    range_calls[self.value_users[op.results[0]][0].results[0]] = op.results[0]
        ranges = self.range_iterator_values()
        held = {r: self.slots_holding({r}) for r in made}
        values, slots = {}, {}
        for r in made:
            if any(held[r] & held[o] for o in made if o != r):
                continue
            kind = "range" if r in range_calls else None if r in ranges else "index"
            if kind is not None and self.only_looped(r, held[r], kind):
                values[r] = kind
                if kind == "range":
                    values[range_calls[r]] = kind
                slots.update(dict.fromkeys(held[r], kind))
        return values, slots

    def only_looped(self, iterator: str, slots: set, kind: str) -> bool:
        """Whether only its loop uses `iterator` (held in `slots`): a
        FOR_ITER of the kind's plan or a pop, no other op, no return or
        branch on it, no move to another stack depth."""
        for block in self.ir.blocks.values():
            label = block.label
            for pos, op in enumerate(block.ops):
                if not any(self.holds_iterator(label, a, {iterator}, slots) for a in op.args):
                    continue
                how = getattr(self.plan.ops.get((label, pos)), "how", None)
                looped = how == "range" if kind == "range" else how is None or how.startswith("iter:")
                if op.kind == "pop" or (op.kind == "for_iter" and looped):
                    continue
                return False
            if block.exit.value and self.holds_iterator(label, block.exit.value, {iterator}, slots):
                return False
            for _, carried in block.exit.edges:
                for k, value in enumerate(carried):
                    if value.startswith("s") and value != phi_name(k) \
                            and self.holds_iterator(label, value, {iterator}, slots):
                        return False
        return True

    def loop_kind(self, label: int, name: str) -> str | None:
        """"index", "range" or None for IR value `name` in block `label` (c_loops)."""
        values, slots = self.c_loops
        if name in values:
            return values[name]
        return slots.get((label, self.slot_depth(name)))

    def loop_vars(self, name: str, kind: str) -> tuple[str, str]:
        """The C variables of a loop's state (LOOP_VARS), declared."""
        out = []
        for suffix, rep in self.LOOP_VARS[kind]:
            var = f"rs_{name}_{suffix}"
            if rep is None:
                self.pointer_decls.add(var)
            else:
                self.typed_decls[var] = rep
            out.append(var)
        return out[0], out[1]

    def c_loop_op(self, block: IRBlock, op: Op, renamed: Op, plan: OpPlan | None) -> list[str] | None:
        """range(), GET_ITER and FOR_ITER of the loops of c_loops; None for
        any other op (and for a typed FOR_ITER by index: unboxed_for_iter)."""
        label = block.label
        if op.kind == "call":           # range(...) of C integers
            if self.loop_kind(label, op.results[0]) != "range":
                return None
            cur, stop = self.loop_vars(op.results[0], "range")
            first, callable_, *bounds = renamed.args
            start, end = ("0", bounds[0]) if len(bounds) == 1 else bounds
            return [f"{renamed.results[0]} = rs_range_c({first}, {callable_}, {start}, {end}, {len(bounds)}, "
                    f"&{cur}, &{stop})", f"rs_poll_after_call(f, {op.index}, {first}, {callable_})"]
        if op.kind == "get_iter":
            kind = self.loop_kind(label, op.results[0])
            if kind is None:
                return None
            a, b = self.loop_vars(op.results[0], kind)
            result, iterable = renamed.results[0], renamed.args[0]
            if kind == "index":
                return [f"{result} = rs_get_iter_indexed({iterable}, &{a}, &{b})"]
            cur, stop = self.loop_vars(op.args[0], kind)      # the range() call's
            return [f"{result} = rs_get_iter_range({iterable})", f"{a} = {cur}", f"{b} = {stop}"]
        kind = self.loop_kind(label, op.args[0]) if op.kind == "for_iter" else None
        if kind is None:
            return None
        (a, b), it = self.loop_vars(op.args[0], kind), renamed.args[0]
        if kind == "range":
            return [f"rs_fi = rs_for_range({it}, &{a}, {b}, &{renamed.results[0]})", "if rs_fi < 0:"] + [
                INDENT + x for x in self.deopt_lines(block, op)]
        if label in self.stored_items:
            return [f"rs_fi = rs_for_index_store(f, {op.index}, {it}, {a}, &{b}, {self.stored_items[label]})"]
        if plan is None:
            return [f"{renamed.results[0]} = rs_for_index(f, {op.index}, {it}, {a}, &{b})"]
        return None

    def global_into(self, block: IRBlock, op: Op, plan: OpPlan, source: str) -> list[str]:
        """A global read straight into a C variable (types.fuse_global_unboxing)
        from the globals of the frame (`f`) or, in a C version, of the
        function it runs for (`rs_fn`); anything else deoptimises there."""
        (name, rep), = plan.unbox
        shadow = self.nm(block.label, name)
        self.typed_decls[shadow] = rep
        cache = f"{self.prefix}{self.cache_tag}rs_gc{len(self.global_caches)}"
        self.global_caches.append(cache)
        reader = "rs_global" if source == "f" else "rs_pure_global"
        return [f"if {reader}_{rep}({source}, {op.params[0]}, &{cache}, &{shadow}):"] + [
            INDENT + x for x in self.deopt_lines(block, op)]

    def pure_callee_of(self, block: IRBlock, op: Op) -> tuple[PureCallee, list[str], list] | None:
        """The C version `op` may call instead, its C arguments, and the
        objects to unbox into some of those first: a call without keywords
        of a global named after a function of the module that has one, with
        arguments that are C values of its parameters' types, constants of
        those types, or objects (unboxed, and the ordinary call if one is
        not of the type: a global such as MAX_ITER); arguments left out
        are the function's defaults, read at the call."""
        if not self.pure_callees or op.params[0] is not None:
            return None
        first, callee, *args = op.args
        load, null = self.producers.get(callee), self.producers.get(first)
        if load is None or load.kind != "load_global" or null is None or null.kind != "null":
            return None
        target = self.pure_callees.get(self.ir.cfg.decoded.code.co_names[load.params[0]])
        if target is None or len(args) > len(target.arg_reps):
            return None
        values, unbox = [], []
        function = self.nm(block.label, callee)
        for k, rep in enumerate(target.arg_reps):
            if rep == SEQ:
                # an object, as it is (the C version checks it is a list or a tuple)
                if k >= len(args) or self.rep(block.label, args[k]) not in (OBJ, "borrowed"):
                    return None
                values.append(f"<PyObject *>{self.nm(block.label, args[k])}")
                continue
            if k >= len(args):
                # left out: the default the function object has now (defaults can be replaced)
                values.append(f"rs_ca{k}_{rep}")
                unbox.append((f"<object>rs_default_arg(<PyObject *>{function}, {k}, {len(target.arg_reps)})",
                              rep, values[-1]))
                continue
            arg = args[k]
            value = self.c_value(block.label, arg, rep)
            if value is not None:
                values.append(value)
            elif self.rep(block.label, arg) in (OBJ, "borrowed"):
                values.append(f"rs_ca{k}_{rep}")
                unbox.append((self.nm(block.label, arg), rep, values[-1]))
            else:
                return None
        return target, values, unbox

    def c_value(self, label: int, name: str, rep: str) -> str | None:
        """IR value `name` as a C expression of `rep`: its C variable, or
        the literal of a constant that type holds exactly; None otherwise."""
        if self.rep(label, name) == rep:
            return self.nm(label, name)
        op = self.producers.get(name)
        if op is not None and op.kind == "const" and const_rep(self.ir.cfg.decoded.code.co_consts[op.params[0]]) == rep:
            return self.c_literal(op.params[0])
        return None

    def typed_result_call(self, block: IRBlock, op: Op, renamed: Op, plan: OpPlan) -> list[str]:
        """A call whose result stays a C value (types.pure_call,
        plan_dynamic_calls): a C version's, or the ordinary call's result
        unboxed; a result of another type deoptimises at the next
        instruction, the result on the interpreter's stack."""
        kind, _, rep = plan.how.partition(":")
        result = renamed.results[0]
        self.typed_decls[result] = rep
        ordinary = replace(renamed, results=("rs_t",))
        following = block.ops[next(k for k, o in enumerate(block.ops) if o is op) + 1]
        deopt = self.deopt_lines(block, following, {op.results[0]: "rs_t"})
        unboxed = [f"if rs_unbox_{rep}(rs_t, &{result}):"] + [INDENT + x for x in deopt] + ["rs_t = None"]
        if kind == "dyncall":
            return self.dynamic_call(block, op, renamed, plan, ordinary, unboxed)
        target = self.pure_callee_of(block, op)
        if target is None or target[0].return_rep != rep:
            return op_lines(ordinary) + unboxed
        return self.pure_callee_call(op, ordinary, *target, result=result, unboxed=unboxed)

    def dynamic_call(self, block: IRBlock, op: Op, renamed: Op, plan: OpPlan, ordinary: Op,
                     unboxed: list[str]) -> list[str]:
        """f(x) with C arguments: the C version of the function f is now, if
        it has one of these C types (restrain_abi.h rs_dynamic_pure, through
        a function pointer of the signature), else (or when it gives up) the
        ordinary call.  A site whose C versions gave up PURE_BAILS_ALLOWED
        times stops trying."""
        rep = plan.how.partition(":")[2]
        arg_reps = plan.operands[2:]
        values = [self.c_value(block.label, a, r) for a, r in zip(op.args[2:], arg_reps)]
        k = len(self.dynamic_sites)
        pointer, bails, site = f"{self.prefix}rs_pf{k}", f"{self.prefix}rs_db{k}", f"{self.prefix}rs_ds{k}"
        params = ", ".join(["PyObject *"] + [C_TYPES[r] for r in arg_reps] + ["int *", "int"])
        self.dynamic_sites += [f"ctypedef {C_TYPES[rep]} (*{pointer})({params}) noexcept",
                               f"cdef int {bails} = 0", f"cdef RsDynamicSite {site}"]
        self.pure_globals.add(bails)
        function = renamed.args[1]
        signature = signature_of(arg_reps, rep)
        call = (f"{renamed.results[0]} = (<{pointer}>rs_dfn)(<PyObject *>{function}, "
                f"{', '.join(values)}, &rs_cb, rs_cd - 1)")
        lines = [f'rs_dfn = rs_dynamic_pure(f, <PyObject *>{function}, b"{signature}", &rs_cd, &{site}, &rs_fd, &rs_fl) '
                 f"if {bails} < {PURE_BAILS_ALLOWED} else NULL"] + self.c_version_or_call(
            "rs_dfn != NULL", call, bails, op_lines(ordinary) + unboxed)
        callee = self.passed_callee(op, signature)
        if callee is None:
            return lines
        # the function the argument was when sampled: its C version in this
        # module, called directly (the C compiler may inline it), behind
        # the guard of a call by global name; anything else as above
        budget = self.callee_budget(callee, function)
        direct = (f"{renamed.results[0]} = {callee.function}(<PyObject *>{function}, "
                  f"{', '.join(values)}, &rs_cb, rs_cd - 1)")
        return [f"rs_cd = {budget} if {callee.bails} < {PURE_BAILS_ALLOWED} else 0"] + self.c_version_or_call(
            "rs_cd > 0", direct, callee.bails, lines)

    def callee_budget(self, callee: PureCallee, function: str) -> str:
        """The guard of a call of `callee`'s C version (restrain_abi.h
        rs_pure_call_budget: `function` runs the code it was made from):
        its frame budget, 0 for the ordinary call.  Each site its own cache."""
        cache = f"{self.prefix}rs_pc{len(self.callee_caches)}"
        self.callee_caches.append(cache)
        self.pure_globals.add(callee.bails)
        return f'rs_pure_call_budget(f, {function}, &{cache}, b"{callee.fingerprint}", &rs_fd, &rs_fl)'

    def passed_callee(self, op: Op, signature: str) -> PureCallee | None:
        """The C version a call of an argument (`f(x)` in integrate(f, ...))
        may try first: that of the function the argument was on the sampled
        call (TypePlan.passed_callees), when the module carries it and it
        takes and returns these C types."""
        load = self.producers.get(op.args[1])
        if load is None or load.kind != "load_fast":
            return None
        callee = self.pure_callees.get(self.plan.passed_callees.get(load.params[0], ""))
        return callee if callee is not None and callee.signature == signature else None

    @staticmethod
    def c_version_or_call(usable: str, call: str, bails: str, ordinary: list[str]) -> list[str]:
        """Run `call` (of a C version) when `usable`; where it was not, or it
        gave up (counted in `bails`; an interruption is not), `ordinary`."""
        return [f"if {usable}:", INDENT + "rs_cb = 0", INDENT + call,
                INDENT + f"if rs_cb == {BAIL_GAVE_UP}:", 2 * INDENT + f"{bails} += 1",
                "else:", INDENT + "rs_cb = 1",
                "if rs_cb:"] + [INDENT + x for x in ordinary]

    def pure_callee_call(self, op: Op, renamed: Op, callee: PureCallee, args: list[str], unbox: list,
                         result: str | None = None, unboxed: list[str] = ()) -> list[str]:
        """Try the C version; where it cannot be used (another function
        under that name, a profiler, no recursion left) or gives up (an
        overflow: it has no side effects), the call it stands for.  With
        `result` (a C variable), the C version's result goes there, and
        the ordinary call's through `unboxed` (typed_result_call)."""
        after_call, otherwise = list(unboxed), []
        if result is None:
            result = f"rs_cr_{callee.return_rep}"
            self.typed_decls[result] = callee.return_rep
            otherwise = ["else:", INDENT + f"{renamed.results[0]} = {result}"]
        values = ", ".join(args)
        lines = ["rs_cu = 0"]
        for obj, rep, var in unbox:
            self.typed_decls[var] = rep
            lines += [f"if rs_unbox_{rep}({obj}, &{var}):", INDENT + "rs_cu = 1"]
        budget = self.callee_budget(callee, renamed.args[1])
        call = f"{result} = {callee.function}(<PyObject *>{renamed.args[1]}, {values}, &rs_cb, rs_cd - 1)"
        return lines + [f"rs_cd = 0 if rs_cu else {budget}"] + self.c_version_or_call(
            f"rs_cd > 0 and {callee.bails} < {PURE_BAILS_ALLOWED}", call, callee.bails,
            op_lines(renamed) + after_call) + otherwise

    def c_literal(self, index: int) -> str:
        value = self.ir.cfg.decoded.code.co_consts[index]
        if type(value) is int:
            return "(-9223372036854775807 - 1)" if value == -(1 << 63) else str(value)
        return repr(float(value))     # finite (types.const_rep)

    def typed_local(self, op: Op) -> list[str]:
        i = op.params[0]
        if op.kind == "store_fast":
            if i in self.assigned:      # set on every path here already
                return [f"L{i} = {op.args[0]}"]
            self.assigned.add(i)
            return [f"L{i} = {op.args[0]}", f"L{i}_set = 1"]
        if i in self.assigned:
            return [f"{op.results[0]} = L{i}"]
        return [f"if not L{i}_set:", INDENT + f"rs_unbound_local_error(f, {i})",
                f"{op.results[0]} = L{i}"]

    def typed_op(self, block: IRBlock, op: Op, plan: OpPlan, a: list[str]) -> list[str]:
        kind, _, sub = plan.how.partition(":")
        r = op.results[0] if op.results else None
        deopt = [INDENT + x for x in self.deopt_lines(block, op)] if plan.deopt else []
        if kind == "int":
            if sub in ("lshift_wrap", "and_wrapped"):
                return self.masked_shift(sub, r, a, deopt)
            if sub in C_INT_TOTAL:
                return [f"{r} = {a[0]} {C_INT_TOTAL[sub]} {a[1]}"]
            return [f"if rs_i_{sub}({a[0]}, {a[1]}, &{r}):"] + deopt
        if kind == "float":
            x, y = (f"<double>{v}" if rep == INT else v for v, rep in zip(a, plan.operands))
            if sub in C_FLOAT_TOTAL:
                return [f"{r} = {x} {C_FLOAT_TOTAL[sub]} {y}"]
            return [f"if rs_f_{sub}({x}, {y}, &{r}):"] + deopt
        if kind == "cmp":
            lines, vals = [], []
            for n, (v, rep) in enumerate(zip(a, plan.operands)):
                if sub == "float" and rep == INT:
                    d = f"rs_d{n}"
                    self.typed_decls[d] = FLOAT
                    lines += [f"if rs_i_exact({v}, &{d}):"] + deopt
                    v = d
                vals.append(v)
            return lines + [f"{r} = {vals[0]} {C_COMPARE[op.params[0]]} {vals[1]}"]
        if kind == "neg":
            if sub == "int":
                return [f"if rs_i_neg({a[0]}, &{r}):"] + deopt
            return [f"{r} = -{a[0]}"]
        if kind == "pos":
            return [f"{r} = {a[0]}"]
        if kind == "invert":
            return [f"{r} = ~{a[0]}"]
        if kind == "not":
            return [f"{r} = not {a[0]}"]
        if kind == "getitem" and sub == "truth":      # types.fuse_item_truth
            self.typed_decls[r] = BOOL
            return [f"{r} = rs_item_truth_i(f, {block.exit.index}, {a[0]}, {a[1]})"]
        if kind == "getitem":
            return [f"{r} = rs_getitem_i({a[0]}, {a[1]})"]
        if kind == "setitem":
            if plan.operands and plan.operands[-1] == FLOAT:
                return [f"rs_setitem_float_i({a[0]}, {a[1]}, {a[2]})"]
            return [f"rs_setitem_i({a[0]}, {a[1]}, {a[2]})"]
        if kind == "range":
            return [f"rs_fi = rs_for_iter_range({a[0]}, &{r})", "if rs_fi < 0:"] + deopt
        if kind == "iter":
            return self.unboxed_for_iter(block, op, sub, r, a[0])
        if kind == "call":
            return self.known_call(sub, r, a[2:], plan.operands, deopt)
        raise NotImplementedError(f"no emitter for plan {plan.how}")

    def unboxed_for_iter(self, block: IRBlock, op: Op, rep: str, r: str, iterator: str) -> list[str]:
        """The next item straight into a C variable (types.item_guess); an
        item of another type deoptimises after the FOR_ITER, at the store
        into the loop's variable, with the item on the stack."""
        self.pointer_decls.add("rs_other")
        target, _ = block.exit.edges[1]
        store = self.ir.blocks[target].ops[0]
        source = block.ops[-1]      # the for_iter itself (op is renamed)
        after = replace(store, stack_before=source.stack_before + (source.results[0],))
        deopt = self.deopt_lines(block, after, {source.results[0]: "rs_steal(rs_other)"})
        if self.loop_kind(block.label, source.args[0]) == "index":
            seq, cur = self.loop_vars(source.args[0], "index")
            fetch = f"rs_fi = rs_for_index_{rep}(f, {op.index}, {iterator}, {seq}, &{cur}, &{r}, &rs_other)"
        else:
            fetch = f"rs_fi = rs_for_iter_{rep}(f, {op.index}, {iterator}, &{r}, &rs_other)"
        return [fetch, "if rs_fi == 2:"] + [INDENT + x for x in deopt]

    def masked_shift(self, sub: str, r: str, a: list[str], deopt: list[str]) -> list[str]:
        """`(x << k) & mask` (types.fuse_masked_shifts): the shift's low 64
        bits and whether they are exact (r_x); its operands are kept for a
        deoptimisation that needs its exact value (deopt_lines)."""
        if sub == "lshift_wrap":
            self.typed_decls[f"{r}_x"] = BOOL
            self.wrapped_shifts[r] = (a[0], a[1])
            return [f"if rs_i_lshift_wrap({a[0]}, {a[1]}, &{r}, &{r}_x):"] + deopt
        shifted, mask = (a[0], a[1]) if a[0] in self.wrapped_shifts else (a[1], a[0])
        return [f"if rs_i_and_wrapped({shifted}, {shifted}_x, {mask}, &{r}):"] + deopt

    def stack_value(self, label: int, name: str, replaced: dict[str, str]) -> str:
        """A stack value as the interpreter holds it (for a deoptimisation);
        `replaced`: objects standing for some IR values (typed_result_call)."""
        if name in replaced:
            return replaced[name]
        value = self.nm(label, name)
        kind = self.loop_kind(label, name)
        if kind is not None:        # the iterator the interpreter would hold
            a, b = self.loop_vars(name, kind)
            return f"rs_{kind}_iter_at({value}, {a}, {b})"
        if value in self.wrapped_shifts:
            x, k = self.wrapped_shifts[value]
            return f"rs_i_lshift_exact({x}, {k}, {value}, {value}_x)"
        return value

    def known_call(self, target: str, r: str, args: list[str], reps: tuple, deopt: list[str]) -> list[str]:
        module, name = target.split(".")
        if module == "builtins":
            if name == "len":
                return [f"{r} = rs_len({args[0]})"]
            if name == "ord":
                return [f"if rs_ord({args[0]}, &{r}):"] + deopt
            if name == "abs":
                if reps[0] == INT:
                    return [f"if rs_i_abs({args[0]}, &{r}):"] + deopt
                return [f"{r} = rs_f_abs({args[0]})"]
            if name in ("min", "max"):
                op = "<" if name == "min" else ">"
                return [f"{r} = {args[1]} if {args[1]} {op} {args[0]} else {args[0]}"]
            if name == "int":
                if reps[0] == INT:
                    return [f"{r} = {args[0]}"]
                return [f"if rs_f_to_i({args[0]}, &{r}):"] + deopt
            if name == "float":
                return [f"{r} = <double>{args[0]}"]
        cargs = ", ".join(f"<double>{v}" if rep == INT else v for v, rep in zip(args, reps))
        if name in ("floor", "ceil") and reps[0] == INT:
            return [f"{r} = {args[0]}"]
        return [f"if rs_m_{name}({cargs}, &{r}):"] + deopt

    def guard_lines(self, block: IRBlock, op: Op, plan: OpPlan) -> list[str]:
        module, name = plan.how.split(":", 1)[1].split(".")
        cache = f"{self.prefix}{self.cache_tag}rs_g{len(self.guard_caches)}"
        self.guard_caches.append(cache)
        value = op.results[1] if op.kind == "load_method" else op.results[0]
        test = f"rs_guard_function({value}, &{cache}, b\"{module}\", b\"{name}\")"
        if op.kind == "load_method":
            test = f"not rs_is_null({op.results[0]}) or " + test
        return [f"if {test}:"] + [INDENT + x for x in self.deopt_lines(block, op)]

    # -- deoptimisation ------------------------------------------------------------
    def writeback_lines(self) -> list[str]:
        """Typed locals back into the frame, boxed."""
        lines = []
        for i in sorted(self.plan.local_reps):
            if i in self.plan.typed_args:
                lines.append(f"rs_store_fast(f, {i}, L{i})")
            else:
                lines += [f"if L{i}_set:", INDENT + f"rs_store_fast(f, {i}, L{i})"]
        return lines

    def deopt_lines(self, block: IRBlock, op: Op, replaced: dict[str, str] | None = None) -> list[str]:
        """Hand the frame to the interpreter at op's instruction: its value
        stack (as it was before the instruction, with the objects of
        `replaced` for those IR values) and typed locals go back into the
        frame."""
        resume = self.plan.resume_index.get(op.index, op.index)
        stack = op.stack_before
        lines = [f"rs_deopt_begin(f, {resume})"]
        lines += [f"rs_deopt_push(f, {self.stack_value(block.label, v, replaced or {})})" for v in stack]
        if not self.plan.local_reps:
            return lines + self.returning() + ["return rs_deopted(f)"]
        # the typed locals go back through one shared function (code size:
        # a function can have many deoptimisation points)
        args = ", ".join(f"L{i}, L{i}_set" for i in sorted(self.plan.local_reps))
        return lines + self.returning() + [f"return {self.prefix}rs_bail(f, {args})"]

    def bail_function(self) -> list[str]:
        """rs_bail(f, L0, L0_set, ...): typed locals into the frame, then
        hand it to the interpreter."""
        if not self.plan.local_reps:
            return []
        params = ", ".join(f"{C_TYPES[r]} L{i}, bint L{i}_set" for i, r in sorted(self.plan.local_reps.items()))
        lines = [f"cdef object {self.prefix}rs_bail(RsFrame *f, {params}):"]
        for i in sorted(self.plan.local_reps):
            lines += [INDENT + f"if L{i}_set:", 2 * INDENT + f"rs_store_fast(f, {i}, L{i})"]
        return lines + [INDENT + "return rs_deopted(f)", ""]

    def entry_lines(self) -> list[str]:
        """Arguments the code is specialised for are checked and unboxed
        first; a mismatch runs the whole call in the interpreter."""
        lines = []
        for i in self.plan.typed_args:
            rep = self.plan.local_reps[i]
            lines += [f"if rs_unbox_{rep}(rs_local(f, {i}), &L{i}):",
                      INDENT + "rs_deopt_begin(f, 0)", INDENT + "return rs_deopted(f)",
                      f"L{i}_set = 1"]
        return lines + self.pure_call

    # -- block exits -----------------------------------------------------------------
    def edge_lines(self, block: IRBlock, target: int, values: tuple[str, ...], live: list[str]) -> list[str]:
        """Move the edge's stack into the target's slots; drop everything else."""
        label = block.label
        dests = tuple(self.nm(target, phi_name(k)) for k in range(len(values)))
        lines = phi_moves(tuple(self.nm(label, v) for v in values), dests)
        for k, value in enumerate(values):
            # a loop starting: its C variables into the slot's (c_loops:
            # only GET_ITER results move between slots)
            kind = self.loop_kind(label, value) if value != phi_name(k) else None
            if kind is not None:
                lines += [f"{a} = {b}" for a, b in zip(self.loop_vars(phi_name(k), kind), self.loop_vars(value, kind))]
        lines += [f"{t} = None" for t in live]
        for k in range(len(block.stack_in)):
            if self.rep(label, phi_name(k)) != OBJ:
                continue      # a C variable here; the object variable is unused
            if (k >= len(values) or dests[k] != phi_name(k)) and phi_name(k) not in self.released:
                lines.append(f"{phi_name(k)} = None")
        return lines

    def exit_lines(self, block: IRBlock, last_index, live: list[str]) -> list[str]:
        ex = block.exit
        label = block.label
        if ex.kind == "return":
            return self.returning() + [f"return {self.nm(label, ex.value)}"]
        if ex.kind == "goto":
            return self.edge_lines(block, ex.edges[0][0], ex.edges[0][1], live)
        if ex.kind == "branch":
            lines = []
            value, rep = self.nm(label, ex.value), self.rep(label, ex.value)
            rep = OBJ if rep == "borrowed" else rep
            if ex.test == "truth":
                if rep == OBJ:
                    if ex.index != last_index:
                        lines.append(f"rs_at(f, {ex.index})")
                    lines.append(f"rs_c = rs_truth({value})")
                else:
                    lines.append(f"rs_c = {value} != 0")
            elif ex.test == "none":
                lines.append(f"rs_c = {value} is None" if rep == OBJ else "rs_c = 0")
            elif rep != OBJ or label in self.stored_items:   # a typed or stored for_iter: its status
                lines.append("rs_c = rs_fi == 0")
            else:
                lines.append(f"rs_c = rs_is_null({value})")
            true_lines = self.edge_lines(block, ex.edges[0][0], ex.edges[0][1], live)
            false_lines = self.edge_lines(block, ex.edges[1][0], ex.edges[1][1], live)
            if ex.test == "null" and self.item_slot(block)[0] == ex.value and label not in self.stored_items:
                true_lines.append(f"{self.nm(label, ex.value)} = None")    # exhausted: no item
            iterator = block.ops[-1].args[0] if ex.test == "null" and block.ops else None
            if iterator is not None and block.ops[-1].kind == "for_iter" and self.iterator_object(label, iterator):
                # before the edge drops it: the next loop may start it again (rs_get_iter)
                true_lines.insert(0, f"rs_keep_spare_iter(<PyObject *>{self.nm(label, iterator)})")
            if ex.polled_edge is not None:
                # after the jump, as ceval.c's CHECK_EVAL_BREAKER
                (true_lines, false_lines)[ex.polled_edge].append(f"rs_check_signals(f, {ex.index})")
            if true_lines or false_lines:
                lines.append("if rs_c:")
                lines += [INDENT + m for m in true_lines or ["pass"]]
                lines.append("else:")
                lines += [INDENT + m for m in false_lines or ["pass"]]
            return lines
        return []

    def iterator_object(self, label: int, iterator: str) -> bool:
        """Whether a for loop's iterator is an object the code holds."""
        return self.rep(label, iterator) == OBJ

    # -- the whole module -------------------------------------------------------
    def dispatch_lines(self) -> list[str]:
        """The except clause: find the handler of the instruction that raised."""
        lines = ["rs_e2 = rs_catch(f, rs_e)", "rs_lasti_v = rs_lasti(f)"]
        # the interpreter unwinds the value stack: drop what it held
        lines += [f"t{k} = None" for k in range(self.nslots)] + ["rs_t = None"]
        keyword = "if"
        for entry in self.ir.handler_table():
            lines.append(f"{keyword} {entry.start // 2} <= rs_lasti_v < {entry.end // 2}:")
            slot = entry.depth
            if entry.lasti:
                lines.append(INDENT + f"{phi_name(slot)} = rs_lasti_obj(f)")
                slot += 1
            lines.append(INDENT + f"{phi_name(slot)} = rs_e2")
            lines += [INDENT + f"{phi_name(k)} = None" for k in range(slot + 1, self.ir.max_depth + 1)]
            lines.append(INDENT + f"label = {entry.target}")
            keyword = "elif"
        # leaving the function: its typed locals go back into the frame
        # (tracebacks and debuggers read them there)
        propagate = self.writeback_lines() + ["rs_propagate(f, rs_e2)"]
        if keyword == "if":
            return lines + propagate
        return lines + ["else:"] + [INDENT + x for x in propagate]

    def returning(self) -> list[str]:
        return ["rs_ok = 1"] if self.ok_flag else []

    def body_lines(self) -> list[str]:
        # Typed locals must be back in the frame when an exception leaves
        # it (tracebacks and debuggers read them there).  Without handlers
        # of its own, a function does that in a `finally` that only acts
        # when no return set rs_ok: a Cython try/except would save and
        # restore the exception state on every call.
        self.ok_flag = not self.ir.handler_table() and bool(self.plan.local_reps)
        structured = mark_cold_paths(render(self.shape, self.block_code, label_var="label", indent=INDENT))
        fell_off = 'raise SystemError("restrain: control left the compiled body")'
        if self.ok_flag:
            lines = self.entry_lines() + ["try:"] + [INDENT + line for line in structured + [fell_off]]
            lines += ["finally:", INDENT + "if not rs_ok:"]
            return lines + [2 * INDENT + line for line in self.writeback_lines()]
        if not self.ir.handler_table():
            return self.entry_lines() + structured + [fell_off]
        lines = self.entry_lines() + ["while True:", INDENT + "try:"]
        lines += [2 * INDENT + line for line in structured + [fell_off]]
        lines.append(INDENT + "except BaseException as rs_e:")
        lines += [2 * INDENT + line for line in self.dispatch_lines()]
        lines.append(INDENT + "rs_restore_exc_info(f)")
        return lines

    def declarations(self, body: list[str]) -> list[str]:
        """Only the object variables the body uses: Cython sets each to
        None on entry and releases it on return, on every call."""
        plan = self.plan
        used = set(re.findall(r"\b(?:t|s|rs_p)\d+\b|\brs_t\b|\brs_e2\b", "\n".join(body)))
        names = [f"t{k}" for k in range(self.nslots)]
        names += [phi_name(i) for i in range(self.ir.max_depth + 1)]
        names += ["rs_t", "rs_e2"] + [f"rs_p{i}" for i in range(self.ir.max_depth + 1)]
        names = [n for n in names if n in used]
        decls = [f"cdef int label = {self.ir.entry}", "cdef int rs_c", "cdef int rs_fi", "cdef int rs_lasti_v",
                 "cdef bint rs_ok = 0"]
        if self.pure_globals:
            # rs_fd, rs_fl: restrain_abi.h rs_frame_pure_depth
            decls += [f"global {name}" for name in sorted(self.pure_globals)] + [
                "cdef int rs_cd = 0, rs_cb = 0, rs_cu = 0", "cdef int rs_fd = -1, rs_fl = 0"]
        if self.dynamic_sites:
            decls.append("cdef void *rs_dfn = NULL")
        borrowed = sorted(self.borrowed | self.pointer_decls)
        for i in range(0, len(borrowed), 16):
            decls.append("cdef PyObject " + ", ".join(f"*{n} = NULL" for n in borrowed[i:i + 16]))
        if self.array_decls:
            decls.append("cdef PyObject " + ", ".join(f"**{n} = NULL" for n in sorted(self.array_decls)))
        for i in range(0, len(names), 16):
            decls.append("cdef object " + ", ".join(names[i:i + 16]))
        typed = dict(plan.reps)
        typed.update({f"s{k}_{rep}": rep for (_, k), rep in plan.slot_reps.items()})
        typed.update(self.typed_decls)
        typed.update({f"L{i}": rep for i, rep in plan.local_reps.items()})
        typed.update({f"L{i}_set": BOOL for i in plan.local_reps})
        # the parallel-copy temporaries of typed slots
        typed.update({f"rs_p{k}_{rep}": rep for rep in set(plan.slot_reps.values())
                      for k in range(self.ir.max_depth + 1)})
        for rep in (INT, FLOAT, BOOL):
            group = sorted(n for n, r in typed.items() if r == rep)
            for i in range(0, len(group), 16):
                decls.append(f"cdef {C_TYPES[rep]} " + ", ".join(f"{n} = 0" for n in group[i:i + 16]))
        return decls

    def function_lines(self) -> list[str]:
        """The function's part of the module: its caches, bail function and
        entry point."""
        pure = PureEmitter(self.ir, self.shape, self.module_name, self.title, self.plan, self.prefix).version()
        self.pure_call = pure.call if pure is not None else []
        self.pure = pure.callee if pure is not None else None
        self.pure_text = "" if pure is None or self.needs_own_pure(pure) else "\n".join(pure.function)
        body = self.body_lines()
        own = pure.function if pure is not None and not self.pure_text else []
        from .frameless import frameless_version     # (it builds on this module's helpers)
        frameless = frameless_version(self.ir, self.shape, self.prefix)
        self.frameless = frameless.name if frameless is not None else None
        own += list(frameless.lines) if frameless is not None else []
        out = [f"# {self.title}"] + own + self.bail_function()
        out += [f"cdef PyObject *{c} = NULL" for c in self.guard_caches]
        out += [f"cdef RsGlobalCache {c}" for c in self.global_caches]
        out += [f"cdef RsAttrCache {c}" for c in self.attr_caches]
        out += [f"cdef RsMethodCache {c}" for c in self.method_caches]
        out += [f"cdef RsPureCallee {c}" for c in self.callee_caches]
        out += self.dynamic_sites
        out += ["", f"cdef object {self.prefix}rs_entry(RsFrame *f):"]
        out += [INDENT + line for line in self.declarations(body)]
        return out + [INDENT + line for line in body] + [""]

    def needs_own_pure(self, pure: PureVersion) -> bool:
        """Whether the function's own module carries its C version: when its
        entry calls it (a recursive function), or when it has no loop (a
        small leaf, which compiled calls of unknown callables may find: its
        C version costs the C compiler little).  A loop function's C
        version (a fifth more compile time) is built only into the modules
        of functions that call it (combined_source)."""
        from .costmodel import has_loop
        return bool(pure.call) or not has_loop(self.ir.cfg.decoded.code)

    def emitted(self) -> EmittedModule:
        function = "\n".join(self.function_lines())
        exports = [f'__restrain_entry__ = PyCapsule_New(<void*>{self.prefix}rs_entry, "restrain.entry", NULL)']
        if self.pure is not None and not self.pure_text:
            exports.append(f"__restrain_pure__ = {pure_export(self.pure)}")
        if self.frameless is not None:
            exports.append(f"__restrain_frameless__ = {frameless_export(self.frameless)}")
        source = "\n".join(_module_header(f"# Generated by restrain for {self.title}") + [function] + exports + [""])
        called = tuple(self.ir.cfg.decoded.code.co_names) + tuple(sorted(set(self.plan.passed_callees.values())))
        return EmittedModule(self.module_name, source, function, f"{self.prefix}rs_entry", self.title,
                             self.pure, called, self.pure_text, self.frameless)


class NotPure(Exception):
    """The function has something the C version cannot do."""


@dataclass(frozen=True)
class PureVersion:
    function: list[str]     # the C function (and the cache of its own global name)
    call: list[str]         # the entry's lines that try it first (a recursive function)
    callee: PureCallee      # how other functions of the module call it


# what the C version computes with (types.TypePlan's `how`, before the colon)
PURE_PLANS = ("int", "float", "cmp", "neg", "pos", "invert", "not")
# builtins it may call (on C values: they cannot raise, or give up where they would)
PURE_BUILTIN_CALLS = frozenset({"call:builtins.abs", "call:builtins.min", "call:builtins.max",
                                "call:builtins.int", "call:builtins.float"})
PURE_BAILS_ALLOWED = 8
# what a C version sets *rs_bail to: it cannot go on (an overflow, the
# recursion limit: counted against PURE_BAILS_ALLOWED), or the interpreter
# must serve a signal or a pending call (not counted)
BAIL_GAVE_UP, BAIL_INTERRUPTED = 1, 2


class PureEmitter(ModuleEmitter):
    """The C version of a function whose body is typed arithmetic on its
    C-typed arguments and on global constants, with abs, min, max, int and
    float (global_read), in branches and while loops, and calls of itself by
    its own global name, such as a recursive Fibonacci, or no calls at all
    (eval_A(i, j) of the spectral norm, or gcd's while loop, called by the
    other functions of its module: PureCallee), also looping over a list
    or tuple argument (`for c in coeffs`: loop_only_param), its items floats
    or ints:
    `cdef long long rs_pure(PyObject *rs_fn, args, int *rs_bail, int
    rs_depth)` (rs_fn: the function object, whose globals it reads),
    calling itself with C values, no frames, no boxing.  It has
    no side effects, so wherever the frame-full code would deoptimise (an
    overflow), or the interpreter would handle a signal or a pending call
    (a thread waiting for the GIL gets it: rs_pure_interrupted), or
    count a frame against the recursion limit, it gives up (sets
    *rs_bail) and the entry runs the call again from its start with frames
    (restrain_abi.h, "pure typed recursion").  version() is None for any
    other function."""

    def version(self) -> PureVersion | None:
        code = self.ir.cfg.decoded.code
        self.self_name = code.co_name
        args = list(range(code.co_argcount))
        typed = [i for i in args if self.plan.local_reps.get(i) in (INT, FLOAT)]
        if (code.co_kwonlyargcount or code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS)
                or code.co_cellvars or code.co_freevars or self.ir.handler_table() or not typed
                or sorted(self.plan.typed_args) != typed
                or any(i not in typed and not self.loop_only_param(i) for i in args)):
            return None
        self.arg_reps = [self.plan.local_reps.get(i, SEQ) for i in args]
        self.seq_params = {i for i in args if i not in typed}
        # the values of those parameters (their loads), and their iterators
        self.seq_loads = {op.results[0] for block in self.ir.blocks.values() for op in block.ops
                          if op.kind == "load_fast" and op.params[0] in self.seq_params}
        self.self_values: set[str] = set()
        self.pure_results: dict[str, str] = {}
        self.global_values: set[str] = set()       # borrowed values of globals it reads
        self.range_globals: set[str] = set()       # the builtin range, checked
        self.ranges: set[str] = set()              # range(...) results: rs_<v>_start, rs_<v>_stop
        # their iterators: values, and (block, k) stack slots, as rs_<name>_cur and rs_<name>_stop
        self.iterators, self.iterator_slots = self.range_iterators()
        # iterators of the list or tuple parameters, as rs_<name>_cur, _stop and _items
        self.seq_iterators = {op.results[0] for block in self.ir.blocks.values() for op in block.ops
                              if op.kind == "get_iter" and op.args[0] in self.seq_loads}
        self.seq_iterator_slots = self.slots_holding(self.seq_iterators)
        self.cache_tag = "p"
        try:
            self.return_rep = self.typed_return_rep()
            body = self.body_lines()
        except NotPure:
            return None
        if any(re.search(r"\bf\b|rs_at\(", line) for line in body):
            return None         # something still needs the frame
        name, cache, bails = f"{self.prefix}rs_pure", f"{self.prefix}rs_gcp", f"{self.prefix}rs_pure_bails"
        ctype = C_TYPES[self.return_rep]
        params = ", ".join(f"{PARAM_TYPES[rep]} rs_a{i}" for i, rep in zip(args, self.arg_reps))
        function = [f"cdef RsGlobalCache {cache}", f"cdef int {bails} = 0"]
        function += [f"cdef PyObject *{c} = NULL" for c in self.guard_caches]
        function += [f"cdef RsGlobalCache {c}" for c in self.global_caches]
        # A small leaf (no loop, no call of a C version: bump in
        # float_loops) is declared inline, so that the C compiler may put
        # it into the loop that calls it, whose C variables then stay in
        # registers (every SSE register is caller-saved, so around a call
        # a running float total goes through memory).  Not any bigger one:
        # inlining those cost more than it saved (newton_cbrt 0.75x).
        from .costmodel import has_loop
        small = not has_loop(code) and not self.pure_results and not self.callee_caches
        # rs_fn: the function object it runs for, whose globals it reads
        function += [f"cdef {'inline ' if small else ''}{ctype} {name}(PyObject *rs_fn, {params}, int *rs_bail, "
                     "int rs_depth) noexcept:"]
        function += [INDENT + line for line in self.declarations(body)]
        function += [INDENT + f"L{i} = rs_a{i}" for i in typed] + [INDENT + f"L{i}_set = 1" for i in typed]
        function += [INDENT + line for line in body] + [INDENT + f"rs_bail[0] = {BAIL_GAVE_UP}", INDENT + "return 0", ""]
        from .build import code_fingerprint
        callee = PureCallee(self.self_name, name, bails, tuple(self.arg_reps), self.return_rep,
                            code_fingerprint(code))
        if not self.pure_results:
            return PureVersion(function, [], callee)     # no call of itself: its entry has nothing to gain
        name_index = code.co_names.index(self.self_name)
        # Each time it gives up, the call runs again with frames, and so do
        # the calls that one makes (each trying the C version first): after
        # PURE_BAILS_ALLOWED of those (big integers, deep recursion, other
        # threads) the C version is not tried again.
        call = [f"global {bails}", "cdef int rs_pd = 0", "cdef int rs_pb = 0", f"cdef {ctype} rs_pr",
                f"if {bails} < {PURE_BAILS_ALLOWED}:",
                INDENT + f"rs_pd = rs_pure_budget(f, {name_index}, &{cache})",
                "if rs_pd > 0:",
                INDENT + f"rs_pr = {name}(rs_frame_function(f), {', '.join(f'L{i}' for i in args)}, &rs_pb, rs_pd)",
                INDENT + "if not rs_pb:", 2 * INDENT + "return rs_pr",
                INDENT + f"if rs_pb == {BAIL_GAVE_UP}:", 2 * INDENT + f"{bails} += 1"]
        return PureVersion(function, call, callee)

    def loop_only_param(self, i: int) -> bool:
        """Whether parameter `i` is only looped over (`for c in coeffs`):
        the C version takes it as an object and loops over it if it is a
        list or a tuple (restrain_abi.h rs_seq_items), else gives up."""
        from .costmodel import looped_over_only
        return looped_over_only(self.ir.cfg.decoded.code, i)

    def is_iterator(self, label: int, name: str) -> bool:
        return self.holds_iterator(label, name, self.iterators, self.iterator_slots)

    def is_seq_iterator(self, label: int, name: str) -> bool:
        return self.holds_iterator(label, name, self.seq_iterators, self.seq_iterator_slots)

    def typed_return_rep(self) -> str:
        reps = set()
        for label, block in self.ir.blocks.items():
            if block.exit.kind == "return":
                rep = self.plan.value_rep(label, block.exit.value)
                if rep != OBJ:
                    reps.add(rep)
        if len(reps) != 1 or not reps <= {INT, FLOAT}:
            raise NotPure("returns")
        return reps.pop()

    def nm(self, label: int, name: str) -> str:
        if name in self.pure_results:
            return f"u_{name}_{self.pure_results[name]}"
        return super().nm(label, name)

    def rep(self, label: int, name: str) -> str:
        return self.pure_results.get(name) or super().rep(label, name)

    def deopt_lines(self, block: IRBlock, op: Op, replaced: dict[str, str] | None = None) -> list[str]:
        return [f"rs_bail[0] = {BAIL_GAVE_UP}", "return 0"]

    def poll_test(self) -> str:
        """Where the interpreter polls the eval breaker: a C version serves
        a thread waiting for the GIL itself (restrain_abi.h
        rs_pure_interrupted) and gives up for anything else, but one that
        loops over a list or tuple argument gives up for that too: it
        reads the sequence's items and size once, and another thread
        could change a list while it waited for the GIL."""
        return "rs_pure_breaker()" if self.seq_params else "rs_pure_interrupted()"

    def interrupted_lines(self) -> list[str]:
        """Give up for a signal or a pending call, which the interpreter
        must serve (not the C version's fault: not counted by the callers)."""
        return [f"rs_bail[0] = {BAIL_INTERRUPTED}", "return 0"]

    def returning(self) -> list[str]:
        return []

    def entry_lines(self) -> list[str]:
        return []

    def iterator_object(self, label: int, iterator: str) -> bool:
        return False        # its loops are over ranges and parameters, as C variables

    @property
    def stored_items(self) -> dict[int, int]:
        return {}           # no frame, no locals in it

    def body_lines(self) -> list[str]:
        self.ok_flag = False
        return mark_cold_paths(render(self.shape, self.block_code, label_var="label", indent=INDENT))

    def block_code(self, label: int) -> BlockCode:
        # no object is ever made and nothing raises: the drops of the
        # (unused) object slots and the stores of prev_instr go
        code = super().block_code(label)
        lines = tuple(line for line in code.body
                      if not re.fullmatch(r"[ts]\d+ = None|rs_at\(f, \d+\)", line)) or ("pass",)
        return BlockCode(lines, code.exit)

    def edge_lines(self, block: IRBlock, target: int, values: tuple[str, ...], live: list[str]) -> list[str]:
        """The edge's C values into the target's slots (no object is ever
        made, so none is dropped); a range iterator is its two C variables."""
        label = block.label
        lines, keep = [], []
        for k, value in enumerate(values):
            slot = phi_name(k)
            if self.is_seq_iterator(label, value) != self.is_seq_iterator(target, slot):
                raise NotPure("a slot holding an iterator of a parameter on one path only")
            range_iterator = self.is_iterator(label, value)
            if not range_iterator and not self.is_seq_iterator(label, value):
                if self.rep(label, value) in (OBJ, "borrowed"):
                    raise NotPure("an object on the stack")
                keep.append(k)
                continue
            if value.startswith("s") and value != slot:
                raise NotPure("an iterator moving between stack slots")
            if value != slot:
                self.typed_decls.update({f"rs_{slot}_cur": INT, f"rs_{slot}_stop": INT})
                moved = ["cur", "stop"]
                if not range_iterator:
                    self.array_decls.add(f"rs_{slot}_items")
                    moved.append("items")
                lines += [f"rs_{slot}_{var} = rs_{value}_{var}" for var in moved]
        return lines + phi_moves(tuple(self.nm(label, values[k]) for k in keep),
                                 tuple(self.nm(target, phi_name(k)) for k in keep))

    def exit_lines(self, block: IRBlock, last_index, live: list[str]) -> list[str]:
        ex = block.exit
        if ex.kind == "return" and self.rep(block.label, ex.value) != self.return_rep:
            raise NotPure("return")
        if ex.kind == "branch" and self.rep(block.label, ex.value) == OBJ:
            raise NotPure("a branch on an object")
        lines = []
        for line in super().exit_lines(block, last_index, live):
            # a loop's back-edge: where the interpreter would poll, give up
            if re.fullmatch(r" *rs_check_signals\(f, \d+\)", line):
                indent = line[:len(line) - len(line.lstrip())]
                lines += [indent + f"if {self.poll_test()}:"] + [
                    indent + INDENT + x for x in self.interrupted_lines()]
            else:
                lines.append(line)
        return lines

    def op_code(self, block: IRBlock, op: Op, plan: OpPlan | None) -> list[str]:
        label = block.label
        if (op.kind == "load_fast" and op.params[0] in self.seq_params) or op.kind in ("get_iter", "for_iter", "pop") \
                and any(self.is_seq_iterator(label, a) or a in self.seq_loads for a in op.args):
            return self.seq_op(block, op, plan)
        if op.kind in ("call", "get_iter", "for_iter", "pop") and any(
                a in self.range_globals or a in self.ranges or self.is_iterator(label, a) for a in op.args):
            return self.range_op(block, op, plan)
        if op.kind == "load_global" and plan is None \
                and self.ir.cfg.decoded.code.co_names[op.params[0]] == "range":
            return self.range_global(block, op)
        if op.kind == "pop" and self.rep(label, op.args[0]) in (INT, FLOAT, BOOL):
            return []
        if op.kind == "const" and op.results[0] in self.borrowed:
            return []       # an object constant: only range()'s bounds take it, as a C literal
        if op.kind == "check_signals":
            return [f"if {self.poll_test()}:"] + [INDENT + x for x in self.interrupted_lines()]
        if op.kind == "null":
            return []
        if op.kind == "load_global":
            if self.ir.cfg.decoded.code.co_names[op.params[0]] != self.self_name:
                return self.global_read(block, op, plan)
            if plan is not None:
                raise NotPure("a global")
            self.self_values.add(op.results[0])
            return []
        if op.kind == "call":
            if plan is not None and plan.how in PURE_BUILTIN_CALLS:
                return super().op_code(block, op, plan)
            return self.self_call(block, op)
        if op.kind in ("load_fast", "store_fast", "const"):
            if any(self.rep(label, v) == OBJ for v in op.results + op.args):
                raise NotPure("an object local")
            return super().op_code(block, op, plan)
        if plan is None or plan.how.partition(":")[0] not in PURE_PLANS:
            raise NotPure(op.kind)
        plan = replace(plan, unbox=tuple((n, r) for n, r in plan.unbox if n not in self.pure_results))
        if any(n not in self.global_values for n, _ in plan.unbox):
            raise NotPure("an object operand")      # a global's value is unboxed (and checked) as in the entry
        return super().op_code(block, op, plan)

    def seq_op(self, block: IRBlock, op: Op, plan: OpPlan | None) -> list[str]:
        """A loop over a list or tuple parameter: the parameter checked
        (anything else: give up), its item array, size and an index as C
        variables (restrain_abi.h rs_seq_items: nothing can change the
        sequence while the C version runs, see poll_test), each item read
        borrowed and unboxed at once (another type: give up)."""
        label = block.label
        if op.kind == "load_fast":
            return []
        if op.kind == "get_iter":
            r, i = op.results[0], self.producers[op.args[0]].params[0]
            self.typed_decls.update({f"rs_{r}_cur": INT, f"rs_{r}_stop": INT})
            self.array_decls.add(f"rs_{r}_items")
            return [f"if rs_seq_items(rs_a{i}, &rs_{r}_items, &rs_{r}_stop):"] + [
                INDENT + x for x in self.deopt_lines(block, op)] + [f"rs_{r}_cur = 0"]
        if op.kind == "for_iter" and plan is not None and plan.how.startswith("iter:"):
            # the item unboxed as it is fetched (types.item_guess); not a float: give up
            it, r, rep = op.args[0], self.nm(label, op.results[0]), self.rep(label, op.results[0])
            return [f"rs_fi = rs_{it}_cur < rs_{it}_stop", "if rs_fi:",
                    INDENT + f"if rs_unbox_{rep}(<object>rs_{it}_items[rs_{it}_cur], &{r}):"] + [
                2 * INDENT + x for x in self.deopt_lines(block, op)] + [INDENT + f"rs_{it}_cur += 1"]
        if op.kind == "pop":
            return []
        raise NotPure(f"{op.kind} of a parameter")

    def range_global(self, block: IRBlock, op: Op) -> list[str]:
        """`range`, for a loop over range(stop) or range(start, stop): it
        must be the builtin (else give up: the frame-full code calls it)."""
        lines = self.global_read(block, op, None)
        value = op.results[0]
        self.range_globals.add(value)
        cache = f"{self.prefix}{self.cache_tag}rs_g{len(self.guard_caches)}"
        self.guard_caches.append(cache)
        return lines + [f'if rs_guard_function(<object>{value}, &{cache}, b"builtins", b"range"):'] + [
            INDENT + x for x in self.deopt_lines(block, op)]

    def range_op(self, block: IRBlock, op: Op, plan: OpPlan | None) -> list[str]:
        """A loop over a range as C variables: range(...) its bounds,
        iter() its current value and end, the loop's step a comparison."""
        label = block.label
        if op.kind == "call":
            null, callee, *args = op.args
            if callee not in self.range_globals or op.params[0] is not None or len(args) not in (1, 2):
                raise NotPure("a call of range")
            bounds = [self.c_value(label, a, INT) for a in args]
            if None in bounds:
                raise NotPure("a range of objects")
            r = op.results[0]
            self.ranges.add(r)
            self.typed_decls.update({f"rs_{r}_start": INT, f"rs_{r}_stop": INT})
            start = bounds[0] if len(bounds) == 2 else "0"
            return [f"rs_{r}_start = {start}", f"rs_{r}_stop = {bounds[-1]}"]
        if op.kind == "get_iter" and op.args[0] in self.ranges and op.results[0] in self.iterators:
            r, v = op.results[0], op.args[0]
            self.typed_decls.update({f"rs_{r}_cur": INT, f"rs_{r}_stop": INT})
            return [f"rs_{r}_cur = rs_{v}_start", f"rs_{r}_stop = rs_{v}_stop"]
        if op.kind == "for_iter" and self.is_iterator(label, op.args[0]) and plan is not None and plan.how == "range":
            it, r = op.args[0], self.nm(label, op.results[0])
            return [f"if rs_{it}_cur < rs_{it}_stop:", INDENT + f"{r} = rs_{it}_cur", INDENT + f"rs_{it}_cur += 1",
                    INDENT + "rs_fi = 1", "else:", INDENT + "rs_fi = 0"]
        if op.kind == "pop" and self.is_iterator(label, op.args[0]):
            return []
        raise NotPure(f"{op.kind} of a range")

    def global_read(self, block: IRBlock, op: Op, plan: OpPlan | None) -> list[str]:
        """A global other than itself: a constant (MASK) its arithmetic
        unboxes, or a builtin it calls (abs, min, max), read borrowed from
        the function's globals and builtins; none: give up (the frame-full
        code raises the NameError)."""
        if plan is not None and plan.how.startswith("global:"):
            return self.global_into(block, op, plan, "rs_fn")
        if plan is not None and not (plan.how.startswith("guard:builtins.")
                                     and "call:" + plan.how[len("guard:"):] in PURE_BUILTIN_CALLS):
            raise NotPure("a global")
        value = op.results[0]
        self.borrowed.add(value)
        self.global_values.add(value)
        cache = f"{self.prefix}{self.cache_tag}rs_gc{len(self.global_caches)}"
        self.global_caches.append(cache)
        lines = [f"{value} = rs_pure_global(rs_fn, {op.params[0]}, &{cache})", f"if {value} == NULL:"]
        lines += [INDENT + x for x in self.deopt_lines(block, op)]
        if plan is not None:
            lines += self.guard_lines(block, replace(op, results=(f"<object>{value}",)), plan)
        return lines

    def self_call(self, block: IRBlock, op: Op) -> list[str]:
        """f(args) of the function itself: a C call of the C version."""
        label = block.label
        first, callee, *args = op.args
        if callee not in self.self_values or op.params[0] is not None or len(args) != len(self.arg_reps) \
                or any(self.rep(label, a) != rep for a, rep in zip(args, self.arg_reps)):
            raise NotPure("a call")
        result = op.results[0]
        self.pure_results[result] = self.return_rep
        shadow = self.nm(label, result)
        self.typed_decls[shadow] = self.return_rep
        values = ", ".join(self.nm(label, a) for a in args)
        return ["if rs_depth <= 0:"] + [INDENT + x for x in self.deopt_lines(block, op)] + [
            f"{shadow} = {self.prefix}rs_pure(rs_fn, {values}, rs_bail, rs_depth - 1)",
            "if rs_bail[0]:", INDENT + "return 0"]


def _module_header(comment: str) -> list[str]:
    return [
        "# cython: language_level=3, boundscheck=False, wraparound=False",
        "# cython: binding=False, embedsignature=False, annotation_typing=False",
        comment,
        "from restrain_abi cimport *",
        "from cpython.object cimport PyObject",
        "",
        "__restrain_compiled__ = True",
        "rs_import_api()      # direct calls of other compiled functions; list.append",
        "",
    ]


def emit_module(ir: IRFunction, shape: Shape, module_name: str, title: str,
                plan: TypePlan | None = None, prefix: str = "", pure_callees: dict | None = None) -> EmittedModule:
    return ModuleEmitter(ir, shape, module_name, title, plan, prefix, pure_callees).emitted()


def callees_among(members: list[EmittedModule]) -> dict[str, PureCallee]:
    """The C versions the functions of one module may call each other
    through, by global name (a name two of them share is left out)."""
    found: dict[str, list] = {}
    for member in members:
        if member.pure is not None:
            found.setdefault(member.pure.name, []).append(member.pure)
    return {name: versions[0] for name, versions in found.items() if len(versions) == 1}


def member_prefix(index: int) -> str:
    """The name prefix of the index-th function of a combined module."""
    return f"m{index}_"


def combined_source(module_name: str, members: list[tuple[str, EmittedModule]], installed_as: int = 0,
                    companions: list[EmittedModule] = ()) -> str:
    """One module holding several functions (emitted with distinct
    prefixes): one Cython and C compiler run instead of one per function,
    most of whose time goes to Cython's utility code, the same in every
    module.  `members` pairs each function with the module name it is
    installed under in the cache: the module exports an init function
    under each of those names (importing needs PyInit_<name>), and
    `__restrain_entries__` maps each name to its function's entry.  The
    first comment names the function of member `installed_as` (the copy of
    the source stored with that member's entry), then the others.  The
    functions of `companions` are in it for the members to call their C
    versions (PureCallee); they have no entry of their own here."""
    titles = [member.title for _, member in members] + [c.title + " (for its C version)" for c in companions]
    others = titles[:installed_as] + titles[installed_as + 1:]
    out = _module_header(f"# Generated by restrain for {titles[installed_as]}, in one module with: "
                         + "; ".join(others))
    aliases = [name for name, _ in members if name != module_name]
    if aliases:
        # each copy of the module in the cache is imported under its own name
        verbatim = [f"PyMODINIT_FUNC PyInit_{module_name}(void);"]
        verbatim += [f"PyMODINIT_FUNC PyInit_{name}(void) {{ return PyInit_{module_name}(); }}" for name in aliases]
        out += ['cdef extern from *:', INDENT + '"""'] + [INDENT + line for line in verbatim]
        out += [INDENT + '"""', ""]
    everyone = list(companions) + [member for _, member in members]     # callees first
    called = {name for member in everyone for name in member.global_names}
    carried = []       # the members whose C version is in the module
    for member in everyone:
        if member.pure_function and (any(member is c for c in companions) or member.pure.name in called):
            out.append(member.pure_function)
            carried.append(member)
        elif member.pure is not None and not member.pure_function:
            carried.append(member)           # in its function's text
        out.append(member.function)
    exports = ", ".join(f'"{name}": PyCapsule_New(<void*>{member.entry}, "restrain.entry", NULL)'
                        for name, member in members)
    pures = ", ".join(f'"{name}": {pure_export(member.pure)}' for name, member in members
                      if any(member is c for c in carried))
    framelesses = ", ".join(f'"{name}": {frameless_export(member.frameless)}' for name, member in members
                            if member.frameless is not None)
    return "\n".join(out + [f"__restrain_entries__ = {{{exports}}}", f"__restrain_pures__ = {{{pures}}}",
                            f"__restrain_framelesses__ = {{{framelesses}}}", ""])


def frameless_export(version: str) -> str:
    """A frameless version (its RsFlVersion) as the module exports it
    (hook.set_frameless)."""
    return f'PyCapsule_New(<void*>&{version}, "restrain.frameless", NULL)'


def pure_export(callee: PureCallee) -> str:
    """A C version as the module exports it, for load.py to hand to the
    evaluator (hook.set_entry): (capsule, signature)."""
    return f'(PyCapsule_New(<void*>{callee.function}, "restrain.pure", NULL), "{callee.signature}")'
