"""Relooper: turn a control-flow graph into structured Python/Cython code.

Python has no goto and no labelled break, only ``while``/``if``/``break``/
``continue``.  This module rebuilds structured control flow from basic blocks
in two independent steps.

**build_shape** (the Relooper of Emscripten/Binaryen) works on a set of blocks
and the subset of them that control can enter at, and peels one *shape* off
the front; the rest of the blocks become the shape's ``next``:

* ``SimpleShape`` - one entry that no block of the set jumps back to: emit the
  block, and continue with its successors as the next entries.
* ``MultipleShape`` - several entries, some of which own an *independent
  group* (blocks reachable from that entry only): each group becomes one arm
  of an ``if label == ...`` chain; everything else (unhandled entries and the
  targets of edges leaving the groups) is the next shape.
* ``LoopShape`` - otherwise (one entry that is jumped back to, or several
  entries without independent groups): the blocks that can reach an entry form
  the body of a ``while True:``; edges back to the entries become
  ``continue`` and are cut when the body is computed, so the body starts with
  a Simple or Multiple shape; edges leaving the body become ``break`` and the
  rest of the blocks are the next shape.

Each step removes blocks (or cuts edges into the loop entries), so the process
terminates.  Chains are built with a loop and nested shapes through an
explicit job list, so long functions do not hit Python's recursion limit
(render and dump recurse only once per level of nesting of the output).
Cost: a Multiple floods the blocks after it, so a long run of if/else
diamonds is quadratic (about 0.2 s for 300 of them).

**render** prints the tree.  Every jump ``B -> T`` of a block's exit is
resolved by looking outwards from B's position:

* *fall* - T starts the rest of the current chain: just continue below;
* *continue* / *break* - T is an entry of the innermost emitted loop, or lies
  after it: emit ``continue``/``break`` right away (from any depth of ifs);
* *out* - T lies after the enclosing ``if label == ...`` arm: control falls
  off the end of the arm.  The rest of the arm's chain must then be skipped,
  so it is nested inside the other branches of B's exit (or under a label
  test when several branches continue into it).

After a loop or a Multiple (a *post point*) the labels that arrive there may
need different treatment (e.g. a ``break`` out of two loops): the post point
then checks the label variable.  The label variable is only assigned when the
path to the target crosses such a check or a dispatch (``if label == ...`` of
a Multiple or of a loop with several entries); a stale value can therefore
never be misread.  A Multiple that directly follows a block's exit is *fused*
into it: the exit's own ``if``/``else`` arms hold the Multiple's arms, so the
common if/else diamond needs no label at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass

# --------------------------------------------------------------------------
# Shapes


@dataclass(frozen=True)
class SimpleShape:
    """One basic block, then ``next``."""

    block: int
    next: Shape | None = None


@dataclass(frozen=True)
class LoopShape:
    """``while True: inner``; ``next`` follows the loop (reached by break)."""

    entries: frozenset[int]
    inner: Shape
    next: Shape | None = None


@dataclass(frozen=True)
class MultipleShape:
    """``if label == entry: shape`` for each handled entry, then ``next``.

    Labels that are not handled fall through to ``next``.
    """

    handled: tuple[tuple[int, Shape], ...]
    next: Shape | None = None


Shape = SimpleShape | LoopShape | MultipleShape


# --------------------------------------------------------------------------
# build_shape


@dataclass(frozen=True)
class _Job:
    """One Relooper sub-problem: a chain of shapes for ``blocks``.

    Edges into ``cut`` are ignored: they are ``continue`` edges of an
    enclosing loop (or the loop being computed) and resolved when rendering.
    """

    entries: tuple[int, ...]
    blocks: frozenset[int]
    cut: frozenset[int]


# Chain items produced for a job before the shapes are assembled bottom-up:
# ("simple", block) | ("loop", entries, job index) | ("multiple", ((entry, job index), ...))
_Item = tuple


def build_shape(entries: Sequence[int], successors: Mapping[int, Sequence[int]]) -> Shape:
    """Relooper: the shape tree for the blocks reachable from ``entries``."""
    order = tuple(dict.fromkeys(entries))
    if not order:
        raise ValueError("build_shape needs at least one entry")
    succ = {b: tuple(dict.fromkeys(s)) for b, s in successors.items()}
    reachable = _forward(order, lambda b: succ.get(b, ()))
    return _Builder(succ).run(order, frozenset(reachable))


def _forward(starts: Sequence[int], edges: Callable[[int], Sequence[int]]) -> set[int]:
    """Blocks reachable from ``starts`` (inclusive) following ``edges``."""
    seen = set(starts)
    todo = list(starts)
    while todo:
        for s in edges(todo.pop()):
            if s not in seen:
                seen.add(s)
                todo.append(s)
    return seen


class _Builder:
    def __init__(self, succ: Mapping[int, tuple[int, ...]]) -> None:
        self.succ = succ
        self.preds: dict[int, list[int]] = {}
        for block, targets in succ.items():
            for target in targets:
                self.preds.setdefault(target, []).append(block)
        self.jobs: list[_Job] = []

    def run(self, entries: tuple[int, ...], blocks: frozenset[int]) -> Shape:
        # Jobs only ever add jobs with larger indices (their nested shapes), so
        # a forward sweep computes all chains and a backward sweep assembles
        # the frozen shapes children-first, without recursion.
        self.jobs.append(_Job(entries, blocks, frozenset()))
        chains: list[list[_Item]] = []
        while len(chains) < len(self.jobs):
            chains.append(self._chain(self.jobs[len(chains)]))
        shapes: list[Shape | None] = [None] * len(chains)
        for index in reversed(range(len(chains))):
            shapes[index] = self._assemble(chains[index], shapes)
        assert shapes[0] is not None
        return shapes[0]

    @staticmethod
    def _assemble(items: list[_Item], shapes: list[Shape | None]) -> Shape:
        nxt: Shape | None = None
        for item in reversed(items):
            if item[0] == "simple":
                nxt = SimpleShape(item[1], nxt)
            elif item[0] == "loop":
                nxt = LoopShape(item[1], shapes[item[2]], nxt)
            else:
                nxt = MultipleShape(tuple((e, shapes[j]) for e, j in item[1]), nxt)
        assert nxt is not None
        return nxt

    # A "live" edge stays inside the sub-problem and does not go to a cut entry.
    def _live(self, block: int, blocks: Set[int], cut: frozenset[int]) -> list[int]:
        return [s for s in self.succ.get(block, ()) if s in blocks and s not in cut]

    def _live_preds(self, block: int, blocks: Set[int], cut: frozenset[int]) -> list[int]:
        if block in cut:
            return []
        return [p for p in self.preds.get(block, ()) if p in blocks]

    def _chain(self, job: _Job) -> list[_Item]:
        """Peel shapes off ``job`` until no entries are left."""
        items: list[_Item] = []
        entries, cut = job.entries, job.cut
        blocks = set(job.blocks)  # shrinks as shapes are peeled off
        while entries:
            if len(entries) == 1 and not self._live_preds(entries[0], blocks, cut):
                entry = entries[0]
                items.append(("simple", entry))
                blocks.discard(entry)
                entries = tuple(dict.fromkeys(self._live(entry, blocks, cut)))
                continue
            groups = self._independent_groups(entries, blocks, cut) if len(entries) > 1 else []
            if groups:
                entries, blocks = self._multiple(items, entries, blocks, cut, groups)
            else:
                entries, blocks = self._loop(items, entries, blocks, cut)
        return items

    def _independent_groups(self, entries: tuple[int, ...], blocks: set[int],
                            cut: frozenset[int]) -> list[tuple[int, frozenset[int]]]:
        """(entry, blocks reachable from that entry and from no other entry)."""
        reached = {e: _forward((e,), lambda b: self._live(b, blocks, cut)) for e in entries}
        count: dict[int, int] = {}
        for group in reached.values():
            for b in group:
                count[b] = count.get(b, 0) + 1
        groups = []
        for e in entries:
            own = frozenset(b for b in reached[e] if count[b] == 1)
            if own:  # non-empty exactly when no other entry reaches e itself
                groups.append((e, own))
        return groups

    def _multiple(self, items: list[_Item], entries: tuple[int, ...], blocks: set[int],
                  cut: frozenset[int], groups: list[tuple[int, frozenset[int]]]):
        handled = []
        taken: set[int] = set()
        for entry, group in groups:
            handled.append((entry, len(self.jobs)))
            self.jobs.append(_Job((entry,), group, cut))
            taken |= group
        items.append(("multiple", tuple(handled)))
        exits = sorted({s for b in taken for s in self._live(b, blocks, cut) if s not in taken})
        left = [e for e in entries if e not in taken]
        blocks -= taken
        return tuple(dict.fromkeys(left + exits)), blocks

    def _loop(self, items: list[_Item], entries: tuple[int, ...], blocks: set[int],
              cut: frozenset[int]):
        inner = frozenset(_forward(entries, lambda b: self._live_preds(b, blocks, cut)))
        items.append(("loop", frozenset(entries), len(self.jobs)))
        # Inside the body, jumps to the entries are `continue`s: cut them.
        self.jobs.append(_Job(entries, inner, cut | frozenset(entries)))
        exits = sorted({s for b in inner for s in self._live(b, blocks, cut) if s not in inner})
        blocks -= inner
        return tuple(exits), blocks


# --------------------------------------------------------------------------
# dump


def dump(shape: Shape) -> str:
    """Readable indented tree of ``shape`` (chains are listed in order)."""
    lines: list[str] = []
    stack: list[tuple[Shape | str, int]] = [(shape, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            lines.append("  " * depth + item)
            continue
        tasks: list[tuple[Shape | str, int]] = []
        node: Shape | None = item
        while node is not None:
            if isinstance(node, SimpleShape):
                tasks.append((f"Simple {node.block}", depth))
            elif isinstance(node, LoopShape):
                tasks.append((f"Loop entries={sorted(node.entries)}", depth))
                tasks.append((node.inner, depth + 1))
            else:
                tasks.append(("Multiple", depth))
                for entry, arm in node.handled:
                    tasks.append((f"case {entry}:", depth + 1))
                    tasks.append((arm, depth + 2))
            node = node.next
        stack.extend(reversed(tasks))
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Rendering input


@dataclass(frozen=True)
class Goto:
    target: int


@dataclass(frozen=True)
class Branch:
    condition: str  # a Python expression, evaluated once
    if_true: int
    if_false: int


@dataclass(frozen=True)
class Switch:
    cases: tuple[tuple[str, int], ...]  # conditions tried in order; the first true wins
    default: int


@dataclass(frozen=True)
class Stop:
    """The body ended with return/raise: no successor."""


@dataclass(frozen=True)
class BlockCode:
    body: tuple[str, ...]
    exit: Goto | Branch | Switch | Stop


def _arms(exit: Goto | Branch | Switch | Stop) -> list[tuple[str | None, int]]:
    """The exit as ``if/elif/else`` arms; ``None`` marks the unconditional arm."""
    if isinstance(exit, Goto):
        return [(None, exit.target)]
    if isinstance(exit, Branch):
        return [(exit.condition, exit.if_true), (None, exit.if_false)]
    if isinstance(exit, Switch):
        return [*exit.cases, (None, exit.default)]
    if isinstance(exit, Stop):
        return []
    raise TypeError(f"unknown block exit {exit!r}")


# --------------------------------------------------------------------------
# Rendering


def render(shape: Shape, block_code: Callable[[int], BlockCode], label_var: str = "label",
           indent: str = "    ") -> list[str]:
    """Python/Cython lines running the structured program of ``shape``.

    Before the lines run, ``label_var`` must hold the label to start at (any
    entry of the shape).  ``block_code`` is called once per block.
    """
    renderer = _Renderer(block_code, label_var, indent)
    renderer.prepare(shape)
    return renderer.chain(shape, 0)


# How a jump leaves the point where it is taken.
_FALL = "fall"          # into the shape that follows in the current chain
_OUT = "out"            # off the end of the enclosing Multiple arm
_BREAK = "break"        # out of the innermost emitted loop
_CONTINUE = "continue"  # to the top of the innermost emitted loop
_FUSED = "fused"        # into an arm of the Multiple fused into this exit


@dataclass(frozen=True, eq=False)
class _Frame:
    """Where a shape sits: a chain position (``shape`` = the rest of the
    chain, maybe None) inside an arm (``shape`` = the Multiple) or loop
    (``shape`` = the Loop), up to the top level (parent None)."""

    kind: str  # "chain" | "arm" | "loop"
    shape: Shape | None
    parent: _Frame | None


@dataclass(frozen=True)
class _Plan:
    """How one exit arm of a block reaches its target."""

    target: int
    kind: str
    arm: Shape | None         # the inlined arm for _FUSED
    points: tuple[int, ...]   # post points (shape ids) the jump passes through
    dispatch: bool            # passes an `if label == ...` dispatch


def _handled(multiple: MultipleShape) -> dict[int, Shape]:
    return dict(multiple.handled)


def _has_statement(lines: list[str]) -> bool:
    return any(line.strip() and not line.strip().startswith("#") for line in lines)


class _Renderer:
    """Two passes: ``prepare`` resolves every jump and records which labels
    arrive at each post point; ``chain`` then prints, assigning the label
    variable only for jumps whose path checks it."""

    def __init__(self, block_code: Callable[[int], BlockCode], label_var: str, indent: str) -> None:
        self.block_code = block_code
        self.label = label_var
        self.indent = indent
        self.code: dict[int, BlockCode] = {}
        self.reach: dict[int, frozenset[int]] = {}   # id(shape) -> labels it can be entered with
        self.pos: dict[int, _Frame] = {}             # id(shape) -> its chain position
        self.fused: set[int] = set()                 # ids of Multiples fused into a block exit
        self.simples: list[SimpleShape] = []
        self.plans: dict[int, list[_Plan]] = {}      # block -> plan per exit arm
        self.arrivals: dict[int, dict[int, str]] = {}  # id(post point) -> label -> kind there
        self.entered: dict[int, set[int]] = {}       # id(Multiple) -> labels entering its dispatch
        self.checks: dict[int, bool] = {}            # id(post point) -> tests the label

    # ---- pass 1: structure and jump resolution

    def prepare(self, top: Shape) -> None:
        self._index(top)
        for simple in self.simples:
            self.plans[simple.block] = self._plan_block(simple)
        for entry in sorted(self.reach[id(top)]):  # the caller may start at any of them
            self._follow(entry, ("enter", top))
        self.checks = {key: len(set(kinds.values())) > 1 for key, kinds in self.arrivals.items()}

    def _index(self, top: Shape) -> None:
        stack: list[tuple[Shape, _Frame | None]] = [(top, None)]
        while stack:
            head, parent = stack.pop()
            chain: list[Shape] = []
            node: Shape | None = head
            while node is not None:
                chain.append(node)
                node = node.next
            for node in reversed(chain):  # a Multiple's reach includes its next's
                self.reach[id(node)] = self._reach_of(node)
            for node in chain:
                frame = _Frame("chain", node.next, parent)
                self.pos[id(node)] = frame
                if isinstance(node, SimpleShape):
                    self._index_simple(node)
                elif isinstance(node, LoopShape):
                    stack.append((node.inner, _Frame("loop", node, frame)))
                else:
                    for _, arm in node.handled:
                        stack.append((arm, _Frame("arm", node, frame)))

    def _reach_of(self, node: Shape) -> frozenset[int]:
        if isinstance(node, SimpleShape):
            return frozenset((node.block,))
        if isinstance(node, LoopShape):
            return frozenset(node.entries)
        later = self.reach[id(node.next)] if node.next is not None else frozenset()
        return frozenset(entry for entry, _ in node.handled) | later

    def _index_simple(self, node: SimpleShape) -> None:
        self.simples.append(node)
        code = self.block_code(node.block)
        self.code[node.block] = code
        nxt = node.next
        if isinstance(nxt, MultipleShape):
            # Fuse unless an arm would have to be printed twice.
            handled = _handled(nxt)
            targets = [t for _, t in _arms(code.exit) if t in handled]
            if len(targets) == len(set(targets)):
                self.fused.add(id(nxt))

    def _plan_block(self, node: SimpleShape) -> list[_Plan]:
        nxt = node.next
        if nxt is not None and id(nxt) in self.fused:
            # The exit's if/else *is* the Multiple: jumps start inside it.
            assert isinstance(nxt, MultipleShape)
            frame = _Frame("chain", None, _Frame("arm", nxt, self.pos[id(nxt)]))
            handled = _handled(nxt)
        else:
            frame, handled = self.pos[id(node)], {}
        plans = []
        for _, target in _arms(self.code[node.block].exit):
            if target in handled:
                kind, shape, state = _FUSED, handled[target], ("enter", handled[target])
            else:
                kind, shape = self._local(target, frame, node.block)
                state = self._state(kind, shape)
            points, dispatch = self._follow(target, state)
            plans.append(_Plan(target, kind, shape if kind == _FUSED else None, points, dispatch))
        return plans

    def _local(self, target: int, frame: _Frame, source: int) -> tuple[str, Shape]:
        """First step of a jump to ``target`` taken at chain position ``frame``."""
        arm: MultipleShape | None = None
        node: _Frame | None = frame
        while node is not None:
            if node.kind == "chain":
                if node.shape is not None and target in self.reach[id(node.shape)]:
                    # Found below; from inside an arm we must first leave the arm.
                    return (_FALL, node.shape) if arm is None else (_OUT, arm)
            elif node.kind == "arm":
                if arm is None:
                    assert isinstance(node.shape, MultipleShape)
                    arm = node.shape
            else:
                # break/continue work from any depth of ifs inside the loop.
                assert isinstance(node.shape, LoopShape)
                return (_CONTINUE if target in node.shape.entries else _BREAK), node.shape
            node = node.parent
        raise ValueError(f"block {source}: jump to {target} does not fit the shape "
                         "(is it among the block's successors?)")

    @staticmethod
    def _state(kind: str, shape: Shape) -> tuple[str, Shape]:
        if kind == _FALL:
            return ("enter", shape)
        if kind == _CONTINUE:
            assert isinstance(shape, LoopShape)
            return ("enter", shape.inner)
        return ("point", shape)  # _OUT / _BREAK arrive after the Multiple / Loop

    def _follow(self, target: int, state: tuple[str, Shape] | None) -> tuple[tuple[int, ...], bool]:
        """Walk a jump to its block, recording arrivals at post points."""
        points: list[int] = []
        dispatch = False
        while state is not None:
            mode, node = state
            if mode == "point":
                points.append(id(node))
                kind, shape = self._local(target, self.pos[id(node)], target)
                self.arrivals.setdefault(id(node), {})[target] = kind
                state = self._state(kind, shape)
            elif isinstance(node, SimpleShape):
                if node.block != target:
                    raise AssertionError(f"jump to {target} reached block {node.block}")
                state = None
            elif isinstance(node, LoopShape):
                state = ("enter", node.inner)
            else:
                assert id(node) not in self.fused
                dispatch = True
                self.entered.setdefault(id(node), set()).add(target)
                arm = _handled(node).get(target)
                state = ("enter", arm) if arm is not None else ("point", node)
        return tuple(points), dispatch

    def _needs_label(self, plan: _Plan) -> bool:
        return plan.dispatch or any(self.checks.get(point, False) for point in plan.points)

    # ---- pass 2: printing

    def _pad(self, depth: int) -> str:
        return self.indent * depth

    def _suite(self, lines: list[str], depth: int) -> list[str]:
        return lines if _has_statement(lines) else [*lines, self._pad(depth) + "pass"]

    def _test(self, labels: list[int], negate: bool = False) -> str:
        var = self.label
        if len(labels) > 3:
            values = ", ".join(map(str, labels))
            return f"{var} {'not in' if negate else 'in'} ({values})"
        op, join = ("!=", " and ") if negate else ("==", " or ")
        return join.join(f"{var} {op} {label}" for label in labels)

    def chain(self, node: Shape | None, depth: int) -> list[str]:
        """Lines for a chain of shapes; each step returns what follows at this level."""
        out: list[str] = []
        while node is not None:
            if isinstance(node, SimpleShape):
                node = self._simple(node, depth, out)
            elif isinstance(node, LoopShape):
                out.append(self._pad(depth) + "while True:")
                body = self.chain(node.inner, depth + 1)
                if len(body) > 1 and body[-1] == self._pad(depth + 1) + "continue":
                    body.pop()  # the loop repeats anyway
                out.extend(self._suite(body, depth + 1))
                node = self._post(node, depth, out)
            else:
                self._dispatch(node, depth, out)
                node = self._post(node, depth, out)
        return out

    def _simple(self, node: SimpleShape, depth: int, out: list[str]) -> Shape | None:
        pad = self._pad(depth)
        code = self.code[node.block]
        out.extend(pad + line if line.strip() else "" for line in code.body)
        arms = _arms(code.exit)
        plans = self.plans[node.block]
        bodies = [self._arm_body(plan) for plan in plans]
        rest = node.next
        if rest is not None and id(rest) in self.fused:
            self._if_chain(arms, bodies, depth, out)
            return self._post(rest, depth, out)
        falls = [i for i, plan in enumerate(plans) if plan.kind == _FALL]
        if not falls:
            rest = None  # nothing below is reachable from here
        if rest is None or not any(plan.kind == _OUT for plan in plans):
            self._if_chain(arms, bodies, depth, out)
            return rest
        # Some arms leave the enclosing arm: the rest must be skipped for them.
        if len(falls) == 1:
            first = bodies[falls[0]]
            bodies[falls[0]] = lambda d: first(d) + self.chain(rest, d)
            self._if_chain(arms, bodies, depth, out)
            return None
        bodies = [self._arm_body(plan, force_label=True) for plan in plans]
        self._if_chain(arms, bodies, depth, out)
        labels = sorted({plans[i].target for i in falls})
        out.append(f"{pad}if {self._test(labels)}:")
        out.extend(self._suite(self.chain(rest, depth + 1), depth + 1))
        return None

    def _arm_body(self, plan: _Plan, force_label: bool = False) -> Callable[[int], list[str]]:
        def body(depth: int) -> list[str]:
            pad = self._pad(depth)
            lines = []
            if self._needs_label(plan) or (force_label and plan.kind in (_FALL, _OUT)):
                lines.append(f"{pad}{self.label} = {plan.target}")
            if plan.kind == _FUSED:
                lines.extend(self.chain(plan.arm, depth))
            elif plan.kind in (_BREAK, _CONTINUE):
                lines.append(pad + plan.kind)
            return lines
        return body

    def _if_chain(self, arms: list[tuple[str | None, int]],
                  bodies: list[Callable[[int], list[str]]], depth: int, out: list[str]) -> None:
        if len(arms) == 1:
            out.extend(bodies[0](depth))
            return
        pad = self._pad(depth)
        parts = [(cond, bodies[i](depth + 1)) for i, (cond, _) in enumerate(arms)]
        if parts and parts[-1][0] is None and not _has_statement(parts[-1][1]):
            parts.pop()  # empty `else:`
        if len(parts) == 2 and parts[1][0] is None and not _has_statement(parts[0][1]):
            parts = [(f"not ({parts[0][0]})", parts[1][1])]
        for i, (cond, lines) in enumerate(parts):
            head = "else:" if cond is None else f"{'if' if i == 0 else 'elif'} {cond}:"
            out.append(pad + head)
            out.extend(self._suite(lines, depth + 1))

    def _dispatch(self, node: MultipleShape, depth: int, out: list[str]) -> None:
        pad = self._pad(depth)
        labels = {entry for entry, _ in node.handled}
        # When only handled labels can arrive, the last test is implied.
        closed = self.entered.get(id(node), set()) <= labels
        if closed and len(node.handled) == 1:
            out.extend(self.chain(node.handled[0][1], depth))
            return
        for i, (entry, arm) in enumerate(node.handled):
            if closed and i == len(node.handled) - 1:
                out.append(pad + "else:")
            else:
                out.append(f"{pad}{'if' if i == 0 else 'elif'} {self.label} == {entry}:")
            out.extend(self._suite(self.chain(arm, depth + 1), depth + 1))

    def _post(self, node: LoopShape | MultipleShape, depth: int, out: list[str]) -> Shape | None:
        """Code after a loop / Multiple: route each arriving label onwards."""
        pad = self._pad(depth)
        groups: dict[str, list[int]] = {}
        for label, kind in sorted(self.arrivals.get(id(node), {}).items()):
            groups.setdefault(kind, []).append(label)
        rest = node.next if _FALL in groups else None
        jumps = [kind for kind in (_BREAK, _CONTINUE) if kind in groups]
        for kind in jumps:
            if kind == jumps[-1] and _FALL not in groups and _OUT not in groups:
                out.append(pad + kind)
            else:
                out.append(f"{pad}if {self._test(groups[kind])}:")
                out.append(pad + self.indent + kind)
        if rest is not None and _OUT in groups:
            falls, outs = groups[_FALL], groups[_OUT]
            test = self._test(falls) if len(falls) <= len(outs) else self._test(outs, negate=True)
            out.append(f"{pad}if {test}:")
            out.extend(self._suite(self.chain(rest, depth + 1), depth + 1))
            return None
        return rest
