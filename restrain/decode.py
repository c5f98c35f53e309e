"""Decode a CPython 3.11 code object into plain, immutable data.

This is the only module of restrain that knows the details of CPython 3.11's
bytecode: which opcodes jump, which end a block, how the exception table is
encoded, and how each instruction changes the value-stack depth.  Everything
downstream (the CFG, the IR builder) works from `DecodedCode` and the opcode
classification sets defined here.

We rely on the standard library `dis` for instruction decoding because it
reads `co_code`, which CPython 3.11 returns *de-quickened* (specialised
opcodes mapped back to their generic form, inline caches zeroed).  Inline
CACHE entries are skipped (`show_caches=False`) but still counted in byte
offsets, exactly as the interpreter counts them.

The exception table (`co_exceptiontable`) is parsed by our own parser; the
format is described in CPython's Objects/exception_handling_notes.txt.
"""

from __future__ import annotations

import bisect
import dis
import inspect
import types
from dataclasses import dataclass, field

from restrain.errors import Unsupported

__all__ = [
    "Instruction",
    "ExceptionEntry",
    "DecodedCode",
    "decode",
    "parse_exception_table",
    "stack_effect",
    "is_generator_like",
    "is_function_scope",
    "UNCONDITIONAL_JUMPS",
    "CONDITIONAL_JUMPS",
    "JUMPS",
    "TERMINATORS",
    "BLOCK_ENDERS",
    "GENERATOR_OPCODES",
]


# --------------------------------------------------------------------------
# Opcode classification (opnames, CPython 3.11)
# --------------------------------------------------------------------------

#: Jumps that always transfer control to their target.
UNCONDITIONAL_JUMPS: frozenset[str] = frozenset({
    "JUMP_FORWARD",
    "JUMP_BACKWARD",
    "JUMP_BACKWARD_NO_INTERRUPT",
})

#: Two-way branches: control continues at the next instruction or the target.
#: FOR_ITER jumps (popping the iterator) when the iterator is exhausted.
#: JUMP_IF_*_OR_POP keep the tested value on the stack only when jumping.
CONDITIONAL_JUMPS: frozenset[str] = frozenset({
    "POP_JUMP_FORWARD_IF_TRUE",
    "POP_JUMP_FORWARD_IF_FALSE",
    "POP_JUMP_FORWARD_IF_NONE",
    "POP_JUMP_FORWARD_IF_NOT_NONE",
    "POP_JUMP_BACKWARD_IF_TRUE",
    "POP_JUMP_BACKWARD_IF_FALSE",
    "POP_JUMP_BACKWARD_IF_NONE",
    "POP_JUMP_BACKWARD_IF_NOT_NONE",
    "JUMP_IF_TRUE_OR_POP",
    "JUMP_IF_FALSE_OR_POP",
    "FOR_ITER",
})

JUMPS: frozenset[str] = UNCONDITIONAL_JUMPS | CONDITIONAL_JUMPS

#: Instructions after which control never falls through to the next one
#: (other than by jumping).  RAISE_VARARGS / RERAISE leave via the
#: exception table (or out of the frame).
TERMINATORS: frozenset[str] = frozenset({
    "RETURN_VALUE",
    "RAISE_VARARGS",
    "RERAISE",
})

#: Every instruction after which a new basic block must start.
BLOCK_ENDERS: frozenset[str] = JUMPS | TERMINATORS

#: Opcodes that only make sense in generators / coroutines / async code.
#: restrain compiles plain functions only, so any of these means "give up".
GENERATOR_OPCODES: frozenset[str] = frozenset({
    "YIELD_VALUE",
    "SEND",
    "RETURN_GENERATOR",
    "GET_AWAITABLE",
    "GET_AITER",
    "GET_ANEXT",
    "END_ASYNC_FOR",
    "ASYNC_GEN_WRAP",
    "BEFORE_ASYNC_WITH",
    "GET_YIELD_FROM_ITER",
})

# Opcodes whose `argval` (as computed by dis) is an absolute jump target.
# SEND is among them; it is a generator opcode and rejected by the CFG anyway.
_JUMP_OPCODES: frozenset[int] = frozenset(dis.hasjrel) | frozenset(dis.hasjabs)


# --------------------------------------------------------------------------
# Code-object flags
# --------------------------------------------------------------------------

