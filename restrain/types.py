"""Type specialisation: which IR values can live in C variables.

Input: the IR and the feedback (feedback.py).  Output: a `TypePlan`, side
tables the emitter reads:

* a representation for every temporary and for some locals:
  "int" (C long long), "float" (C double), "bool" (C bint) or "object";
* for each specialised op, how it is done (`OpPlan`), including which
  object operands are *guessed* ("unboxed") to be int or float;
* which ops may hand the frame back to the interpreter (deoptimise).

Where the types come from:
  constants; argument types seen on the hot call (guarded at entry);
  the interpreter's own specialisations at an instruction (guarded where
  the operand is unboxed); `range` loops (the iterator's type is checked
  on every step); a few builtins and `math` functions whose identity is
  checked where they are loaded; and the rules of Python arithmetic.

Every typed operation that can leave the C type (integer overflow, a
zero divisor, a float that is really an int, ...) deoptimises: the live
state is written back into the frame and the interpreter re-runs that
very instruction.  So the rules here only decide what is fast, never what
is computed.

Deoptimisation is only allowed outside exception handlers (the
interpreter's exception-info stack is not the compiled code's there) and
in functions whose locals no one can read by name (`locals()` etc.).

Value numbering is the IR's: temporaries are SSA within a block; the
per-depth stack variables (s0, s1, ...) always hold objects, so a typed
value is boxed when it travels between blocks on the stack (by Cython).
Locals are fixed-type for the whole function: a local is typed only when
every value stored into it has the same C type.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional

from .feedback import Feedback
from .ir import IRFunction, Op, phi_name

OBJ, INT, FLOAT, BOOL = "object", "int", "float", "bool"
BOTTOM = None  # not known yet (optimistic start of the fixpoint)

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

# BINARY_OP's oparg (Include/opcode.h NB_*); in-place forms are +13.
ADD, AND, FLOORDIV, LSHIFT, MATMUL, MUL, MOD, OR, POW, RSHIFT, SUB, TRUEDIV, XOR = range(13)
INT_OPS = {ADD: "add", SUB: "sub", MUL: "mul", FLOORDIV: "floordiv", MOD: "mod", AND: "and",
           OR: "or", XOR: "xor", LSHIFT: "lshift", RSHIFT: "rshift", POW: "pow", TRUEDIV: "truediv"}
FLOAT_OPS = {ADD: "add", SUB: "sub", MUL: "mul", TRUEDIV: "truediv", FLOORDIV: "floordiv",
             MOD: "mod", POW: "pow"}
# int ops whose C form can never leave int64
INT_TOTAL = {"and", "or", "xor"}
# 3.11 does not specialise these: with an int on one side, the other side
# is guessed to be an int too (bit operations are on ints; a float there
# raises TypeError, which the guess's failure leaves to the interpreter)
BIT_OPS = {AND, OR, XOR, LSHIFT, RSHIFT}
FLOAT_TOTAL = {"add", "sub", "mul"}

# Names that let other code read a frame's locals by name: typed locals
# would be stale there, so such functions keep all locals as objects.
FRAME_READERS = frozenset({"locals", "vars", "exec", "eval", "_getframe", "currentframe",
                           "settrace", "breakpoint", "set_trace", "f_locals"})


@dataclass(frozen=True)
class Builtin:
    """A builtin or math function computed in C when its arguments are typed."""
    module: str
    name: str
    arity: int


BUILTINS = {
    ("builtins", n): Builtin("builtins", n, a)
    for n, a in (("len", 1), ("abs", 1), ("min", 2), ("max", 2), ("int", 1), ("float", 1), ("ord", 1))
}
MATH_FUNCS1 = ("sqrt", "sin", "cos", "tan", "exp", "log", "fabs", "atan", "floor", "ceil")
BUILTINS.update({("math", n): Builtin("math", n, 1) for n in MATH_FUNCS1})
BUILTINS.update({("math", n): Builtin("math", n, 2) for n in ("atan2", "hypot")})


@dataclass(frozen=True)
class OpPlan:
    """How one op is specialised.

    how:
      "int:<op>", "float:<op>"   arithmetic in C on (converted) operands
      "int:lshift_wrap", "int:and_wrapped"  a shift whose only use masks it
                                 (TypeInference.fuse_masked_shifts)
      "cmp:int" / "cmp:float"    comparison in C
      "neg:int", "neg:float", "pos:…", "invert:int", "not"
      "getitem:int"             container[C integer]
      "getitem:truth"           container[C integer] used only by a branch on
                                its truth (TypeInference.fuse_item_truth)
      "setitem:int"
      "store:<rep>"              an object stored into a local guessed to be of
                                 that type (TypeInference.guess_locals_from_uses)
      "range"                    for_iter over a range iterator
      "iter:<rep>"               for_iter whose item goes into a local guessed
                                 to be of that type (TypeInference.item_guess)
      "guard:<module>.<name>"    the loaded object must be that function
      "call:<module>.<name>"     a guarded function computed in C
      "purecall:<rep>"           a call of a function with a C version, its
                                 result of that type (TypeInference.pure_call)
      "dyncall:<rep>"            a call of anything with C arguments, trying
                                 a C version (TypeInference.plan_dynamic_calls)
      "unbound"                  (never used)
    operands: per arg, the representation it is used in ("int"/"float"/...)
    unbox: arg names guessed to be of the given type (checked, deopt)
    """
    how: str
    operands: tuple[str, ...] = ()
    unbox: tuple[tuple[str, str], ...] = ()
    deopt: bool = False


@dataclass
class TypePlan:
    reps: dict[str, str] = field(default_factory=dict)          # temp -> rep (typed only)
    local_reps: dict[int, str] = field(default_factory=dict)    # local index -> rep (typed only)
    ops: dict[tuple[int, int], OpPlan] = field(default_factory=dict)  # (label, position) -> plan
    deopt_blocks: frozenset[int] = frozenset()
    typed_args: tuple[int, ...] = ()                           # typed locals that are arguments
    resume_index: dict[int, int] = field(default_factory=dict)  # instruction index -> where to resume
    slot_reps: dict[tuple[int, int], str] = field(default_factory=dict)  # (label, depth) -> rep (typed only)
    assigned_in: dict[int, frozenset[int]] = field(default_factory=dict)  # label -> locals surely bound on entry
    # subscripts read straight into a C variable (never boxed): value -> rep
    fused: dict[str, str] = field(default_factory=dict)
    # argument index -> name of the function it was on the sampled call,
    # whose C version the module may carry (Feedback.arg_callees; emit:
    # passed_callee calls it directly behind the callee guard)
    passed_callees: dict[int, str] = field(default_factory=dict)

    def slot_name(self, label: int, name: str) -> str:
        """The variable holding stack value `name` in block `label`: a
        typed slot has its own C variable (s1_int)."""
        if name in self.fused:
            return f"u_{name}_{self.fused[name]}"
        if name[0] == "s":
            rep = self.slot_reps.get((label, int(name[1:])))
            if rep is not None:
                return f"{name}_{rep}"
        return name

    def value_rep(self, label: int, name: str) -> str:
        if name in self.fused:
            return self.fused[name]
        if name[0] == "s":
            return self.slot_reps.get((label, int(name[1:])), OBJ)
        return self.reps.get(name, OBJ)

    def rep(self, name: str) -> str:
        return self.reps.get(name, OBJ)

    @property
    def can_deopt(self) -> bool:
        return bool(self.typed_args) or any(p.deopt for p in self.ops.values())

    def dump(self) -> str:
        lines = []
        if self.slot_reps:
            lines.append("stack slots: " + ", ".join(f"{l}/s{k}:{r}" for (l, k), r in sorted(self.slot_reps.items())))
        if self.local_reps:
            lines.append("locals: " + ", ".join(f"{i}:{r}" for i, r in sorted(self.local_reps.items())))
        if self.typed_args:
            lines.append(f"arguments checked at entry: {list(self.typed_args)}")
        typed = {n: r for n, r in self.reps.items()}
        if typed:
            lines.append("values: " + ", ".join(f"{n}:{r}" for n, r in typed.items()))
        for (label, pos), plan in sorted(self.ops.items()):
            extra = f" unbox {dict(plan.unbox)}" if plan.unbox else ""
            lines.append(f"  block {label} op {pos}: {plan.how}{' (may deopt)' if plan.deopt else ''}{extra}")
        for i, name in sorted(self.passed_callees.items()):
            lines.append(f"argument {i}: calls of it try the C version of {name}")
        if not lines:
            lines.append("(nothing specialised: generic code)")
        return "\n".join(lines)


def join(a, b):
    if a is BOTTOM:
        return b
    if b is BOTTOM or a == b:
        return a
    return OBJ


def const_rep(value) -> str:
    if type(value) is int and INT64_MIN <= value <= INT64_MAX:
        return INT
    if type(value) is float and value - value == 0.0:   # finite: a C literal
        return FLOAT
    return OBJ


class TypeInference:
    def __init__(self, ir: IRFunction, feedback: Feedback, pure_callees: dict | None = None):
        self.ir = ir
        self.fb = feedback
        self.pure_callees = pure_callees or {}
        self.guessed_locals: dict[int, str] = {}     # guess_locals_from_uses
        self.block_uses: dict[int, dict[str, list[int]]] = {}   # uses_in
        self.code = ir.cfg.decoded.code
        self.defs: dict[str, Op] = {r: op for b in ir.blocks.values() for op in b.ops for r in op.results}
        self.deopt_blocks = self.blocks_that_may_deopt()
        self.resume = self.resume_indices()
        self.range_slots = self.range_iterator_slots()
        self.excluded_locals = self.untypable_locals()
        self.vars: dict[tuple, Optional[str]] = {}
        self.label = ir.entry
        self.reps: dict[str, Optional[str]] = {}
        self.ops: dict[tuple[int, int], OpPlan] = {}

    # -- where deoptimising is allowed -----------------------------------------
    def blocks_that_may_deopt(self) -> frozenset[int]:
        if FRAME_READERS & set(self.code.co_names):
            return frozenset()
        ir = self.ir
        # active exception-info entries on entry to each block (PUSH_EXC_INFO
        # .. POP_EXCEPT): the largest count on any path
        active: dict[int, int] = {ir.entry: 0}
        work = [ir.entry]
        while work:
            label = work.pop()
            block = ir.blocks[label]
            n = active[label]
            peak = n
            for op in block.ops:
                if op.kind == "push_exc_info":
                    n += 1
                elif op.kind == "pop_except":
                    n -= 1
                peak = max(peak, n)
            # bounded, so that a loop the compiler left unbalanced cannot
            # make this climb for ever
            n, peak = min(n, 8), min(peak, 8)
            for target, _ in block.exit.edges:
                if active.get(target, -1) < n:
                    active[target] = n
                    work.append(target)
            # an exception leaves with the count it had where it was raised
            if block.handler_label is not None and active.get(block.handler_label, -1) < peak:
                active[block.handler_label] = peak
                work.append(block.handler_label)
        ok = set()
        for label, block in ir.blocks.items():
            if active.get(label, 1) == 0 and not block.is_handler_entry and not any(
                    op.kind in ("push_exc_info", "pop_except") for op in block.ops):
                ok.add(label)
        return frozenset(ok)

    def untypable_locals(self) -> set[int]:
        out = set()
        for block in self.ir.blocks.values():
            for op in block.ops:
                if op.kind in ("delete_fast", "make_cell"):
                    out.add(op.params[0])
        if FRAME_READERS & set(self.code.co_names):
            out.update(range(len(self.code.co_varnames)))
        return out

    # -- range loops --------------------------------------------------------------
    def range_iterator_slots(self) -> set[tuple[int, int]]:
        """(block, depth) whose stack slot holds `iter(range(...))` on entry,
        by a greatest fixpoint over the edges (a guess: checked at run time)."""
        ir, defs = self.ir, self.defs

        def is_range_iter(value: str) -> bool:
            d = defs.get(value)
            if d is None or d.kind != "get_iter":
                return False
            call = defs.get(d.args[0])
            if call is None or call.kind != "call" or call.params[0] is not None:
                return False
            callee = defs.get(call.args[1])
            return (callee is not None and callee.kind == "load_global"
                    and self.code.co_names[callee.params[0]] == "range")

        incoming: dict[tuple[int, int], list[tuple[int, str]]] = {}
        for b in ir.blocks.values():
            for target, values in b.exit.edges:
                for k, v in enumerate(values):
                    incoming.setdefault((target, k), []).append((b.label, v))
        # a handler finds the protected blocks' slots below its depth as they were
        for b in ir.blocks.values():
            entry = ir.cfg.blocks[b.label].handler
            if entry is not None and b.handler_label is not None:
                for k in range(min(entry.depth, len(b.stack_in))):
                    incoming.setdefault((b.handler_label, k), []).append((b.label, phi_name(k)))
        slots = {key for key, vals in incoming.items()
                 if all(is_range_iter(v) or v == phi_name(key[1]) for _, v in vals)}
        changed = True
        while changed:
            changed = False
            for key in list(slots):
                for src, v in incoming[key]:
                    if v == phi_name(key[1]) and (src, key[1]) not in slots:
                        slots.discard(key)
                        changed = True
                        break
        return slots

    # -- the fixpoint ----------------------------------------------------------------
    # Variables that carry a type across ops: locals ("L", index) and the
    # stack slots a block starts with ("S", label, depth).  Both start
    # unknown and rise to int, float or object as assignments are seen
    # (stores for locals, incoming edges for slots); then the unknowns left
    # are objects and the typed ones are re-checked until consistent.
    def base_types(self) -> dict[tuple, Optional[str]]:
        code, ir = self.code, self.ir
        nargs = code.co_argcount + code.co_kwonlyargcount
        base: dict[tuple, Optional[str]] = {}
        for i in range(code.co_nlocals):
            if i in self.excluded_locals:
                base[("L", i)] = OBJ
            elif i < nargs:
                r = self.fb.arg_type(i)
                base[("L", i)] = r if r in (INT, FLOAT) and ir.entry in self.deopt_blocks else OBJ
            else:
                base[("L", i)] = BOTTOM
        for label, block in ir.blocks.items():
            # exception handlers find their slots as objects
            plain = block.handler_label is None and not block.is_handler_entry
            for k in range(len(block.stack_in)):
                base[("S", label, k)] = BOTTOM if plain else OBJ
        return base

    def run(self) -> TypePlan:
        base = self.base_types()
        self.vars = dict(base)
        # optimistic again: a run after guessed or excluded locals starts
        # from unknowns, not from the last run's objects (a loop-carried
        # `total += y` in a branch without feedback stayed an object)
        self.finalising = False
        for _ in range(50):
            assigned = self.one_pass()
            new = {key: join(base[key], assigned.get(key, BOTTOM)) for key in base}
            new = {key: (OBJ if (r == BOOL and key[0] == "L") else r) for key, r in new.items()}
            if new == self.vars:
                break
            self.vars = new
        typed = {key: r for key, r in self.vars.items() if r in (INT, FLOAT, BOOL)}
        self.finalising = True
        while True:
            self.vars = {key: typed.get(key, OBJ) for key in base}
            assigned = self.one_pass()
            bad = {key for key, r in typed.items() if assigned.get(key, r) != r}
            if not bad:
                break
            for key in bad:
                del typed[key]
        code = self.code
        nargs = code.co_argcount + code.co_kwonlyargcount
        local_reps = {key[1]: r for key, r in typed.items() if key[0] == "L"}
        guesses = self.guess_locals_from_uses(local_reps)
        if guesses:
            # infer again with those locals typed (they only grow: bounded)
            self.guessed_locals = {**self.guessed_locals, **guesses}
            return self.run()
        called = self.plan_dynamic_calls()
        typed_use = self.typed_uses()
        boxed = self.boxed_only_arguments(local_reps, nargs, typed_use)
        if boxed:
            # stay objects: infer again with them excluded (they only shrink)
            self.excluded_locals = self.excluded_locals | boxed
            return self.run()
        slot_reps = {(key[1], key[2]): r for key, r in typed.items() if key[0] == "S"}
        fused = self.fuse_item_unboxing()
        fused.update(self.fuse_item_truth())
        fused.update(self.fuse_global_unboxing())
        fused.update(called)
        self.fuse_masked_shifts()
        for name in self.boxed_only_constants(typed_use):
            del self.reps[name]
        return TypePlan({n: r for n, r in self.reps.items() if r in (INT, FLOAT, BOOL)},
                        local_reps, self.ops, self.deopt_blocks,
                        tuple(i for i in range(nargs) if i in local_reps), self.resume,
                        slot_reps, self.definitely_assigned(), fused,
                        dict(self.fb.arg_callees) if self.fb.speculate else {})

    def boxed_only_constants(self, typed_use: dict[str, bool]) -> list[str]:
        """Typed constants that every use takes as an object (`n < 2` when
        `n` is not typed): a C variable would be boxed again at each use,
        while the constant object itself is at hand (co_consts)."""
        consts = {op.results[0] for block in self.ir.blocks.values() for op in block.ops
                  if op.kind == "const" and self.reps.get(op.results[0]) in (INT, FLOAT, BOOL)}
        return [c for c in consts if not typed_use.get(c, True)]

    def boxed_only_arguments(self, local_reps: dict[int, str], nargs: int,
                             typed_use: dict[str, bool]) -> set[int]:
        """Typed arguments never assigned to whose every load is taken as an
        object (`power *= base` once that multiplication has overflowed and
        runs generic): unboxed at entry, they would be boxed again at each
        use, while the argument object is in the frame."""
        loads: dict[int, list[str]] = {}
        assigned = set()
        for block in self.ir.blocks.values():
            for op in block.ops:
                if op.kind == "load_fast":
                    loads.setdefault(op.params[0], []).append(op.results[0])
                elif op.kind in ("store_fast", "delete_fast"):
                    assigned.add(op.params[0])
        return {i for i in local_reps if i < nargs and i not in assigned
                and not any(typed_use.get(r, True) for r in loads.get(i, ()))}

    def typed_uses(self) -> dict[str, bool]:
        """For each value, whether some use of it takes it typed (unboxed),
        under the current plan (self.ops)."""
        typed_use: dict[str, bool] = {}
        for label, block in self.ir.blocks.items():
            for pos, op in enumerate(block.ops):
                plan = self.ops.get((label, pos))
                # range(n)'s bounds: boxed once per loop, and C values in a
                # C version (emit.PureEmitter), which needs typed arguments
                bounds = self.calls_range(op)
                for j, a in enumerate(op.args):
                    used_typed = op.kind == "store_fast" or (bounds and j >= 2) or (
                        plan is not None and (j >= len(plan.operands) or plan.operands[j] != OBJ))
                    typed_use[a] = typed_use.get(a, False) or used_typed
            for _, values in block.exit.edges:
                for v in values:
                    typed_use[v] = True
            if block.exit.value:
                typed_use[block.exit.value] = True
        return typed_use

    def calls_range(self, op: Op) -> bool:
        if op.kind != "call" or op.params[0] is not None:
            return False
        load = self.defs.get(op.args[1])
        return load is not None and load.kind == "load_global" and self.code.co_names[load.params[0]] == "range"

    def unboxed_by_user(self, label: int, op: Op, upos: int) -> Optional[str]:
        """INT or FLOAT if the op at `upos` (op's one use) unboxes op's result
        to it (a guess, checked there), else None."""
        uplan = self.ops.get((label, upos))
        rep = dict(uplan.unbox).get(op.results[0]) if uplan is not None else None
        return rep if rep in (INT, FLOAT) else None

    def fuse(self, label: int, pos: int, upos: int, plan: OpPlan) -> None:
        """The op at `pos` produces its result as a C value itself (`plan`,
        which checks it): its user no longer unboxes it."""
        r = self.ir.blocks[label].ops[pos].results[0]
        self.ops[(label, pos)] = plan
        uplan = self.ops[(label, upos)]
        self.ops[(label, upos)] = replace(uplan, unbox=tuple(u for u in uplan.unbox if u[0] != r))

    def fuse_item_unboxing(self) -> dict[str, str]:
        """`xs[i]` whose only use unboxes it (guessed float or int) is read
        straight into a C variable: no reference, no box; anything else
        there (another type, an index error, not a list or tuple)
        deoptimises at the subscript and the interpreter does it."""
        fused: dict[str, str] = {}
        for label, pos, op, upos, _ in self.sole_uses():
            plan = self.ops.get((label, pos))
            if plan is None or plan.how != "getitem:int" or self.failed_before(op.index):
                continue
            rep = self.unboxed_by_user(label, op, upos)
            if rep is None:
                continue
            self.fuse(label, pos, upos, OpPlan("getitem:int", plan.operands, ((op.results[0], rep),), True))
            fused[op.results[0]] = rep
        return fused

    def fuse_item_truth(self) -> dict[str, str]:
        """`if flags[n]:` -- xs[i] whose only use is the branch that ends its
        block: tested where it lies (restrain_abi.h rs_item_truth_i), never
        made an object.  Only as the block's last op, so that no
        deoptimisation after it needs the item on the stack."""
        fused: dict[str, str] = {}
        for label, block in self.ir.blocks.items():
            ex = block.exit
            if ex.kind != "branch" or ex.test != "truth" or not block.ops:
                continue
            pos = len(block.ops) - 1
            plan = self.ops.get((label, pos))
            if plan is None or plan.how != "getitem:int" or plan.unbox or block.ops[pos].results != (ex.value,) \
                    or any(ex.value in values for _, values in ex.edges) \
                    or any(ex.value in op.args for op in block.ops):
                continue
            self.ops[(label, pos)] = OpPlan("getitem:truth", plan.operands)
            fused[ex.value] = BOOL
        return fused

    def fuse_global_unboxing(self) -> dict[str, str]:
        """A global whose only use unboxes it (`(x << 13) & MASK`, the and
        guessing an int) is read straight into a C variable, its unboxed
        value cached while the globals are unchanged (rs_global_int);
        another type or no such global deoptimises at the load."""
        fused: dict[str, str] = {}
        for label, pos, op, upos, _ in self.sole_uses():
            if op.kind != "load_global" or (label, pos) in self.ops or self.failed_before(op.index):
                continue
            rep = self.unboxed_by_user(label, op, upos)
            if rep is None:
                continue
            self.fuse(label, pos, upos, OpPlan(f"global:{rep}", (), ((op.results[0], rep),), True))
            fused[op.results[0]] = rep
        return fused

    def sole_uses(self):
        """(label, pos, op, upos, user) for each op of a block that may
        deoptimise whose one result is used once, by an op of the same
        block (and not carried out of it): what the fusions rewrite."""
        for label, block in self.ir.blocks.items():
            if label not in self.deopt_blocks:
                continue
            exits = {v for _, values in block.exit.edges for v in values} | {block.exit.value}
            uses = self.uses_in(label)
            for pos, op in enumerate(block.ops):
                if len(op.results) != 1 or op.results[0] in exits:
                    continue
                found = uses.get(op.results[0], ())
                if len(found) == 1:
                    yield label, pos, op, found[0], block.ops[found[0]]

    def plan_dynamic_calls(self) -> dict[str, str]:
        """`f(x)` with C arguments, whose only use unboxes its result
        (`total += f(a + i * h)`, f an argument): the call tries the C
        version of whatever function f turns out to be (emit.dynamic_call,
        by the signature of these C types), its result straight into a C
        variable; otherwise the ordinary call, its result unboxed (another
        type deoptimises at the next instruction, the result on the
        stack).  Returns the results so typed (as TypePlan.fused)."""
        import builtins
        typed: dict[str, str] = {}
        if not self.fb.speculate:
            return typed
        for label, pos, op, upos, _ in self.sole_uses():
            if op.kind != "call" or op.params[0] is not None or (label, pos) in self.ops \
                    or len(op.args) < 3 or self.failed_before(op.index) or not self.resumes_after(label, pos):
                continue
            null, load = self.defs.get(op.args[0]), self.defs.get(op.args[1])
            arg_reps = tuple(self.reps.get(a) for a in op.args[2:])
            if null is None or null.kind != "null" or not all(r in (INT, FLOAT) for r in arg_reps) \
                    or (load is not None and load.kind == "load_global"
                        and hasattr(builtins, self.code.co_names[load.params[0]])):
                continue
            rep = self.unboxed_by_user(label, op, upos)
            if rep is None:
                continue
            self.fuse(label, pos, upos, OpPlan(f"dyncall:{rep}", (OBJ, OBJ) + arg_reps, deopt=True))
            typed[op.results[0]] = rep
        return typed

    def fuse_masked_shifts(self) -> None:
        """`(x << k) & MASK` (xorshift): the shift alone often outgrows 64
        bits, the masked result does not when the mask is not negative.
        The shift keeps its low 64 bits and whether they are all of it
        (int:lshift_wrap) and the `&` decides (int:and_wrapped): exact for
        a mask >= 0, else it deoptimises, the exact shift going onto the
        interpreter's stack (emit: rs_i_lshift_exact)."""
        for label, pos, op, upos, user in self.sole_uses():
            plan, uplan = self.ops.get((label, pos)), self.ops.get((label, upos))
            if plan is None or plan.how != "int:lshift" or self.failed_before(op.index) \
                    or uplan is None or uplan.how != "int:and" or self.failed_before(user.index):
                continue
            self.ops[(label, pos)] = replace(plan, how="int:lshift_wrap", deopt=True)
            self.ops[(label, upos)] = replace(uplan, how="int:and_wrapped", deopt=True)

    def definitely_assigned(self) -> dict[int, frozenset[int]]:
        """Locals bound on entry to each block on every path (a must
        analysis), so that loads of typed locals skip the unbound check."""
        ir, code = self.ir, self.code
        nargs = code.co_argcount + code.co_kwonlyargcount
        everything = frozenset(range(code.co_nlocals))
        stores = {label: frozenset(op.params[0] for op in b.ops if op.kind == "store_fast")
                  for label, b in ir.blocks.items()}
        deletes = {label: frozenset(op.params[0] for op in b.ops if op.kind == "delete_fast")
                   for label, b in ir.blocks.items()}
        into: dict[int, frozenset[int]] = {label: everything for label in ir.blocks}
        into[ir.entry] = frozenset(range(nargs))
        preds: dict[int, list[tuple[int, bool]]] = {label: [] for label in ir.blocks}
        for label, b in ir.blocks.items():
            for target, _ in b.exit.edges:
                preds[target].append((label, False))
            if b.handler_label is not None:
                preds[b.handler_label].append((label, True))
        changed = True
        while changed:
            changed = False
            for label in ir.blocks:
                if label == ir.entry:
                    continue
                sets = []
                for p, exceptional in preds[label]:
                    # an exception may leave p before any of its stores
                    out = into[p] - deletes[p] if exceptional else (into[p] | stores[p]) - deletes[p]
                    sets.append(out)
                new = frozenset.intersection(*sets) if sets else frozenset()
                if new != into[label]:
                    into[label] = new
                    changed = True
        return into

    finalising = False

    def one_pass(self) -> dict[tuple, Optional[str]]:
        """Type every op once with the current variable types; returns the
        join of what is assigned to each variable."""
        assigned: dict[tuple, Optional[str]] = {}
        self.reps, self.ops = {}, {}
        for block in self.ir.blocks.values():
            self.block(block, assigned)
        return assigned

    def resume_indices(self) -> dict[int, int]:
        """Deoptimising at an instruction resumes at its first EXTENDED_ARG."""
        out, start = {}, None
        for inst in self.ir.cfg.decoded.instructions:
            if start is None:
                start = inst.index
            if inst.opname == "EXTENDED_ARG":
                continue
            out[inst.index] = start
            start = None
        return out

    def settled(self, r):
        """In the last passes what is still unknown is an object."""
        return OBJ if (r is BOTTOM and self.finalising) else r

    def failed_before(self, index: int) -> bool:
        """Whether the instruction deoptimised in an earlier version (sites
        are recorded where the interpreter resumed: the first EXTENDED_ARG)."""
        no = self.fb.no_speculate
        return index in no or self.resume.get(index, index) in no

    def rep_of(self, name: str):
        if name[0] == "s":
            return self.settled(self.vars.get(("S", self.label, int(name[1:])), OBJ))
        return self.settled(self.reps.get(name, OBJ))

    def block(self, block, assigned) -> None:
        self.label = block.label
        for pos, op in enumerate(block.ops):
            result = self.settled(self.op(block, pos, op))
            for name in op.results:
                self.reps[name] = OBJ
            if op.results:
                self.reps[op.results[0]] = result
            if op.kind == "store_fast":
                key = ("L", op.params[0])
                assigned[key] = join(assigned.get(key, BOTTOM), self.stored_rep(block, pos, op))
        for target, values in block.exit.edges:
            for k, v in enumerate(values):
                key = ("S", target, k)
                assigned[key] = join(assigned.get(key, BOTTOM), self.rep_of(v))

    def stored_rep(self, block, pos, op: Op):
        """What a store puts into its local: an object into a local guessed
        from its uses (guess_locals_from_uses) is unboxed there, checked
        (deoptimising at the store, the object on the stack)."""
        r = self.rep_of(op.args[0])
        guess = self.guessed_locals.get(op.params[0])
        if r != OBJ or guess is None or block.label not in self.deopt_blocks or self.failed_before(op.index) \
                or self.vars.get(("L", op.params[0])) == OBJ:
            return r
        self.plan(block, pos, OpPlan(f"store:{guess}", (OBJ,), ((op.args[0], guess),), True))
        return guess

    def guess_locals_from_uses(self, local_reps: dict[int, str]) -> dict[int, str]:
        """Object locals (not arguments) every load of which is unboxed to
        one type by the op that uses it (`for c in coeffs: y = y * x + c`,
        the add specialised for floats): guessed to be of that type, so
        that they are unboxed once, where they are stored."""
        code = self.code
        nargs = code.co_argcount + code.co_kwonlyargcount
        verdict: dict[int, Optional[str]] = {}
        for label, block in self.ir.blocks.items():
            exits = {v for _, values in block.exit.edges for v in values} | {block.exit.value}
            for op in block.ops:
                if op.kind != "load_fast":
                    continue
                i, r = op.params[0], op.results[0]
                if i < nargs or i in local_reps or i in self.excluded_locals or i in self.guessed_locals:
                    continue
                guess = None if r in exits else self.unboxed_as(label, block, r)
                verdict[i] = guess if verdict.get(i, guess) == guess else None
        return {i: rep for i, rep in verdict.items() if rep is not None}

    def unboxed_as(self, label: int, block, name: str) -> Optional[str]:
        """The one type the uses of `name` in its block unbox it to, or None."""
        found = set()
        for pos in self.uses_in(label).get(name, ()):
            plan = self.ops.get((label, pos))
            found.add(dict(plan.unbox).get(name) if plan is not None else None)
        return found.pop() if len(found) == 1 and found <= {INT, FLOAT} else None

    def uses_in(self, label: int) -> dict[str, list[int]]:
        """IR value -> the positions of the ops of block `label` that use
        it (once per use); the IR does not change, so computed once."""
        if label not in self.block_uses:
            uses: dict[str, list[int]] = {}
            for pos, op in enumerate(self.ir.blocks[label].ops):
                for a in op.args:
                    uses.setdefault(a, []).append(pos)
            self.block_uses[label] = uses
        return self.block_uses[label]

    def plan(self, block, pos, plan: OpPlan) -> None:
        self.ops[(block.label, pos)] = plan

    def op(self, block, pos, op: Op):
        """The representation of op's result (OBJ for the generic path);
        BOTTOM while an operand is still unknown.  Records the plan."""
        k = op.kind
        # an instruction that deoptimised in an earlier version gets generic code
        may_deopt = block.label in self.deopt_blocks and not self.failed_before(op.index)
        if k == "const":
            return const_rep(self.code.co_consts[op.params[0]])
        if k == "load_fast":
            return self.settled(self.vars.get(("L", op.params[0]), OBJ))
        if k == "copy":
            return self.rep_of(op.args[0])
        if k == "binary_op":
            return self.binary(block, pos, op, may_deopt)
        if k == "compare":
            return self.compare(block, pos, op, may_deopt)
        if k == "unary":
            r = self.rep_of(op.args[0])
            if r is BOTTOM:
                return BOTTOM
            how = {0: "neg", 1: "pos", 2: "invert"}[op.params[0]]
            if r == FLOAT and how != "invert":
                self.plan(block, pos, OpPlan(f"{how}:float", (FLOAT,)))
                return FLOAT
            if r == INT and (how != "neg" or may_deopt):
                self.plan(block, pos, OpPlan(f"{how}:int", (INT,), deopt=how == "neg"))
                return INT
            return OBJ
        if k == "not":
            r = self.rep_of(op.args[0])
            if r is BOTTOM:
                return BOTTOM
            if r in (INT, FLOAT, BOOL):
                self.plan(block, pos, OpPlan("not", (r,)))
                return BOOL
            return OBJ
        if k in ("getitem", "setitem", "delitem"):
            if k != "delitem" and self.rep_of(op.args[1]) == INT:
                value = (self.rep_of(op.args[2]),) if k == "setitem" else ()
                self.plan(block, pos, OpPlan(f"{k}:int", tuple(r or OBJ for r in value)))
            return OBJ
        if k == "for_iter":
            return self.for_iter(block, pos, op, may_deopt)
        if k == "call":
            return self.call(block, pos, op, may_deopt)
        if k in ("load_global", "load_method"):
            return OBJ   # guards are planned by the call that uses them
        return OBJ

    # -- arithmetic ---------------------------------------------------------------------
    def guessed(self, op: Op, may_deopt: bool) -> tuple:
        """Operand representations, with object operands guessed from the
        interpreter's feedback at this instruction (int or float)."""
        reps = [self.rep_of(a) for a in op.args]
        if BOTTOM in reps:
            return None, ()
        unbox = []
        guess = self.fb.op_type(op.index) if may_deopt else None
        if guess in (INT, FLOAT):
            for i, (a, r) in enumerate(zip(op.args, reps)):
                if r == OBJ:
                    reps[i] = guess
                    unbox.append((a, guess))
        return tuple(reps), tuple(unbox)

    def binary(self, block, pos, op, may_deopt):
        reps, unbox = self.guessed(op, may_deopt)
        if reps is None:
            return BOTTOM
        base = op.params[0] % 13
        if may_deopt and base in BIT_OPS and sorted(reps) == sorted((INT, OBJ)):
            unbox += tuple((arg, INT) for arg, rep in zip(op.args, reps) if rep == OBJ)
            reps = (INT, INT)
        a, b = reps
        if a == BOOL or b == BOOL:
            return OBJ
        if a == INT and b == INT and base in INT_OPS:
            name = INT_OPS[base]
            deopt = bool(unbox) or name not in INT_TOTAL
            if deopt and not may_deopt:
                return OBJ
            self.plan(block, pos, OpPlan(f"int:{name}", (INT, INT), unbox, deopt))
            return FLOAT if name == "truediv" else INT
        if {a, b} <= {INT, FLOAT} and FLOAT in (a, b) and base in FLOAT_OPS:
            name = FLOAT_OPS[base]
            deopt = bool(unbox) or name not in FLOAT_TOTAL
            if deopt and not may_deopt:
                return OBJ
            self.plan(block, pos, OpPlan(f"float:{name}", (a, b), unbox, deopt))
            return FLOAT
        return OBJ

    def compare(self, block, pos, op, may_deopt):
        reps, unbox = self.guessed(op, may_deopt)
        if reps is None:
            return BOTTOM
        a, b = reps
        if a == INT and b == INT:
            if unbox and not may_deopt:
                return OBJ
            self.plan(block, pos, OpPlan("cmp:int", (INT, INT), unbox, bool(unbox)))
            return BOOL
        if {a, b} <= {INT, FLOAT} and FLOAT in (a, b):
            mixed = a != b
            if (unbox or mixed) and not may_deopt:
                return OBJ
            self.plan(block, pos, OpPlan("cmp:float", (a, b), unbox, bool(unbox) or mixed))
            return BOOL
        return OBJ

    # -- loops ----------------------------------------------------------------------------
    def for_iter(self, block, pos, op, may_deopt):
        it = op.args[0]
        if not may_deopt or not it.startswith("s"):
            return OBJ
        depth = int(it[1:])
        if (block.label, depth) in self.range_slots and self.fb.speculate:   # may_deopt: not failed here
            self.plan(block, pos, OpPlan("range", deopt=True))
            return INT
        rep = self.item_guess(block, op)
        if rep is not None:
            self.plan(block, pos, OpPlan(f"iter:{rep}", deopt=True))
            return rep
        return OBJ

    def item_guess(self, block, op: Op) -> Optional[str]:
        """`for c in coeffs`, c a local guessed from its uses to be a float
        (or an int): the item is unboxed as the loop fetches it (from a
        list or tuple by index, emit: rs_for_iter_float), never held as an
        object; an item of another type deoptimises at the store into c,
        the item on the stack, as the store's own guess would."""
        ex = block.exit
        if not self.fb.speculate or ex.kind != "branch" or ex.test != "null" or ex.value != op.results[0]:
            return None
        target, values = ex.edges[1]
        k = len(values) - 1
        if k < 0 or values[k] != op.results[0] or values.count(values[k]) != 1:
            return None
        body = self.ir.blocks[target]
        store = body.ops[0] if body.ops else None
        if store is None or store.kind != "store_fast" or store.args[0] != phi_name(k) \
                or self.failed_before(op.index) or self.failed_before(store.index) \
                or self.vars.get(("L", store.params[0])) == OBJ \
                or self.ir.cfg.predecessors(target) != (block.label,):
            return None
        rep = self.guessed_locals.get(store.params[0])
        return rep if rep in (INT, FLOAT) else None

    # -- calls of known functions ---------------------------------------------------------
    def callee(self, op: Op):
        """(module, name, load op) when op calls a global or module attribute."""
        first, second = op.args[0], op.args[1]
        load = self.defs.get(second)
        if load is None:
            return None
        null_first = self.defs.get(first) is not None and self.defs[first].kind == "null"
        if load.kind == "load_global" and null_first:
            return "builtins", self.code.co_names[load.params[0]], load
        # module.function(...): LOAD_ATTR after a NULL, or LOAD_METHOD
        by_attr = load.kind == "load_attr" and null_first
        by_method = load.kind == "load_method" and (first, second) == load.results
        mod = self.defs.get(load.args[0]) if by_attr or by_method else None
        if mod is None or mod.kind != "load_global":
            return None
        return self.code.co_names[mod.params[0]], self.code.co_names[load.params[0]], load

    def call(self, block, pos, op, may_deopt):
        if op.params[0] is not None or not may_deopt or not self.fb.speculate:
            return OBJ
        found = self.callee(op)
        if found is None:
            return OBJ
        module, name, load = found
        if load.kind == "load_global" and name in self.pure_callees:
            return self.pure_call(block, pos, op, self.pure_callees[name])
        spec = BUILTINS.get((module, name))
        args = op.args[2:]
        if spec is None or len(args) != spec.arity or self.failed_before(load.index):
            return OBJ
        reps = tuple(self.rep_of(a) for a in args)
        if BOTTOM in reps:
            return BOTTOM
        result = builtin_result(spec, reps)
        if result is None:
            return OBJ
        load_pos = next(i for i, o in enumerate(self.ir.blocks[block.label].ops) if o is load) \
            if load in self.ir.blocks[block.label].ops else None
        if load_pos is None:
            return OBJ
        self.plan(block, load_pos, OpPlan(f"guard:{module}.{name}", deopt=True))
        self.plan(block, pos, OpPlan(f"call:{module}.{name}", reps, deopt=True))
        return result

    def resumes_after(self, label: int, pos: int) -> bool:
        """Whether a deoptimisation just after op `pos` (its result on the
        stack) can resume at the next op: one in the same block, of a later
        instruction, that has not deoptimised before."""
        ops = self.ir.blocks[label].ops
        return pos + 1 < len(ops) and ops[pos + 1].index > ops[pos].index \
            and not self.failed_before(ops[pos + 1].index)

    def pure_call(self, block, pos, op, callee) -> str:
        """A call of a function of the module that has a C version
        (emit.PureCallee): its result is guessed to be of the C version's
        return type, so that it stays a C value; where the ordinary call
        runs instead, its result is checked after the call (and a result
        of another type deoptimises at the next instruction, with the
        result on the stack)."""
        if not self.resumes_after(block.label, pos) or len(op.args) - 2 > len(callee.arg_reps):
            return OBJ
        self.plan(block, pos, OpPlan(f"purecall:{callee.return_rep}", deopt=True))
        return callee.return_rep


def builtin_result(spec: Builtin, reps: tuple[str, ...]) -> Optional[str]:
    """The result representation of a known function on these operand
    representations, or None when it is not done in C."""
    n = spec.name
    numeric = all(r in (INT, FLOAT) for r in reps)
    if spec.module == "builtins":
        if n == "len":
            return INT
        if n == "ord":        # of a one-character str or bytes (else it deoptimises)
            return INT if reps[0] == OBJ else None
        if n == "abs" and numeric:
            return reps[0]
        if n in ("min", "max") and numeric and reps[0] == reps[1]:
            return reps[0]
        if n == "int" and numeric:
            return INT
        if n == "float" and numeric:
            return FLOAT
        return None
    if not numeric:
        return None
    if n in ("floor", "ceil"):
        return INT
    return FLOAT


def infer_types(ir: IRFunction, feedback: Feedback, pure_callees: dict | None = None) -> TypePlan:
    """The type plan of a function; `pure_callees`: the C versions
    (emit.PureCallee, by global name) of the functions it is built with."""
    return TypeInference(ir, feedback, pure_callees).run()
