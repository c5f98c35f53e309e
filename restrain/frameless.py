"""Frameless versions: small methods run without a frame.

A compiled call of a compiled function pushes a frame and runs the callee's
entry (csrc/hook.c, call_function).  For a method such as richards'
``is_suspended`` (``return self.held or (self.waiting and not
self.packet_pending)``) or ``find`` (``return self.tasks[ident]``) that
frame, its set-up and tear-down cost more than the body: 22% of richards'
steady time went to call_function, and inlining those two getters by hand
made it 1.1-1.2x faster.

So a function whose body only reads (arguments, constants, globals,
instance and module attributes, items of lists, tuples and dicts of str
keys), computes with ints and floats, tests truth, compares numbers and
strings, stores attributes (adding them too, as an `__init__` does) and
returns, in branches and loops (`while`, and `for` over a list or tuple),
with no handler, also gets a *frameless version*: a body

    cdef PyObject *rs_fl_body(PyObject *rs_fn, PyObject *const *rs_args, RsFlTx *rs_tx) noexcept

and a wrapper that runs it in a transaction of its own.  It may call
(restrain_abi.h, "frameless versions"): methods and global functions that
have frameless versions too (their bodies, in the same transaction);
classes of the plainest kind (the instance made as type_call makes it,
then `__init__`'s body); an operator's Python method on an instance
(`a - b`: `__sub__`'s body); math's and a few builtins' C functions on
numbers; `append` and `pop()` of lists.  It builds tuples and lists.

It works on borrowed references only and does nothing that can run Python
code: every step is a cached fast path (an attribute at a cached place of
a type whose version tag matches, an item of an exact list, a comparison
of exact ints), and an allocation that could start a garbage collection
is not made.  Wherever a step cannot be taken that way (another type, a
property, a missing attribute, an index out of range, a `__bool__`, a
pending signal) it returns NULL with no exception set and the call runs
normally, with a frame, from the start; since nothing was changed, running
it again is invisible, and that normal run raises any exception with
CPython's traceback.  Stores, appends and pops are a small transaction
(restrain_abi.h RsFlTx): giving up after them puts everything back, and
the old values are only dropped once the version returns (and not at all
if that would free one, which could run a __del__ without the frame: it
gives up instead); what it makes is the transaction's until then.
call_function and the swapped functions' vectorcall try it first
(csrc/hook.c, run_frameless_or_direct).
"""
from __future__ import annotations

import builtins
import inspect
from dataclasses import dataclass

from .costmodel import BUILTIN_METHOD_NAMES, FRAMELESS_C_FUNCTIONS, FRAMELESS_LIST_METHODS
from .emit import block_exit, phi_moves
from .ir import IRBlock, IRFunction, Op, phi_name
from .structure import BlockCode, Shape, render

INDENT = "    "

# what one function may store and compute: a transaction holds more
# (restrain_abi.h RS_FL_STORES 32, RS_FL_OWNED 128), for the functions it
# calls too; one whose loop or callees need more gives up when it is full
STORES_MAX = 8
COMPUTED_MAX = 12

# COMPARE_OP's oparg -> Py_LT ... (the same numbering)
_COMPARE_OPS = ("Py_LT", "Py_LE", "Py_EQ", "Py_NE", "Py_GT", "Py_GE")


@dataclass(frozen=True)
class FramelessVersion:
    name: str              # its RsFlVersion (the wrapper hook.c calls, the body others call)
    lines: tuple[str, ...]  # its Cython text, with the attribute and global caches it uses


class NotFrameless(Exception):
    """The function does something a frameless version cannot."""


def frameless_version(ir: IRFunction, shape: Shape, prefix: str = "") -> FramelessVersion | None:
    """The function's frameless version, or None if it cannot have one."""
    code = ir.cfg.decoded.code
    if (code.co_kwonlyargcount or code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS)
            or code.co_flags & (inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR)
            or not code.co_flags & inspect.CO_OPTIMIZED
            or code.co_cellvars or code.co_freevars or ir.handler_table()):
        return None
    try:
        return _Emitter(ir, prefix).version(shape)
    except NotFrameless:
        return None


