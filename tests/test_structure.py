"""Tests for the Relooper stage (restrain.structure).

Every rendered program is checked against a trivially correct label
dispatcher: both run the same blocks, which append their label to a trace
and take their exits from the same deterministic stream of choices.
"""

from __future__ import annotations

import random
import sys
import time

import pytest

from restrain.structure import (
    BlockCode,
    Branch,
    Goto,
    LoopShape,
    MultipleShape,
    SimpleShape,
    Stop,
    Switch,
    build_shape,
    dump,
    render,
)

# --------------------------------------------------------------------------
# Harness


class StepLimit(Exception):
    pass


def make_block_code(successors, exits=None):
    """BlockCode for every block: trace, count the step, pick an exit.

    Conditions call ``pick()`` so the evaluation order of conditions is part
    of what must agree between the two programs.  ``exits`` may override the
    exit of a block (e.g. use fewer successors than the graph lists).
    """
    exits = exits or {}

    def code(block):
        body = ("step()", "if True:", f"    trace.append({block})")
        if block in exits:
            exit = exits[block]
        else:
            succ = list(successors.get(block, ()))
            if not succ:
                exit = Stop()
            elif len(succ) == 1:
                exit = Goto(succ[0])
            elif len(succ) == 2:
                exit = Branch("pick()", succ[0], succ[1])
            else:
                exit = Switch(tuple(("pick()", t) for t in succ[:-1]), succ[-1])
        if isinstance(exit, Stop):
            body += ("return 'stop'",)
        return BlockCode(body, exit)

    return code


def _exit_lines(exit, label="label"):
    """Reference translation of an exit: assign the next label."""
    if isinstance(exit, Stop):
        return []
    if isinstance(exit, Goto):
        return [f"{label} = {exit.target}"]
    arms = ([(exit.condition, exit.if_true)] if isinstance(exit, Branch)
            else list(exit.cases))
    default = exit.if_false if isinstance(exit, Branch) else exit.default
    lines = []
    for i, (cond, target) in enumerate(arms):
        lines += [f"{'if' if i == 0 else 'elif'} {cond}:", f"    {label} = {target}"]
    return lines + ["else:", f"    {label} = {default}"]


def reference_source(blocks, code):
    lines = ["def run(label, trace, pick, step):", "    while True:"]
    for i, block in enumerate(sorted(blocks)):
        bc = code(block)
        lines.append(f"        {'if' if i == 0 else 'elif'} label == {block}:")
        lines += ["            " + line for line in bc.body + tuple(_exit_lines(bc.exit))]
    lines.append("        else:")
    lines.append("            raise AssertionError('bad label %r' % label)")
    return "\n".join(lines)


def structured_source(shape, code, label="label", indent="    "):
    body = render(shape, code, label_var=label, indent=indent)
    lines = [f"def run({label}, trace, pick, step):"]
    lines += [indent + line if line else "" for line in body]
    lines.append(indent + "raise AssertionError('fell off the structured code')")
    return "\n".join(lines)


def compile_run(source):
    namespace = {}
    exec(compile(source, "<cfg>", "exec"), namespace)
    return namespace["run"]


def execute(run, entry, seed, limit, label="label"):
    rng = random.Random(seed)
    trace = []
    steps = [0]

    def pick():
        return rng.random() < 0.5

    def step():
        steps[0] += 1
        if steps[0] > limit:
            raise StepLimit

    try:
        outcome = run(entry, trace, pick, step)
    except StepLimit:
        outcome = "limit"
    return outcome, trace


def reachable(entries, successors):
    seen, todo = set(entries), list(entries)
    while todo:
        for s in successors.get(todo.pop(), ()):
            if s not in seen:
                seen.add(s)
                todo.append(s)
    return seen


def check_equivalent(entries, successors, exits=None, seeds=3, limit=60):
    """Rendered code and reference agree for every entry; returns the lines."""
    code = make_block_code(successors, exits)
    shape = build_shape(entries, successors)
    lines = render(shape, code)
    ref = compile_run(reference_source(reachable(entries, successors), code))
    new = compile_run(structured_source(shape, code))
    for entry in dict.fromkeys(entries):
        for seed in range(seeds):
            expected = execute(ref, entry, seed, limit)
            got = execute(new, entry, seed, limit)
            assert got == expected, (entry, seed, successors, entries, "\n".join(lines))
    return lines


def blocks_in(shape):
    """Every block of a shape tree (iteratively)."""
    found, todo = [], [shape]
    while todo:
        node = todo.pop()
        while node is not None:
            if isinstance(node, SimpleShape):
                found.append(node.block)
            elif isinstance(node, LoopShape):
                todo.append(node.inner)
            else:
                todo.extend(arm for _, arm in node.handled)
            node = node.next
    return found


# --------------------------------------------------------------------------
# Hand-written graphs


