"""Basic blocks, stack depths and dominators for one decoded function.

`build_cfg` splits a `DecodedCode` into basic blocks, keeps those reachable
from the entry (through normal edges and exception-handler edges), computes
the value-stack depth on entry to every block by abstract interpretation, and
derives dominators and loop back edges.

Blocks are split at every exception-table range boundary, so each block is
covered by exactly one exception-table entry or by none (`Block.handler`).
Exception edges therefore go from a whole block to its handler; the handler
entry's depth comes from the table, not from the raising block.

Anything the compiler does not handle (generators, module/class bodies,
inconsistent stack depths) raises `Unsupported` with a reason.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from restrain.decode import (
    BLOCK_ENDERS,
    CONDITIONAL_JUMPS,
    GENERATOR_OPCODES,
    TERMINATORS,
    UNCONDITIONAL_JUMPS,
    DecodedCode,
    ExceptionEntry,
    Instruction,
    is_function_scope,
    is_generator_like,
    stack_effect,
)
from restrain.errors import Unsupported

__all__ = ["Block", "CFG", "build_cfg", "handler_depth"]


@dataclass(frozen=True)
class Block:
    """A maximal straight-line run of instructions."""

    label: int                             # offset of its first instruction
    instructions: tuple[Instruction, ...]
    # Normal successors, by the last instruction:
    #   conditional jump -> (fallthrough_label, jump_target_label)
    #   unconditional jump -> (target,);  terminator -> ()
    #   anything else -> (next_label,)
    successors: tuple[int, ...]
    handler: ExceptionEntry | None         # entry covering every instruction
    depth_in: int                          # value-stack depth on entry
    is_handler_entry: bool                 # target of some exception entry

    @property
    def last(self) -> Instruction:
        return self.instructions[-1]

    @property
    def end(self) -> int:
        """Offset just past the block (its last instruction's next_offset)."""
        return self.last.next_offset

    def edge_is_jump(self, successor_index: int) -> bool:
        """Whether `successors[successor_index]` is reached by taking a jump."""
        return _edge_jump_flags(self.last)[successor_index]

    def dump(self) -> str:
        handler = "none" if self.handler is None else str(self.handler)
        head = (f"block {self.label}: depth_in={self.depth_in} "
                f"handler={handler}"
                + (" (handler entry)" if self.is_handler_entry else ""))
        body = [f"  {ins}" for ins in self.instructions]
        succ = ", ".join(str(s) for s in self.successors) or "-"
        return "\n".join([head, *body, f"  -> {succ}"])


@dataclass(frozen=True)
class CFG:
    """The control-flow graph of one function."""

    decoded: DecodedCode
    blocks: Mapping[int, Block]            # reachable blocks, in offset order
    entry: int
    dominators: Mapping[int, frozenset[int]]
    back_edges: frozenset[tuple[int, int]]
    _preds: Mapping[int, tuple[int, ...]] = field(repr=False, compare=False)
    _normal_preds: Mapping[int, tuple[int, ...]] = field(
        repr=False, compare=False)

    def predecessors(self, label: int) -> tuple[int, ...]:
        """Blocks with a normal or exception edge into `label` (offset order)."""
        return self._preds[label]

    def normal_predecessors(self, label: int) -> tuple[int, ...]:
        """Blocks with a normal (non-exception) edge into `label`."""
        return self._normal_preds[label]

    def handler_entries(self) -> tuple[int, ...]:
        """Labels of reachable blocks that are exception handler targets."""
        return tuple(b.label for b in self.blocks.values() if b.is_handler_entry)

    def dump(self) -> str:
        code = self.decoded.code
        head = f"cfg {code.co_qualname} ({code.co_filename}:{code.co_firstlineno})"
        parts = [head]
        parts.extend(block.dump() for block in self.blocks.values())
        if self.back_edges:
            edges = ", ".join(f"{s}->{t}" for s, t in sorted(self.back_edges))
            parts.append(f"back edges: {edges}")
        return "\n".join(parts)


def handler_depth(entry: ExceptionEntry) -> int:
    """Stack depth on entry to `entry`'s handler.

    The interpreter unwinds to `entry.depth`, pushes the raising
    instruction's offset if `lasti`, then pushes the exception.
    """
    return entry.depth + (1 if entry.lasti else 0) + 1


# --------------------------------------------------------------------------
# Construction
# --------------------------------------------------------------------------

def build_cfg(decoded: DecodedCode) -> CFG:
    _check_supported(decoded)
    raw = _split_blocks(decoded)
    successors = {label: _successors(decoded, ins[-1]) for label, ins in raw.items()}
    handlers = {label: decoded.handler_for(label) for label in raw}
    depths = _compute_depths(decoded, raw, successors, handlers)
    targets = {entry.target for entry in decoded.exception_table}
    blocks = {
        label: Block(
            label=label,
            instructions=raw[label],
            successors=successors[label],
            handler=handlers[label],
            depth_in=depths[label],
            is_handler_entry=label in targets,
        )
        for label in sorted(depths)
    }
    edges = _all_edges(blocks)
    dominators = _dominators(blocks, 0, edges)
    back_edges = frozenset(
        (src, dst) for src, dst in edges if dst in dominators[src])
    return CFG(
        decoded=decoded,
        blocks=types.MappingProxyType(blocks),
        entry=0,
        dominators=types.MappingProxyType(dominators),
        back_edges=back_edges,
        _preds=types.MappingProxyType(_predecessor_map(blocks, edges)),
        _normal_preds=types.MappingProxyType(
            _predecessor_map(blocks, _normal_edges(blocks))),
    )


def _check_supported(decoded: DecodedCode) -> None:
    code = decoded.code
    if not is_function_scope(code):
        raise Unsupported("module or class body")
    if is_generator_like(code):
        raise Unsupported("generator or coroutine")
    for ins in decoded.instructions:
        if ins.opname in GENERATOR_OPCODES:
            raise Unsupported(f"opcode {ins.opname} at offset {ins.offset}")
    if not decoded.instructions:
        raise Unsupported("empty code object")


def _leaders(decoded: DecodedCode) -> set[int]:
    """Offsets that start a basic block (see the module docstring)."""
    size = decoded.code_size
    leaders = {0}
    for ins in decoded.instructions:
        if ins.jump_target is not None:
            leaders.add(ins.jump_target)
        if ins.opname in BLOCK_ENDERS:
            leaders.add(ins.next_offset)
    for entry in decoded.exception_table:
        leaders.update((entry.start, entry.end, entry.target))
    leaders.discard(size)  # "after the last instruction" starts nothing
    for offset in leaders:
        if not decoded.is_instruction_start(offset):
            raise Unsupported(f"jump or exception range into the middle of "
                              f"an instruction at offset {offset}")
    return leaders


def _split_blocks(decoded: DecodedCode) -> dict[int, tuple[Instruction, ...]]:
    """All blocks (reachable or not) keyed by label, in offset order."""
    leaders = _leaders(decoded)
    blocks: dict[int, tuple[Instruction, ...]] = {}
    current: list[Instruction] = []
    for ins in decoded.instructions:
        if ins.offset in leaders and current:
            blocks[current[0].offset] = tuple(current)
            current = []
        current.append(ins)
    blocks[current[0].offset] = tuple(current)
    return blocks


def _successors(decoded: DecodedCode, last: Instruction) -> tuple[int, ...]:
    if last.opname in TERMINATORS:
        return ()
    if last.opname in UNCONDITIONAL_JUMPS:
        return (last.jump_target,)
    # Everything else falls through, which needs a following instruction.
    if last.next_offset >= decoded.code_size:
        raise Unsupported(f"control falls off the end of the code after "
                          f"offset {last.offset}")
    if last.opname in CONDITIONAL_JUMPS:
        return (last.next_offset, last.jump_target)
    return (last.next_offset,)


def _edge_jump_flags(last: Instruction) -> tuple[bool, ...]:
    """For each successor of a block ending in `last`: is it the taken jump?"""
    if last.opname in TERMINATORS:
        return ()
    if last.opname in UNCONDITIONAL_JUMPS:
        return (True,)
    if last.opname in CONDITIONAL_JUMPS:
        return (False, True)
    return (False,)


# --------------------------------------------------------------------------
# Stack depths (also decides reachability)
# --------------------------------------------------------------------------

def _block_exit_depths(decoded: DecodedCode, instructions: tuple[Instruction, ...],
                       depth: int, handler: ExceptionEntry | None,
                       ) -> tuple[int, ...]:
    """Simulate a block from `depth`; return the depth along each successor."""
    limit = decoded.code.co_stacksize
    for ins in instructions[:-1]:
        depth = _step(ins, depth, False, limit, handler)
    last = instructions[-1]
    return tuple(_step(last, depth, jump, limit, handler)
                 for jump in _edge_jump_flags(last))


def _step(ins: Instruction, depth: int, jump: bool, limit: int,
          handler: ExceptionEntry | None) -> int:
    # The unwinder pops down to handler.depth: the stack must be that deep
    # whenever a covered instruction starts.
    if handler is not None and depth < handler.depth:
        raise Unsupported(f"stack depth {depth} below handler depth "
                          f"{handler.depth} at offset {ins.offset}")
    after = depth + stack_effect(ins, jump)
    if after < 0:
        raise Unsupported(f"stack underflow at offset {ins.offset}")
    if after > limit:
        raise Unsupported(f"stack depth exceeds co_stacksize at offset {ins.offset}")
    return after


def _compute_depths(decoded: DecodedCode,
                    raw: Mapping[int, tuple[Instruction, ...]],
                    successors: Mapping[int, tuple[int, ...]],
                    handlers: Mapping[int, ExceptionEntry | None],
                    ) -> dict[int, int]:
    """Depth on entry to every reachable block (the keys are the reachable set)."""
    depths: dict[int, int] = {}
    work: list[int] = []

    def reach(label: int, depth: int) -> None:
        known = depths.get(label)
        if known is None:
            depths[label] = depth
            work.append(label)
        elif known != depth:
            raise Unsupported(f"inconsistent stack depth at offset {label}")

    reach(0, 0)
    while work:
        label = work.pop()
        handler = handlers[label]
        exits = _block_exit_depths(decoded, raw[label], depths[label], handler)
        for succ, depth in zip(successors[label], exits):
            reach(succ, depth)
        if handler is not None:
            reach(handler.target, handler_depth(handler))
    return depths


# --------------------------------------------------------------------------
# Edges, predecessors, dominators
# --------------------------------------------------------------------------

def _normal_edges(blocks: Mapping[int, Block]) -> list[tuple[int, int]]:
    return [(b.label, s) for b in blocks.values() for s in b.successors]


def _all_edges(blocks: Mapping[int, Block]) -> list[tuple[int, int]]:
    edges = _normal_edges(blocks)
    edges += [(b.label, b.handler.target)
              for b in blocks.values() if b.handler is not None]
    return edges


def _predecessor_map(blocks: Mapping[int, Block],
                     edges: Iterable[tuple[int, int]],
                     ) -> dict[int, tuple[int, ...]]:
    preds: dict[int, set[int]] = {label: set() for label in blocks}
    for src, dst in edges:
        preds[dst].add(src)
    return {label: tuple(sorted(p)) for label, p in preds.items()}


def _dominators(blocks: Mapping[int, Block], entry: int,
                edges: Iterable[tuple[int, int]],
                ) -> dict[int, frozenset[int]]:
    """Classic iterative data-flow: dom(n) = {n} | meet of dom(preds)."""
    preds = _predecessor_map(blocks, edges)
    everything = frozenset(blocks)
    dom = {label: everything for label in blocks}
    dom[entry] = frozenset({entry})
    changed = True
    while changed:
        changed = False
        for label in blocks:  # offset order: mostly forward, converges fast
            if label == entry:
                continue
            new = frozenset.intersection(*(dom[p] for p in preds[label])) | {label}
            if new != dom[label]:
                dom[label] = new
                changed = True
    return dom