class _Emitter:
    def __init__(self, ir: IRFunction, prefix: str):
        self.ir = ir
        self.prefix = prefix
        self.code = ir.cfg.decoded.code
        kinds = [op.kind for block in ir.blocks.values() for op in block.ops]
        stores = kinds.count("store_attr")
        computed = kinds.count("binary_op") + kinds.count("unary") + kinds.count("build_tuple")
        if stores > STORES_MAX or computed > COMPUTED_MAX:
            raise NotFrameless("more stores or computed numbers than a transaction holds")
        # the body gives up by returning NULL: its wrapper, or the outermost
        # frameless caller's, undoes the transaction (restrain_abi.h RsFlTx)
        self.give_up = "return NULL"
        self.attr_caches: list[str] = []
        self.global_caches: list[str] = []
        self.method_caches: list[str] = []
        self.call_sites: list[str] = []
        self.values: set[str] = set()      # every IR value and stack slot: a borrowed PyObject *
        self.locals_used: set[int] = set()  # locals other than the arguments
        self.most_call_args = 0             # the longest call's arguments, self included
        self.most_tuple_items = 0           # the longest tuple or list it builds
        self.list_methods: dict[str, str] = {}      # LOAD_METHOD results of `append`, `pop`
        self.iterators: list[str] = []      # its loops' RsFlIter structs
        self.globals_loaded: dict[str, int] = {}    # IR value -> the co_names index it loaded

    def version(self, shape: Shape) -> FramelessVersion:
        body = render(shape, self.block_code, label_var="label", indent=INDENT)
        argcount = self.code.co_argcount
        # the arguments are locals like the others (`packet, self.pending = ...` stores into one)
        body = [f"L{i} = rs_args[{i}]" for i in range(argcount)] + body
        body_name, wrapper, version = (f"{self.prefix}{n}" for n in ("rs_fl_body", "rs_frameless", "rs_flv"))
        lines = [f"cdef RsAttrCache {c}" for c in self.attr_caches]
        lines += [f"cdef RsGlobalCache {c}" for c in self.global_caches]
        lines += [f"cdef RsMethodCache {c}" for c in self.method_caches]
        lines += [f"cdef RsFlSite {c}" for c in self.call_sites]
        lines.append(f"cdef PyObject *{body_name}(PyObject *rs_fn, PyObject *const *rs_args, "
                     "RsFlTx *rs_tx) noexcept:")
        decls = [f"cdef int label = {self.ir.entry}", "cdef int rs_c = 0"]
        if self.most_call_args:
            decls.append(f"cdef PyObject *rs_argv[{self.most_call_args}]")
        if self.most_tuple_items:
            decls.append(f"cdef PyObject *rs_items[{self.most_tuple_items}]")
        decls += [f"cdef RsFlIter {it}" for it in self.iterators]
        pointers = sorted(self.values) + [f"L{i}" for i in sorted(self.locals_used | set(range(argcount)))]
        for k in range(0, len(pointers), 16):
            decls.append("cdef PyObject " + ", ".join(f"*{n} = NULL" for n in pointers[k:k + 16]))
        fell_off = self.give_up    # cannot happen: every path returns; give up all the same
        lines += [INDENT + line for line in decls + body + [fell_off]]
        # the wrapper hook.c calls: the body in a transaction of its own
        lines += [f"cdef PyObject *{wrapper}(PyObject *rs_fn, PyObject *const *rs_args) noexcept:",
                  f"{INDENT}return rs_fl_run({body_name}, rs_fn, rs_args)",
                  f"cdef RsFlVersion {version}",
                  f"{version}.call = {wrapper}",
                  f"{version}.body = {body_name}"]
        return FramelessVersion(version, tuple(lines + [""]))

    # -- blocks ----------------------------------------------------------------
    def block_code(self, label: int) -> BlockCode:
        block = self.ir.blocks[label]
        self.values.update(phi_name(k) for k in range(len(block.stack_in)))
        body: list[str] = []
        for op in block.ops:
            body += self.op_lines(op)
        return BlockCode(tuple(body + self.exit_lines(block)), block_exit(block))

    def exit_lines(self, block: IRBlock) -> list[str]:
        ex = block.exit
        if ex.kind == "return":
            return [f"return {ex.value}"]      # borrowed: the transaction keeps it alive
        # edges move borrowed pointers into the target's s0, s1 ...: no references to move
        if ex.kind == "goto":
            return phi_moves(ex.edges[0][1])
        if ex.kind != "branch" or ex.test not in ("truth", "none", "null"):
            raise NotFrameless(f"a block exit {ex.kind} {ex.test}")
        if ex.test == "truth":
            lines = [f"rs_c = rs_fl_truth({ex.value})", "if rs_c < 0:", INDENT + self.give_up]
        elif ex.test == "none":
            lines = [f"rs_c = {ex.value} == rs_fl_none()"]
        else:       # a for loop's end: its iterator had no item left (rs_fl_next)
            lines = [f"rs_c = {ex.value} == NULL"]
        true_moves, false_moves = phi_moves(ex.edges[0][1]), phi_moves(ex.edges[1][1])
        if ex.polled_edge is not None:     # a loop's back-edge (`while cond:`)
            (true_moves, false_moves)[ex.polled_edge].extend(["if rs_pure_breaker():", INDENT + self.give_up])
        if true_moves or false_moves:
            lines += ["if rs_c:"] + [INDENT + m for m in true_moves or ["pass"]]
            lines += ["else:"] + [INDENT + m for m in false_moves or ["pass"]]
        return lines

    # -- ops -------------------------------------------------------------------
    def op_lines(self, op: Op) -> list[str]:
        a, r, p, k = op.args, op.results, op.params, op.kind
        self.values.update(r)
        if k == "check_signals" and op.index == 0:
            return []       # the RESUME poll: the outermost call's (rs_fl_run)
        if k == "check_signals":
            # a loop's back-edge: it gives up for either (rs_pure_breaker)
            return ["if rs_pure_breaker():", INDENT + self.give_up]
        if k == "pop":
            return []
        if k in ("copy", "spill"):
            return [f"{r[0]} = {a[0]}"] if k == "copy" else phi_moves(a)
        if k == "const":
            return [f"{r[0]} = rs_fl_const(rs_fn, {p[0]})"]
        if k == "load_fast":
            return self.load_local(r[0], p[0])
        if k == "store_fast":
            self.locals_used.add(p[0])
            return [f"L{p[0]} = {a[0]}"]
        if k == "null":
            return [f"{r[0]} = NULL"]
        if k == "load_method":
            name = self.code.co_names[p[0]]
            if name in BUILTIN_METHOD_NAMES and name not in FRAMELESS_LIST_METHODS:
                raise NotFrameless("a call of a built-in type's method")
            cache = self.cached("rs_fmc", self.method_caches, "{}")
            lookup = [f"{r[0]} = rs_fl_method({a[0]}, rs_fl_name(rs_fn, {p[0]}), &{cache})",
                      f"if {r[0]} == NULL:", INDENT + self.give_up]
            if name in FRAMELESS_LIST_METHODS:
                # an exact list's: a marker the call tests for (call_lines)
                self.list_methods[r[0]] = name
                lookup = [f"{r[0]} = rs_fl_list_method({a[0]})", f"if {r[0]} == NULL:"] + [
                    INDENT + line for line in lookup]
            return lookup + [f"{r[1]} = {a[0]}"]
        if k == "call":
            return self.call_lines(op)
        if k == "get_iter":
            # `for x in xs` over an exact list or tuple: the iterator is a
            # C struct of this body (rs_fl_iter), its place in the loop as
            # good as an object's for the stack moves
            it = f"rs_it{len(self.iterators)}"
            self.iterators.append(it)
            return [f"{r[0]} = rs_fl_iter(&{it}, {a[0]})", f"if {r[0]} == NULL:", INDENT + self.give_up]
        if k == "for_iter":
            return [f"{r[0]} = rs_fl_next({a[0]})"]        # NULL: no item left (the exit tests it)
        if k == "unpack_sequence":      # `a, b = pair` of an exact tuple or list of that size
            return [f"if not rs_fl_unpackable({a[0]}, {p[0]}):", INDENT + self.give_up] + [
                f"{name} = rs_fl_item({a[0]}, {i})" for i, name in enumerate(r)]
        if k in ("build_tuple", "build_list"):
            self.most_tuple_items = max(self.most_tuple_items, len(a), 1)
            fills = [f"rs_items[{i}] = {x}" for i, x in enumerate(a)]
            return fills + [f"{r[0]} = rs_fl_sequence(rs_tx, rs_items, {len(a)}, {int(k == 'build_list')})",
                            f"if {r[0]} == NULL:", INDENT + self.give_up]
        if k == "is":
            return [f"{r[0]} = rs_fl_is({a[0]}, {a[1]}, {p[0]})"]
        if k == "not":
            return [f"rs_c = rs_fl_truth({a[0]})", "if rs_c < 0:", INDENT + self.give_up,
                    f"{r[0]} = rs_fl_bool(not rs_c)"]
        if k == "store_attr":
            cache = self.cached("rs_fsc", self.attr_caches, "{}")
            return [f"if rs_fl_store_attr(rs_tx, {a[0]}, rs_fl_name(rs_fn, {p[0]}), {a[1]}, &{cache}) < 0:",
                    INDENT + self.give_up]
        if k == "load_global":
            self.globals_loaded[r[0]] = p[0]
        checked = {
            "load_attr": lambda: self.cached("rs_fac", self.attr_caches,
                                             f"rs_fl_load_attr({a[0]}, rs_fl_name(rs_fn, {p[0]}), &{{}})"),
            "load_global": lambda: self.cached("rs_fgc", self.global_caches,
                                               f"rs_pure_global(rs_fn, {p[0]}, &{{}})"),
            "getitem": lambda: f"rs_fl_getitem({a[0]}, {a[1]})",
            "compare": lambda: f"rs_fl_compare({a[0]}, {a[1]}, {_COMPARE_OPS[p[0]]})",
            "binary_op": lambda: f"rs_fl_binary(rs_tx, {p[0]}, {a[0]}, {a[1]})",
        }
        if k == "unary" and p[0] == 0:
            checked["unary"] = lambda: f"rs_fl_negative(rs_tx, {a[0]})"
        if k not in checked:
            raise NotFrameless(f"the op {k}")
        return [f"{r[0]} = {checked[k]()}", f"if {r[0]} == NULL:", INDENT + self.give_up]

    def call_lines(self, op: Op, checked: bool = True) -> list[str]:
        """A call of a method (LOAD_METHOD: first the function, second self)
        or of a function (first NULL, second the function), through the
        callee's frameless body in this transaction (rs_fl_call)."""
        first, second, *args = op.args
        if op.params[0] is not None:
            raise NotFrameless("a call with keyword arguments")
        if first in self.list_methods:
            return self.list_call_lines(op, self.list_methods[first])
        if self.names_a_builtin(second):
            raise NotFrameless("a call of a builtin")     # (it would give up every time)
        self.most_call_args = max(self.most_call_args, len(args) + 1)
        n = len(args)
        site = self.cached("rs_fls", self.call_sites, "&{}")
        fills = [f"rs_argv[{i + 1}] = {x}" for i, x in enumerate(args)]
        return [f"rs_argv[0] = {second}"] + fills + [
            f"if {first} != NULL:",
            f"{INDENT}{op.results[0]} = rs_fl_call(rs_tx, {first}, rs_argv, {n + 1}, {site})",
            "else:",
            f"{INDENT}{op.results[0]} = rs_fl_call(rs_tx, {second}, rs_argv + 1, {n}, {site})"] + (
            [f"if {op.results[0]} == NULL:", INDENT + self.give_up] if checked else [])

    def list_call_lines(self, op: Op, name: str) -> list[str]:
        """`xs.append(v)` or `xs.pop()`: an exact list's in this transaction
        (the marker of rs_fl_list_method), or the method found for another
        object, called as any method."""
        first, second, *args = op.args
        if (name, len(args)) not in (("append", 1), ("pop", 0)):
            raise NotFrameless(f"list.{name} with {len(args)} arguments")
        r = op.results[0]
        on_list = (f"rs_fl_list_append(rs_tx, {second}, {args[0]})" if name == "append"
                   else f"rs_fl_list_pop(rs_tx, {second})")
        self.list_methods.pop(first)
        other = self.call_lines(op, checked=False)
        return [f"if {first} == rs_fl_list_marker():", f"{INDENT}{r} = {on_list}", "else:"] + [
            INDENT + line for line in other] + [f"if {r} == NULL:", INDENT + self.give_up]

    def names_a_builtin(self, value: str) -> bool:
        """Whether `value` is a global named like a builtin (`len`, `range`):
        a C function, most likely, which no frameless version can call."""
        i = self.globals_loaded.get(value)
        return i is not None and hasattr(builtins, self.code.co_names[i]) \
            and self.code.co_names[i] not in FRAMELESS_C_FUNCTIONS

    def load_local(self, result: str, i: int) -> list[str]:
        if i < self.code.co_argcount:
            return [f"{result} = L{i}"]      # an argument: bound until the body stores another
        self.locals_used.add(i)
        # unbound: the call with a frame raises the UnboundLocalError
        return [f"{result} = L{i}", f"if {result} == NULL:", INDENT + self.give_up]

    def cached(self, tag: str, caches: list[str], call: str) -> str:
        cache = f"{self.prefix}{tag}{len(caches)}"
        caches.append(cache)
        return call.format(cache)