def test_straight_line():
    succ = {0: [1], 1: [2], 2: []}
    shape = build_shape([0], succ)
    assert shape == SimpleShape(0, SimpleShape(1, SimpleShape(2, None)))
    lines = check_equivalent([0], succ)
    assert not any("label" in line or "while" in line for line in lines)


def test_diamond_needs_no_label():
    succ = {0: [1, 2], 1: [3], 2: [3], 3: []}
    shape = build_shape([0], succ)
    assert isinstance(shape.next, MultipleShape)
    lines = check_equivalent([0], succ)
    assert not any("label" in line for line in lines)


def test_while_loop():
    succ = {0: [1], 1: [2, 3], 2: [1], 3: []}
    shape = build_shape([0], succ)
    assert isinstance(shape.next, LoopShape) and shape.next.entries == {1}
    lines = check_equivalent([0], succ)
    assert sum("while True:" in line for line in lines) == 1
    assert not any("label" in line for line in lines)


def test_loop_with_break_and_continue():
    # 1: header, 2: if -> continue, 3: if -> break, 4: back edge, 5: after loop
    succ = {0: [1], 1: [2, 5], 2: [1, 3], 3: [5, 4], 4: [1], 5: []}
    lines = check_equivalent([0], succ)
    assert any(line.strip() == "break" for line in lines)


def test_nested_loops_break_out_of_both():
    # outer header 1, inner header 2; 3 leaves both loops to 6
    succ = {0: [1], 1: [2, 6], 2: [3, 5], 3: [6, 4], 4: [2], 5: [1], 6: []}
    shape = build_shape([0], succ)
    assert isinstance(shape.next, LoopShape)
    lines = check_equivalent([0], succ)
    assert sum("while True:" in line for line in lines) == 2
    assert any("label == 6" in line for line in lines)  # checked after the inner loop


def test_irreducible_two_entries_into_cycle():
    succ = {0: [1, 2], 1: [2, 3], 2: [1], 3: []}
    shape = build_shape([0], succ)
    assert isinstance(shape.next, LoopShape) and shape.next.entries == {1, 2}
    check_equivalent([0], succ)


def test_self_loop():
    succ = {0: [0, 1], 1: [1]}
    shape = build_shape([0], succ)
    assert isinstance(shape, LoopShape)
    check_equivalent([0], succ)


def test_multiple_entries_handlers():
    # 0 is the function entry; 4 and 5 are exception handlers.
    succ = {0: [1], 1: [2, 3], 2: [1], 3: [], 4: [3], 5: [1, 6], 6: []}
    shape = build_shape([0, 4, 5], succ)
    assert isinstance(shape, MultipleShape)
    assert shape.handled[0][0] == 0  # the function entry is tested first
    check_equivalent([0, 4, 5], succ)


def test_handler_entry_inside_loop():
    # handler 5 jumps back into the loop body of 1-2-3
    succ = {0: [1], 1: [2, 4], 2: [3], 3: [1], 4: [], 5: [3]}
    check_equivalent([0, 5], succ)


def test_unreachable_blocks_ignored():
    succ = {0: [1], 1: [], 7: [8], 8: [7, 0]}
    shape = build_shape([0], succ)
    assert sorted(blocks_in(shape)) == [0, 1]
    check_equivalent([0], succ)


def test_duplicates_and_missing_keys():
    succ = {0: [1, 1, 2], 1: [2, 2]}  # 2 has no entry at all
    check_equivalent([0], succ)
    assert sorted(blocks_in(build_shape([0, 0], succ))) == [0, 1, 2]


def test_exit_uses_fewer_successors():
    succ = {0: [1, 2, 3], 1: [3, 0], 2: [3], 3: []}
    exits = {0: Branch("pick()", 3, 1), 1: Goto(3), 2: Stop()}
    check_equivalent([0], succ, exits=exits)


def test_empty_bodies_and_short_circuit():
    # `if a and b: x else: y` - the inner test jumps to the outer else.
    succ = {0: [1, 3], 1: [2, 3], 2: [4], 3: [4], 4: []}
    shape = build_shape([0], succ)
    lines = render(shape, lambda b: BlockCode((), Goto(succ[b][0]) if len(succ[b]) == 1
                                              else Branch("c", *succ[b]) if succ[b] else Stop()))
    compile("def f(label, c):\n" + "\n".join("    " + l for l in lines), "<t>", "exec")
    check_equivalent([0], succ)


def test_custom_label_and_indent():
    succ = {0: [1, 2], 1: [2, 3], 2: [1], 3: []}
    code = make_block_code(succ)
    shape = build_shape([0], succ)
    source = structured_source(shape, code, label="_lbl", indent="\t")
    assert "label" not in source.replace("_lbl", "")
    run = compile_run(reference_source({0, 1, 2, 3}, code))
    mine = compile_run(source)
    for seed in range(5):
        assert execute(mine, 0, seed, 50) == execute(run, 0, seed, 50)