_GENERATOR_LIKE_FLAGS = (
    inspect.CO_GENERATOR
    | inspect.CO_COROUTINE
    | inspect.CO_ASYNC_GENERATOR
    | inspect.CO_ITERABLE_COROUTINE
)
_FUNCTION_SCOPE_FLAGS = inspect.CO_OPTIMIZED | inspect.CO_NEWLOCALS


def is_generator_like(code: types.CodeType) -> bool:
    """True for generators, coroutines, async generators and iterable coroutines."""
    return bool(code.co_flags & _GENERATOR_LIKE_FLAGS)


def is_function_scope(code: types.CodeType) -> bool:
    """True for function bodies (fast locals, fresh namespace).

    Module and class bodies lack CO_OPTIMIZED/CO_NEWLOCALS: their names live in
    dicts, which the compiled code does not model.
    """
    return code.co_flags & _FUNCTION_SCOPE_FLAGS == _FUNCTION_SCOPE_FLAGS


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Instruction:
    """One (non-CACHE) instruction, with dis's view of it plus layout facts."""

    offset: int            # byte offset in co_code, counting inline CACHE units
    index: int             # offset // 2: the code-unit index (frame->prev_instr)
    opname: str
    opcode: int
    arg: int | None        # includes any EXTENDED_ARG prefix bits, as dis does
    argval: object         # resolved name / constant / absolute jump target
    argrepr: str
    line: int | None       # source line, None when the instruction has none
    next_offset: int       # offset of the following instruction (after caches)
    jump_target: int | None  # absolute target offset of any jump, else None

    @property
    def is_jump(self) -> bool:
        return self.opname in JUMPS

    @property
    def is_conditional_jump(self) -> bool:
        return self.opname in CONDITIONAL_JUMPS

    @property
    def is_unconditional_jump(self) -> bool:
        return self.opname in UNCONDITIONAL_JUMPS

    @property
    def is_terminator(self) -> bool:
        return self.opname in TERMINATORS

    def __str__(self) -> str:
        line = "-" if self.line is None else str(self.line)
        text = f"{self.offset:>6} {line:>5}  {self.opname:<28}"
        if self.arg is not None:
            text += f" {self.arg:<4}"
            if self.argrepr:
                text += f" ({self.argrepr})"
        return text.rstrip()


@dataclass(frozen=True)
class ExceptionEntry:
    """One row of the 3.11 exception table."""

    start: int     # first covered byte offset
    end: int       # byte offset just past the covered range (exclusive)
    target: int    # handler offset
    depth: int     # stack depth to unwind to before pushing the exception
    lasti: bool    # push the raising instruction's offset (an int) first

    def covers(self, offset: int) -> bool:
        return self.start <= offset < self.end

    def __str__(self) -> str:
        lasti = " lasti" if self.lasti else ""
        return f"{self.start} to {self.end} -> {self.target} [{self.depth}]{lasti}"


