"""Tests for restrain.cfg: blocks, stack depths, dominators, rejections.

Besides targeted checks on small functions, every function-scope,
non-generator code object of a few stdlib modules must yield a CFG that
satisfies structural invariants checked here independently of cfg.py's own
algorithms (instruction-level reachability, a separate depth simulation).
"""

from __future__ import annotations

import dis
import importlib
import types

import pytest

from restrain.cfg import CFG, build_cfg
from restrain.decode import (
    CONDITIONAL_JUMPS,
    TERMINATORS,
    UNCONDITIONAL_JUMPS,
    decode,
    is_function_scope,
    is_generator_like,
)
from restrain.errors import Unsupported

SWEEP_MODULES = ("json.decoder", "json.encoder", "textwrap", "collections",
                 "argparse")


def walk_code(code: types.CodeType):
    """`code` and every code object nested in its constants."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from walk_code(const)


def module_code_objects(name: str) -> list[types.CodeType]:
    path = importlib.import_module(name).__file__
    with open(path, encoding="utf-8") as f:
        return list(walk_code(compile(f.read(), path, "exec")))


def cfg_of(fn_or_code) -> CFG:
    code = getattr(fn_or_code, "__code__", fn_or_code)
    return build_cfg(decode(code))


# ------------------------------------------------------------- invariants

def reachable_offsets(decoded) -> set[int]:
    """Instruction-level reachability, written independently of cfg.py."""
    seen: set[int] = set()
    work = [0]
    while work:
        offset = work.pop()
        if offset in seen:
            continue
        seen.add(offset)
        ins = decoded.instruction_at(offset)
        if ins.jump_target is not None:
            work.append(ins.jump_target)
        if ins.opname not in TERMINATORS | UNCONDITIONAL_JUMPS:
            work.append(ins.next_offset)
        entry = decoded.handler_for(offset)
        if entry is not None:
            work.append(entry.target)
    return seen


def simulate(block, code) -> list[int]:
    """Depth along each successor edge, using dis directly."""
    depth = block.depth_in
    out = []
    for i, ins in enumerate(block.instructions):
        arg = ins.arg if ins.opcode >= dis.HAVE_ARGUMENT else None
        assert depth <= code.co_stacksize
        if block.handler is not None:
            assert depth >= block.handler.depth
        if i < len(block.instructions) - 1:
            depth += dis.stack_effect(ins.opcode, arg, jump=False)
            assert depth >= 0
        else:
            for jump in jump_flags(ins):
                out.append(depth + dis.stack_effect(ins.opcode, arg, jump=jump))
    return out


def jump_flags(ins) -> tuple[bool, ...]:
    if ins.opname in TERMINATORS:
        return ()
    if ins.opname in UNCONDITIONAL_JUMPS:
        return (True,)
    if ins.opname in CONDITIONAL_JUMPS:
        return (False, True)
    return (False,)


def check_invariants(cfg: CFG) -> None:
    decoded = cfg.decoded
    code = decoded.code
    labels = list(cfg.blocks)
    assert labels == sorted(labels)
    assert cfg.entry == 0 == labels[0]
    assert cfg.blocks[0].depth_in == 0

    # Blocks partition exactly the reachable instructions, each once.
    flat = [ins for b in cfg.blocks.values() for ins in b.instructions]
    offsets = [ins.offset for ins in flat]
    assert offsets == sorted(offsets)
    assert len(set(offsets)) == len(offsets)
    assert set(offsets) == reachable_offsets(decoded)

    handler_targets = {e.target for e in decoded.exception_table}
    for label, block in cfg.blocks.items():
        assert block.label == label == block.instructions[0].offset
        # Straight-line: consecutive, no CACHE, no inner jumps/terminators.
        for a, b in zip(block.instructions, block.instructions[1:]):
            assert a.next_offset == b.offset
            assert a.jump_target is None and a.opname not in TERMINATORS
            assert b.offset not in handler_targets
        assert all(ins.opname != "CACHE" for ins in block.instructions)
        # One covering exception entry (or none) for the whole block.
        for ins in block.instructions:
            assert decoded.handler_for(ins.offset) == block.handler
        assert block.is_handler_entry == (label in handler_targets)
        check_successors(block)
        # Depths agree with an independent simulation.
        for succ, depth in zip(block.successors, simulate(block, code)):
            assert cfg.blocks[succ].depth_in == depth
        if block.handler is not None:
            entry = block.handler
            assert cfg.blocks[entry.target].depth_in == \
                entry.depth + 1 + int(entry.lasti)

    # Predecessors mirror successors and handler edges.
    for label in labels:
        expected = {src for src, b in cfg.blocks.items()
                    if label in b.successors
                    or (b.handler is not None and b.handler.target == label)}
        assert set(cfg.predecessors(label)) == expected
        normal = {src for src, b in cfg.blocks.items() if label in b.successors}
        assert set(cfg.normal_predecessors(label)) == normal
    assert set(cfg.handler_entries()) == {
        b.label for b in cfg.blocks.values() if b.is_handler_entry}

    check_dominators(cfg)
    text = cfg.dump()
    for label in labels:
        assert f"block {label}:" in text


def check_successors(block) -> None:
    last = block.instructions[-1]
    if last.opname in TERMINATORS:
        assert block.successors == ()
    elif last.opname in UNCONDITIONAL_JUMPS:
        assert block.successors == (last.jump_target,)
    elif last.opname in CONDITIONAL_JUMPS:
        assert block.successors == (last.next_offset, last.jump_target)
    else:
        assert block.successors == (last.next_offset,)


def check_dominators(cfg: CFG) -> None:
    dom = cfg.dominators
    assert set(dom) == set(cfg.blocks)
    for label in cfg.blocks:
        assert label in dom[label] and cfg.entry in dom[label]
        # dom(n) == {n} | intersection of dom(p) over predecessors p.
        preds = cfg.predecessors(label)
        if label != cfg.entry:
            meet = frozenset.intersection(*(dom[p] for p in preds))
            assert dom[label] == meet | {label}
    for src, dst in cfg.back_edges:
        assert dst in dom[src]
    # Python's structured loops: every backward jump closes a loop.
    for block in cfg.blocks.values():
        last = block.instructions[-1]
        if last.opname.startswith("JUMP_BACKWARD"):
            assert (block.label, last.jump_target) in cfg.back_edges


# ------------------------------------------------------------- samples

def s_if_else(a):
    if a:
        x = 1
    else:
        x = 2
    return x


def s_loop(xs):
    total = 0
    for x in xs:
        if x is None:
            continue
        if x > 10:
            break
        total += x
    else:
        total = -1
    return total


def s_while(n):
    i = 0
    while i < n:
        i += 1
        if i == 7:
            break
    else:
        i = -1
    return i


def s_nested(n):
    acc = 0
    for i in range(n):
        for j in range(i):
            if j % 3 == 0:
                continue
            acc += i * j
    return acc


def s_try(x):
    try:
        y = 1 / x
    except ZeroDivisionError as e:
        y = str(e)
    except (TypeError, ValueError):
        y = None
    else:
        y = y + 1
    finally:
        x = None
    return y


def s_try_in_loop(xs):
    out = []
    for x in xs:
        try:
            out.append(int(x))
        except ValueError:
            continue
        finally:
            out.append(None)
    return out


def s_with(path):
    with open(path) as f:
        data = f.read()
    return data


def s_with_return(lock, xs):
    with lock:
        for x in xs:
            if x:
                return x
    return None


def s_comprehensions(xs):
    a = [x * 2 for x in xs if x]
    b = {x: x for x in xs}
    c = {x for x in a}
    return a, b, c


def s_closure(n):
    k = n + 1

    def inner(m):
        return k + m + n

    return inner


def s_bool(a, b, c):
    return a and b or c


def s_chain(a, b, c):
    return a < b < c


def s_ternary(a, b, c):
    return b if a else c


def s_raise(x):
    if x:
        raise ValueError(x)
    assert x is not None, "never"
    return x


def s_big_try(n):
    total = 0
    for i in range(n):
        try:
            total += i * 2 + 1 - (i // 3) + (i % 5) * (i ** 2)
            total += i * 3 + 1 - (i // 4) + (i % 7) * (i ** 3)
        except ArithmeticError:
            pass
    return total


SAMPLES = [s_if_else, s_loop, s_while, s_nested, s_try, s_try_in_loop, s_with,
           s_with_return, s_comprehensions, s_closure, s_bool, s_chain,
           s_ternary, s_raise, s_big_try]


def sample_codes():
    for fn in SAMPLES:
        for code in walk_code(fn.__code__):
            yield code


@pytest.mark.parametrize("code", list(sample_codes()), ids=lambda c: c.co_qualname)
def test_sample_invariants(code):
    check_invariants(cfg_of(code))


SWEEP = [c for m in SWEEP_MODULES for c in module_code_objects(m)
         if is_function_scope(c) and not is_generator_like(c)]


def test_sweep_is_substantial():
    assert len(SWEEP) > 300
    assert any(decode(c).exception_table for c in SWEEP)


@pytest.mark.parametrize("code", SWEEP, ids=lambda c: c.co_qualname)
def test_stdlib_invariants(code):
    check_invariants(cfg_of(code))


# ------------------------------------------------------------- specifics

def test_bool_shape():
    cfg = cfg_of(s_bool)
    assert list(cfg.blocks) == [0, 6, 10, 12]
    assert cfg.blocks[0].successors == (6, 10)
    assert cfg.blocks[6].successors == (10, 12)   # JUMP_IF_TRUE_OR_POP
    assert cfg.blocks[10].successors == (12,)
    assert cfg.blocks[12].successors == ()
    assert [b.depth_in for b in cfg.blocks.values()] == [0, 0, 0, 1]
    assert cfg.predecessors(12) == (6, 10)
    assert cfg.predecessors(10) == (0, 6)
    assert cfg.dominators[12] == frozenset({0, 12})
    assert not cfg.back_edges and not cfg.handler_entries()


def test_if_else_shape():
    cfg = cfg_of(s_if_else)
    entry = cfg.blocks[0]
    assert entry.instructions[-1].opname in CONDITIONAL_JUMPS
    assert len(entry.successors) == 2
    assert not cfg.back_edges
    assert all(b.depth_in == 0 for b in cfg.blocks.values())


def loop_headers(cfg):
    return {dst for _, dst in cfg.back_edges}


def test_for_loop():
    cfg = cfg_of(s_loop)
    headers = loop_headers(cfg)
    assert len(headers) == 1
    header = cfg.blocks[headers.pop()]
    assert header.instructions[-1].opname == "FOR_ITER"
    assert header.depth_in == 1          # the iterator stays on the stack
    body, exit_ = header.successors
    assert cfg.blocks[body].depth_in == 2
    assert cfg.blocks[exit_].depth_in == 0
    # continue and the natural end both jump back: >= 2 back edges.
    assert len(cfg.back_edges) >= 2


def test_while_loop():
    cfg = cfg_of(s_while)
    assert loop_headers(cfg)
    for src, dst in cfg.back_edges:
        assert cfg.blocks[dst].depth_in == 0
        assert dst in cfg.dominators[src]


def test_nested_loops():
    cfg = cfg_of(s_nested)
    headers = loop_headers(cfg)
    assert len(headers) == 2
    outer, inner = sorted(headers)
    assert outer in cfg.dominators[inner]
    assert cfg.blocks[outer].depth_in == 1
    assert cfg.blocks[inner].depth_in == 2


def test_try_handlers():
    cfg = cfg_of(s_try)
    handlers = cfg.handler_entries()
    assert handlers
    # The except clause handler starts by saving the current exception.
    first_ops = {cfg.blocks[h].instructions[0].opname for h in handlers}
    assert "PUSH_EXC_INFO" in first_ops
    for label in handlers:
        assert cfg.blocks[label].is_handler_entry
        for pred in cfg.predecessors(label):
            entry = cfg.blocks[pred].handler
            if entry is not None and entry.target == label:
                assert cfg.blocks[label].depth_in == entry.depth + 1 + entry.lasti
    # Some block is covered but not a handler: the try body.
    assert any(b.handler is not None and not b.is_handler_entry
               for b in cfg.blocks.values())
    # Handlers are reached only through exception edges.
    for label in handlers:
        assert cfg.normal_predecessors(label) == ()
        assert cfg.predecessors(label)


def test_with_keeps_exit_on_stack():
    cfg = cfg_of(s_with)
    body = [b for b in cfg.blocks.values()
            if b.handler is not None and not b.is_handler_entry]
    assert body
    # __exit__ is on the stack in the with body; handler unwinds to it.
    assert all(b.handler.depth >= 1 for b in body)
    assert all(b.depth_in >= b.handler.depth for b in body)


def test_comprehension_inner_code():
    listcomp = next(c for c in s_comprehensions.__code__.co_consts
                    if isinstance(c, types.CodeType) and c.co_name == "<listcomp>")
    cfg = cfg_of(listcomp)
    check_invariants(cfg)
    header = cfg.blocks[next(iter(loop_headers(cfg)))]
    assert header.instructions[-1].opname == "FOR_ITER"
    assert header.depth_in == 2          # the list, then the iterator


def test_closure_codes():
    check_invariants(cfg_of(s_closure))
    inner = next(c for c in s_closure.__code__.co_consts
                 if isinstance(c, types.CodeType))
    cfg = cfg_of(inner)
    assert cfg.blocks[0].instructions[0].opname == "COPY_FREE_VARS"


def test_raise_blocks_have_no_successors():
    cfg = cfg_of(s_raise)
    raising = [b for b in cfg.blocks.values()
               if b.instructions[-1].opname == "RAISE_VARARGS"]
    assert len(raising) == 2
    assert all(b.successors == () for b in raising)


def test_edge_is_jump():
    cfg = cfg_of(s_bool)
    assert cfg.blocks[0].edge_is_jump(1) and not cfg.blocks[0].edge_is_jump(0)


def test_dump_mentions_everything():
    cfg = cfg_of(s_try)
    text = cfg.dump()
    for block in cfg.blocks.values():
        assert f"block {block.label}:" in text
        assert f"depth_in={block.depth_in}" in text
        for ins in block.instructions:
            assert ins.opname in text


# ------------------------------------------------------------- rejections

def s_gen():
    yield 1


async def s_coro():
    return 1


async def s_agen():
    yield 1


def s_async_genexpr(xs):
    return (x async for x in xs)


def test_rejects_generators():
    for fn in (s_gen, s_coro, s_agen):
        with pytest.raises(Unsupported, match="generator or coroutine"):
            cfg_of(fn)


def test_rejects_generator_opcodes_in_plain_function():
    # The function itself is plain, but it starts an async iteration.
    with pytest.raises(Unsupported, match="GET_AITER"):
        cfg_of(s_async_genexpr)


def test_rejects_module_and_class_bodies():
    module = compile("class C:\n    x = 1\n", "<m>", "exec")
    with pytest.raises(Unsupported, match="module or class body"):
        cfg_of(module)
    class_body = next(c for c in module.co_consts if isinstance(c, types.CodeType))
    with pytest.raises(Unsupported, match="module or class body"):
        cfg_of(class_body)


def _synthetic(*ops: tuple[str, int], stacksize: int = 2) -> types.CodeType:
    """A hand-assembled variant of a one-argument function (no caches used)."""
    def template(a):
        return a
    raw = bytes(b for name, arg in ops for b in (dis.opmap[name], arg))
    return template.__code__.replace(co_code=raw, co_linetable=b"",
                                     co_stacksize=stacksize,
                                     co_exceptiontable=b"")


def test_rejects_inconsistent_depth():
    code = _synthetic(("RESUME", 0), ("LOAD_FAST", 0),
                      ("POP_JUMP_FORWARD_IF_TRUE", 1),   # to offset 8
                      ("LOAD_FAST", 0),                 # only on fall-through
                      ("LOAD_FAST", 0), ("RETURN_VALUE", 0))
    with pytest.raises(Unsupported, match="inconsistent stack depth at offset 8"):
        cfg_of(code)


def test_rejects_underflow():
    code = _synthetic(("RESUME", 0), ("POP_TOP", 0),
                      ("LOAD_FAST", 0), ("RETURN_VALUE", 0))
    with pytest.raises(Unsupported, match="underflow"):
        cfg_of(code)


def test_rejects_falling_off_the_end():
    code = _synthetic(("RESUME", 0), ("LOAD_FAST", 0), ("POP_TOP", 0))
    with pytest.raises(Unsupported, match="falls off"):
        cfg_of(code)


def test_unreachable_code_is_dropped():
    code = _synthetic(("RESUME", 0), ("LOAD_FAST", 0), ("RETURN_VALUE", 0),
                      ("LOAD_FAST", 0), ("RETURN_VALUE", 0))
    cfg = cfg_of(code)
    assert list(cfg.blocks) == [0]
    check_invariants(cfg)