def test_bad_exit_target_is_reported():
    succ = {0: [1], 1: [0]}
    shape = build_shape([0], succ)
    with pytest.raises(ValueError):
        render(shape, lambda b: BlockCode((), Goto(99)))


def test_dump_mentions_every_block():
    succ = {0: [1, 2], 1: [3], 2: [3, 1], 3: [0, 4], 4: [], 5: [2]}
    text = dump(build_shape([0, 5], succ))
    for block in range(6):
        assert str(block) in text
    assert "Loop" in text and "Simple" in text


def test_shapes_are_frozen():
    shape = build_shape([0], {0: []})
    with pytest.raises(AttributeError):
        shape.block = 3  # type: ignore[misc]


# --------------------------------------------------------------------------
# Large graphs: no recursion-limit trouble


def big_graph(n):
    """A long chain with loops, nested loops, ifs and early exits."""
    succ = {}
    for b in range(n):
        nxt = b + 1
        if b == n - 1:
            succ[b] = []
        elif b % 10 == 9:
            succ[b] = [nxt, b - 7]          # loop back edge
        elif b % 50 == 49:
            succ[b] = [nxt, b - 40]         # outer loop
        elif b % 7 == 3:
            succ[b] = [nxt, min(b + 3, n - 1)]  # if without else
        elif b % 13 == 5:
            succ[b] = [nxt, n - 1]          # early exit
        else:
            succ[b] = [nxt]
    return succ


def test_large_chain_with_loops():
    n = 400
    succ = big_graph(n)
    old = sys.getrecursionlimit()
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    sys.setrecursionlimit(depth + 250)  # fewer spare frames than blocks
    try:
        shape = build_shape([0], succ)
        text = dump(shape)
        lines = render(shape, make_block_code(succ))
    finally:
        sys.setrecursionlimit(old)
    assert sorted(blocks_in(shape)) == list(range(n))
    assert all(str(b) in text for b in range(n))
    assert lines
    check_equivalent([0], succ, seeds=3, limit=3000)


def test_very_long_straight_chain():
    n = 3000
    succ = {b: [b + 1] if b + 1 < n else [] for b in range(n)}
    shape = build_shape([0], succ)
    lines = render(shape, lambda b: BlockCode((f"x = {b}",), Goto(b + 1) if b + 1 < n else Stop()))
    assert len(lines) == n and lines[0] == "x = 0"
    assert dump(shape).count("Simple") == n


# --------------------------------------------------------------------------
# Fuzzing


def random_graph(rng):
    n = rng.randint(1, 25)
    # Non-contiguous labels: nothing may assume 0..n-1.
    labels = rng.sample(range(3 * n + 5), n)
    succ = {b: [rng.choice(labels) for _ in range(rng.randint(0, 3))] for b in labels}
    entries = [labels[0]] + rng.sample(labels, rng.randint(0, min(3, n)))
    return entries, succ


def random_exits(rng, succ):
    """Sometimes an exit uses only some of the listed successors."""
    exits = {}
    for block, targets in succ.items():
        if targets and rng.random() < 0.15:
            kind = rng.randint(0, 2)
            if kind == 0:
                exits[block] = Stop()
            elif kind == 1:
                exits[block] = Goto(rng.choice(targets))
            else:
                exits[block] = Branch("pick()", rng.choice(targets), rng.choice(targets))
    return exits


def test_fuzz_against_dispatcher():
    rng = random.Random(20240501)
    start = time.perf_counter()
    for _ in range(2000):
        entries, succ = random_graph(rng)
        exits = random_exits(rng, succ) if rng.random() < 0.3 else None
        check_equivalent(entries, succ, exits=exits, seeds=2, limit=40)
    assert time.perf_counter() - start < 30


def test_fuzz_dense_small_graphs():
    # Dense graphs stress irreducible loops and multi-level exits.
    rng = random.Random(7)
    for _ in range(600):
        n = rng.randint(2, 8)
        succ = {b: rng.sample(range(n), rng.randint(1, min(3, n))) for b in range(n)}
        if rng.random() < 0.5:
            succ[rng.randrange(n)] = []
        entries = [0] + rng.sample(range(n), rng.randint(0, 2))
        check_equivalent(entries, succ, seeds=3, limit=40)


def test_rendering_is_deterministic():
    rng = random.Random(99)
    for _ in range(200):
        entries, succ = random_graph(rng)
        code = make_block_code(succ)
        first = render(build_shape(entries, succ), code)
        again = render(build_shape(list(entries), {k: list(v) for k, v in reversed(succ.items())}), code)
        assert first == again
        assert build_shape(entries, succ) == build_shape(entries, succ)


def test_every_reachable_block_placed_once():
    rng = random.Random(5)
    for _ in range(500):
        entries, succ = random_graph(rng)
        placed = blocks_in(build_shape(entries, succ))
        assert sorted(placed) == sorted(reachable(entries, succ))
