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

from dataclasses import dataclass

from .ir import IRBlock, IRFunction, Op, phi_name
from .structure import BlockCode, Branch, Goto, Shape, Stop, render

INDENT = "    "

# Ops that cannot raise: no need to store prev_instr before them.
CANNOT_RAISE = frozenset({
    "pop", "spill", "copy", "null", "const", "load_closure", "store_fast", "push_exc_info", "pop_except", "is",
    "copy_free_vars", "store_deref", "assertion_error",
})

CALL_HELPER_MAX_ARGS = 4


@dataclass(frozen=True)
class EmittedModule:
    module_name: str
    source: str


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
        "call_ex": lambda: f"{r[0]} = rs_call_ex({a[0]}, {a[1]}, {_null_or(a[2] if len(a) > 2 else None)})",
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
        "check_signals": lambda: "rs_check_signals()",
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
    if k == "call":
        return [_call_line(op)]
    if k == "make_function":
        parts = iter(a[1:])
        operands = [next(parts) if present else "rs_null()" for present in p]
        return [f"{r[0]} = rs_make_function(f, {a[0]}, {', '.join(operands)})"]
    if k == "build_set":
        return [f"{r[0]} = rs_new_set()"] + [f"rs_set_add({r[0]}, {x})" for x in a]
    if k == "build_map":
        return [f"{r[0]} = rs_new_dict()"] + [
            f"rs_map_add({r[0]}, {a[i]}, {a[i + 1]})" for i in range(0, len(a), 2)]
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


def phi_moves(values: tuple[str, ...]) -> list[str]:
    """Assign an edge's stack values to the target's s0..s{n-1}, as a
    parallel copy (a source may itself be an s variable being overwritten)."""
    moves = [(phi_name(i), v) for i, v in enumerate(values) if v != phi_name(i)]
    dests = {d for d, _ in moves}
    lines, renamed = [], {}
    for _, src in moves:
        if src in dests and src not in renamed:
            renamed[src] = f"rs_p{len(renamed)}"
            lines.append(f"{renamed[src]} = {src}")
    lines += [f"{d} = {renamed.get(s, s)}" for d, s in moves]
    return lines