@dataclass(frozen=True)
class DecodedCode:
    """A code object's instructions and exception table, decoded once."""

    code: types.CodeType
    instructions: tuple[Instruction, ...]
    exception_table: tuple[ExceptionEntry, ...]
    # Lookup helpers, derived in __post_init__ (not part of equality).
    _by_offset: dict[int, Instruction] = field(
        init=False, repr=False, compare=False, hash=False)
    _starts: tuple[int, ...] = field(
        init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # Frozen dataclass: set derived fields through object.__setattr__.
        object.__setattr__(
            self, "_by_offset", {ins.offset: ins for ins in self.instructions})
        object.__setattr__(
            self, "_starts", tuple(e.start for e in self.exception_table))

    def handler_for(self, offset: int) -> ExceptionEntry | None:
        """The exception-table entry covering `offset`, or None.

        3.11 tables are flat (entries never overlap) and sorted by start, so
        the only candidate is the last entry starting at or before `offset`.
        """
        pos = bisect.bisect_right(self._starts, offset) - 1
        if pos >= 0 and self.exception_table[pos].covers(offset):
            return self.exception_table[pos]
        return None

    def instruction_at(self, offset: int) -> Instruction:
        """The instruction starting at `offset` (KeyError if none does)."""
        try:
            return self._by_offset[offset]
        except KeyError:
            raise KeyError(f"no instruction starts at offset {offset}") from None

    def is_instruction_start(self, offset: int) -> bool:
        return offset in self._by_offset

    @property
    def code_size(self) -> int:
        """Length of co_code in bytes (the offset just past the last unit)."""
        return len(self.code.co_code)

    def dump(self) -> str:
        """A readable listing: offset, line, opname, argrepr, exception table."""
        code = self.code
        lines = [
            f"code {code.co_qualname} "
            f"({code.co_filename}:{code.co_firstlineno})",
            f"{'offset':>6} {'line':>5}  opname",
        ]
        lines.extend(str(ins) for ins in self.instructions)
        lines.append("exception table:")
        if self.exception_table:
            lines.extend(f"  {entry}" for entry in self.exception_table)
        else:
            lines.append("  (empty)")
        return "\n".join(lines)


# --------------------------------------------------------------------------
# Exception table parsing
# --------------------------------------------------------------------------

# Each table entry is four varints: start, length, target (all in code
# units) and depth<<1|lasti.  A varint is big-endian in 6-bit chunks; bit 6
# (0x40) of a byte says "more chunks follow"; bit 7 (0x80) is set only on the
# first byte of an entry, which lets CPython binary-search the table.
_VARINT_MORE = 0x40
_ENTRY_START = 0x80
_VARINT_BITS = 0x3F


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Decode one varint at `pos`; return (value, position after it)."""
    if pos >= len(data):
        raise Unsupported("truncated exception table")
    byte = data[pos]
    value = byte & _VARINT_BITS
    pos += 1
    while byte & _VARINT_MORE:
        if pos >= len(data):
            raise Unsupported("truncated exception table")
        byte = data[pos]
        value = (value << 6) | (byte & _VARINT_BITS)
        pos += 1
    return value, pos


def parse_exception_table(data: bytes) -> tuple[ExceptionEntry, ...]:
    """Parse a 3.11 `co_exceptiontable` into entries with byte offsets."""
    entries = []
    pos = 0
    while pos < len(data):
        if not data[pos] & _ENTRY_START:
            raise Unsupported(f"malformed exception table at byte {pos}")
        start, pos = _read_varint(data, pos)
        length, pos = _read_varint(data, pos)
        target, pos = _read_varint(data, pos)
        depth_lasti, pos = _read_varint(data, pos)
        entries.append(ExceptionEntry(
            start=start * 2,
            end=(start + length) * 2,
            target=target * 2,
            depth=depth_lasti >> 1,
            lasti=bool(depth_lasti & 1),
        ))
    return tuple(entries)


# --------------------------------------------------------------------------
# Instruction decoding
# --------------------------------------------------------------------------

def _convert(ins: dis.Instruction, next_offset: int) -> Instruction:
    positions = ins.positions
    return Instruction(
        offset=ins.offset,
        index=ins.offset // 2,
        opname=ins.opname,
        opcode=ins.opcode,
        arg=ins.arg,
        argval=ins.argval,
        argrepr=ins.argrepr,
        line=positions.lineno if positions is not None else None,
        next_offset=next_offset,
        jump_target=ins.argval if ins.opcode in _JUMP_OPCODES else None,
    )


def _decode_instructions(code: types.CodeType) -> tuple[Instruction, ...]:
    raw = [ins for ins in dis.get_instructions(code, show_caches=False)
           if ins.opname != "CACHE"]
    # The next instruction's offset already accounts for this one's inline
    # caches; the last instruction runs to the end of co_code.
    ends = [ins.offset for ins in raw[1:]] + [len(code.co_code)]
    return tuple(_convert(ins, end) for ins, end in zip(raw, ends))


def decode(code: types.CodeType) -> DecodedCode:
    """Decode `code` (any code object; the CFG decides what it accepts)."""
    return DecodedCode(
        code=code,
        instructions=_decode_instructions(code),
        exception_table=parse_exception_table(code.co_exceptiontable),
    )


def stack_effect(instr: Instruction, jump: bool) -> int:
    """Net value-stack change of `instr`; `jump=True` means the branch is taken.

    For non-branching instructions both answers are the same.  dis wants the
    oparg only for opcodes that take one.
    """
    arg = instr.arg if instr.opcode >= dis.HAVE_ARGUMENT else None
    return dis.stack_effect(instr.opcode, arg, jump=jump)
