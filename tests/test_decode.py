"""Tests for restrain.decode: instruction decoding and the exception table."""

from __future__ import annotations

import dis
import importlib
import types

import pytest

from restrain import decode as dec
from restrain.decode import (
    CONDITIONAL_JUMPS,
    GENERATOR_OPCODES,
    TERMINATORS,
    UNCONDITIONAL_JUMPS,
    ExceptionEntry,
    decode,
    is_function_scope,
    is_generator_like,
    parse_exception_table,
    stack_effect,
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
        source = f.read()
    return list(walk_code(compile(source, path, "exec")))


ALL_SWEEP_CODES = [c for m in SWEEP_MODULES for c in module_code_objects(m)]


# ---------------------------------------------------------------- samples

def sample_try(x):
    try:
        y = 1 / x
    except ZeroDivisionError as e:
        y = str(e)
    finally:
        x = None
    return y


def sample_with(path):
    with open(path) as f:
        return f.read()


def sample_loop(xs):
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


def sample_gen():
    yield 1


async def sample_coro():
    return 1


def sample_big(n):
    # Enough code to push offsets past 64 code units, so exception-table
    # varints need more than one byte.
    total = 0
    for i in range(n):
        total += i * 2 + 1 - (i // 3) + (i % 5) * (i ** 2) - (i << 1) + (i >> 2)
        total += i * 3 + 1 - (i // 4) + (i % 7) * (i ** 3) - (i << 2) + (i >> 3)
    try:
        total += n // (n - n)
    except ZeroDivisionError:
        total = 0
    return total


SAMPLES = [sample_try, sample_with, sample_loop, sample_big]


# ---------------------------------------------------------------- tests

@pytest.mark.parametrize("code", ALL_SWEEP_CODES + [f.__code__ for f in SAMPLES],
                         ids=lambda c: c.co_qualname)
def test_exception_table_matches_dis(code):
    expected = [ExceptionEntry(e.start, e.end, e.target, e.depth, e.lasti)
                for e in dis._parse_exception_table(code)]
    assert list(decode(code).exception_table) == expected


def test_multibyte_varints_present():
    # Guard that the sweep really exercises multi-byte varints.
    table = decode(sample_big.__code__).exception_table
    assert table and max(e.end for e in table) // 2 >= 64


def test_parse_exception_table_synthetic():
    # start=1, length=200 (0x40|3, 8: 3<<6|8), target=70 (0x40|1, 6),
    # depth=2 with lasti -> 5.
    data = bytes([0x80 | 1, 0x40 | 3, 8, 0x40 | 1, 6, 5,
                  0x80 | 0, 1, 2, 0])
    assert parse_exception_table(data) == (
        ExceptionEntry(start=2, end=402, target=140, depth=2, lasti=True),
        ExceptionEntry(start=0, end=2, target=4, depth=0, lasti=False),
    )
    assert parse_exception_table(b"") == ()


@pytest.mark.parametrize("data", [bytes([1, 1, 1, 1]), bytes([0x80, 0x41])])
def test_parse_exception_table_malformed(data):
    with pytest.raises(Unsupported):
        parse_exception_table(data)


@pytest.mark.parametrize("code", ALL_SWEEP_CODES, ids=lambda c: c.co_qualname)
def test_instructions_match_dis(code):
    decoded = decode(code)
    raw = list(dis.get_instructions(code, show_caches=False))
    assert [i.offset for i in decoded.instructions] == [i.offset for i in raw]
    for ins, ref in zip(decoded.instructions, raw):
        assert ins.opname != "CACHE"
        assert ins.index * 2 == ins.offset
        assert (ins.opname, ins.opcode, ins.arg, ins.argrepr) == \
            (ref.opname, ref.opcode, ref.arg, ref.argrepr)
        assert ins.line == ref.positions.lineno
        assert decoded.instruction_at(ins.offset) is ins
    # next_offset chains the instructions and skips the inline caches.
    for ins, nxt in zip(decoded.instructions, decoded.instructions[1:]):
        assert ins.next_offset == nxt.offset
        caches = dis._inline_cache_entries[ins.opcode]
        if ins.opname != "EXTENDED_ARG":
            assert ins.next_offset == ins.offset + 2 + 2 * caches
    assert decoded.instructions[-1].next_offset == len(code.co_code)


@pytest.mark.parametrize("code", ALL_SWEEP_CODES, ids=lambda c: c.co_qualname)
def test_jump_targets(code):
    decoded = decode(code)
    starts = {i.offset for i in decoded.instructions}
    for ins in decoded.instructions:
        is_jump = ins.opname in UNCONDITIONAL_JUMPS | CONDITIONAL_JUMPS
        if is_jump or ins.opname == "SEND":
            assert ins.jump_target == ins.argval
            assert ins.jump_target in starts
        else:
            assert ins.jump_target is None
        if "BACKWARD" in ins.opname:
            assert ins.jump_target <= ins.offset


def test_handler_for_brute_force():
    for code in ALL_SWEEP_CODES[:200] + [sample_try.__code__]:
        decoded = decode(code)
        for offset in range(0, len(code.co_code) + 4, 2):
            covering = [e for e in decoded.exception_table
                        if e.start <= offset < e.end]
            assert len(covering) <= 1
            assert decoded.handler_for(offset) == (covering[0] if covering else None)


def test_instruction_at_missing():
    decoded = decode(sample_loop.__code__)
    with pytest.raises(KeyError):
        decoded.instruction_at(1)


def test_try_table_shape():
    table = decode(sample_try.__code__).exception_table
    assert table
    assert any(e.lasti for e in table)          # cleanup handlers push lasti
    assert any(not e.lasti for e in table)      # the try body's handler doesn't
    for e in table:
        assert e.start < e.end and e.start % 2 == 0 and e.target % 2 == 0


def test_stack_effect_matches_dis():
    for ins in decode(sample_try.__code__).instructions + \
            decode(sample_loop.__code__).instructions:
        arg = ins.arg if ins.opcode >= dis.HAVE_ARGUMENT else None
        for jump in (False, True):
            assert stack_effect(ins, jump) == dis.stack_effect(ins.opcode, arg, jump=jump)
    for_iter = next(i for i in decode(sample_loop.__code__).instructions
                    if i.opname == "FOR_ITER")
    assert stack_effect(for_iter, False) == 1    # pushes the next item
    assert stack_effect(for_iter, True) == -1    # exhausted: pops the iterator


def test_classification_sets_are_real_opnames():
    for group in (UNCONDITIONAL_JUMPS, CONDITIONAL_JUMPS, TERMINATORS,
                  GENERATOR_OPCODES):
        assert group <= set(dis.opmap)
    assert not UNCONDITIONAL_JUMPS & CONDITIONAL_JUMPS
    assert not TERMINATORS & (UNCONDITIONAL_JUMPS | CONDITIONAL_JUMPS)
    # Every jump opcode in this CPython (except SEND) is classified.
    jump_names = {dis.opname[op] for op in dis.hasjrel + dis.hasjabs}
    assert jump_names - {"SEND"} == UNCONDITIONAL_JUMPS | CONDITIONAL_JUMPS
    assert {"YIELD_VALUE", "SEND", "RETURN_GENERATOR", "GET_AWAITABLE"} <= GENERATOR_OPCODES


def test_flag_helpers():
    module_code = compile("x = 1", "<m>", "exec")
    class_code = next(c for c in walk_code(compile("class C:\n  a = 1\n", "<c>", "exec"))
                      if c.co_name == "C")
    assert is_function_scope(sample_loop.__code__)
    assert not is_function_scope(module_code)
    assert not is_function_scope(class_code)
    assert not is_generator_like(sample_loop.__code__)
    assert is_generator_like(sample_gen.__code__)
    assert is_generator_like(sample_coro.__code__)
    listcomp = next(c for c in sample_with_comprehension.__code__.co_consts
                    if isinstance(c, types.CodeType))
    assert is_function_scope(listcomp) and not is_generator_like(listcomp)


def sample_with_comprehension(xs):
    return [x * 2 for x in xs if x]


def test_lines():
    decoded = decode(sample_loop.__code__)
    first = sample_loop.__code__.co_firstlineno
    lines = {i.line for i in decoded.instructions if i.line is not None}
    assert min(lines) == first
    assert max(lines) <= first + 10


def test_dump():
    decoded = decode(sample_try.__code__)
    text = decoded.dump()
    assert "sample_try" in text
    assert "exception table:" in text
    for ins in decoded.instructions:
        assert ins.opname in text
    for entry in decoded.exception_table:
        assert str(entry) in text
    assert "(empty)" in decode(sample_with_comprehension.__code__).dump()


def test_decoded_is_frozen():
    decoded = decode(sample_loop.__code__)
    with pytest.raises(AttributeError):
        decoded.code = None  # type: ignore[misc]
    with pytest.raises(AttributeError):
        decoded.instructions[0].offset = 3  # type: ignore[misc]
    assert dec.decode(sample_loop.__code__) == decoded