class ModuleEmitter:
    def __init__(self, ir: IRFunction, shape: Shape, module_name: str, title: str):
        self.ir = ir
        self.shape = shape
        self.module_name = module_name
        self.title = title

    # -- blocks -------------------------------------------------------------
    # References: the interpreter drops a stack value the moment it is
    # consumed or popped, and programs notice (a generator's `finally` runs,
    # a file closes, `__del__` prints).  So a temporary is set to None right
    # after its last use, and at each block exit every temporary and every
    # stack slot the edge does not carry is dropped.
    def block_code(self, label: int) -> BlockCode:
        block = self.ir.blocks[label]
        carried = {v for _, values in block.exit.edges for v in values}
        if block.exit.value:
            carried.add(block.exit.value)
        last_use = {}
        for i, op in enumerate(block.ops):
            for name in op.args:
                last_use[name] = i
        live: dict[str, None] = {}      # temporaries of this block holding a value
        body: list[str] = []
        last_index = None
        for i, op in enumerate(block.ops):
            if op.kind not in CANNOT_RAISE and op.index != last_index:
                body.append(f"rs_at(f, {op.index})")
                last_index = op.index
            body.extend(op_lines(op))
            live.update(dict.fromkeys(op.results))
            for name in dict.fromkeys(op.args):
                if last_use[name] == i and name not in carried:
                    body.append(f"{name} = None")
                    live.pop(name, None)
        exit_lines = self.exit_lines(block, last_index, list(live))
        return BlockCode(tuple(body) + tuple(exit_lines), self.exit_of(block))

    def edge_lines(self, block: IRBlock, values: tuple[str, ...], live: list[str]) -> list[str]:
        """Move the edge's stack into s0..; drop everything else."""
        lines = phi_moves(values)
        lines += [f"{t} = None" for t in live]
        lines += [f"{phi_name(k)} = None" for k in range(len(values), len(block.stack_in))]
        return lines

    def exit_lines(self, block: IRBlock, last_index, live: list[str]) -> list[str]:
        ex = block.exit
        if ex.kind == "return":
            return [f"return {ex.value}"]
        if ex.kind == "goto":
            return self.edge_lines(block, ex.edges[0][1], live)
        if ex.kind == "branch":
            lines = []
            if ex.test == "truth":
                if ex.index != last_index:
                    lines.append(f"rs_at(f, {ex.index})")
                lines.append(f"rs_c = rs_truth({ex.value})")
            elif ex.test == "none":
                lines.append(f"rs_c = {ex.value} is None")
            else:
                lines.append(f"rs_c = rs_is_null({ex.value})")
            true_lines = self.edge_lines(block, ex.edges[0][1], live)
            false_lines = self.edge_lines(block, ex.edges[1][1], live)
            if true_lines or false_lines:
                lines.append("if rs_c:")
                lines += [INDENT + m for m in true_lines or ["pass"]]
                lines.append("else:")
                lines += [INDENT + m for m in false_lines or ["pass"]]
            return lines
        return []

    def exit_of(self, block: IRBlock):
        ex = block.exit
        if ex.kind == "goto":
            return Goto(ex.edges[0][0])
        if ex.kind == "branch":
            return Branch("rs_c", ex.edges[0][0], ex.edges[1][0])
        return Stop()

    # -- the whole module -------------------------------------------------------
    def dispatch_lines(self) -> list[str]:
        """The except clause: find the handler of the instruction that raised."""
        lines = ["rs_e2 = rs_catch(f, rs_e)", "rs_lasti_v = rs_lasti(f)"]
        # the interpreter unwinds the value stack: drop what it held
        lines += [f"{t} = None" for t in self.ir.temps] + ["rs_t = None"]
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
        if keyword == "if":
            return lines + ["rs_propagate(f, rs_e2)"]
        return lines + ["else:", INDENT + "rs_propagate(f, rs_e2)"]

    def body_lines(self) -> list[str]:
        structured = render(self.shape, self.block_code, label_var="label", indent=INDENT)
        fell_off = 'raise SystemError("restrain: control left the compiled body")'
        if not self.ir.handler_table():
            return structured + [fell_off]
        lines = ["while True:", INDENT + "try:"]
        lines += [2 * INDENT + line for line in structured + [fell_off]]
        lines.append(INDENT + "except BaseException as rs_e:")
        lines += [2 * INDENT + line for line in self.dispatch_lines()]
        lines.append(INDENT + "rs_restore_exc_info(f)")
        return lines

    def declarations(self) -> list[str]:
        names = list(self.ir.temps) + [phi_name(i) for i in range(self.ir.max_depth + 1)]
        names += ["rs_t", "rs_e2"] + [f"rs_p{i}" for i in range(self.ir.max_depth + 1)]
        decls = [f"cdef int label = {self.ir.entry}", "cdef int rs_c", "cdef int rs_lasti_v"]
        for i in range(0, len(names), 16):
            decls.append("cdef object " + ", ".join(names[i:i + 16]))
        return decls

    def source(self) -> str:
        body = self.body_lines()
        out = [
            "# cython: language_level=3, boundscheck=False, wraparound=False",
            "# cython: binding=False, embedsignature=False, annotation_typing=False",
            f"# Generated by restrain for {self.title}",
            "from restrain_abi cimport *",
            "",
            "__restrain_compiled__ = True",
            "",
            "cdef object rs_entry(RsFrame *f):",
        ]
        out += [INDENT + line for line in self.declarations()]
        out += [INDENT + line for line in body]
        out += ["", '__restrain_entry__ = PyCapsule_New(<void*>rs_entry, "restrain.entry", NULL)', ""]
        return "\n".join(out)


def emit_module(ir: IRFunction, shape: Shape, module_name: str, title: str) -> EmittedModule:
    return EmittedModule(module_name, ModuleEmitter(ir, shape, module_name, title).source())
