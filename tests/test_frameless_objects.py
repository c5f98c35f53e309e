"""Frameless versions that make objects and call operators and C functions
(restrain_abi.h rs_fl_new_instance, rs_fl_binary_method, rs_fl_call_c):
`Vec(x, y)` of a plain class whose `__init__` has a frameless version,
`a - b` on instances whose class defines `__sub__` in Python, and
`math.sqrt(x)`, `abs`, `min`, `max` on ints and floats.  Every test
compares against plain CPython (tests/difftest.py) and checks through
restrain._hook which path ran: the calls that answer without frames, and
each way one gives up (a class with __del__, __new__ or a metaclass, an
__init__ returning something, NotImplemented, a reflected operator, a
subclass on the right, a C function's error, a shadowed builtin, a
garbage collection that the allocation would start)."""
from __future__ import annotations

import contextlib
import gc
import io
import math
import sys

import pytest

import restrain
from difftest import Fresh, Shared, _restrain_active, compiled_pair
from restrain import _hook
from restrain.runtime import _saves_slot_frames
from test_frameless_calls import counts_during


class Vec:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __add__(self, other):
        return Vec(self.x + other.x, self.y + other.y)

    def __sub__(self, other):
        if other.x is None:
            return NotImplemented
        return Vec(self.x - other.x, self.y - other.y)

    def __mul__(self, k):
        return Vec(self.x * k, self.y * k)

    def minus(self, other):
        """`-` inside a frameless version (rs_fl_binary_method decides)"""
        return self - other

    def dot(self, other):
        return self.x * other.x + self.y * other.y

    def length(self):
        return math.sqrt(self.dot(self))

    def norm(self):
        return self * (1.0 / self.length())

    def clamp(self, low, high):
        return Vec(max(low, min(self.x, high)), max(low, min(self.y, high)))


class RVec(Vec):
    """On the right of `-`, its __rsub__ goes first (a subclass)."""
    def __rsub__(self, other):
        return "rsub"


class Other:
    def __rsub__(self, vec):
        return ("other.__rsub__", vec.x)


class Mortal:
    """__del__: no frameless instance (a give-up would free it)."""
    deaths = []

    def __init__(self, v):
        self.v = v

    def __del__(self):
        Mortal.deaths.append(self.v)


class Made:
    def __new__(cls, v):
        obj = super().__new__(cls)
        obj.made = True
        return obj

    def __init__(self, v):
        self.v = v


class Meta(type):
    def __call__(cls, *args):
        print("Meta.__call__", args)
        return super().__call__(*args)


class Metered(metaclass=Meta):
    def __init__(self, v):
        self.v = v


class Rude:
    def __init__(self, v):
        self.v = v
        return v        # TypeError: __init__() should return None


def make_mortal(v):
    return Mortal(v)


def make_made(v):
    return Made(v)


def make_metered(v):
    return Metered(v)


def make_rude(v):
    return Rude(v)


def ratio(v):
    return max(v.x, v.y) / math.sqrt(abs(v.x) + 1)


CALLEES = (Vec.__init__, Vec.__add__, Vec.__sub__, Vec.__mul__, Vec.minus, Vec.dot, Vec.length, Vec.norm, Vec.clamp,
           Mortal.__init__, Made.__init__, Metered.__init__, Rude.__init__, make_mortal, make_made,
           make_metered, make_rude, ratio)


def compile_all(callees):
    for callee in callees:
        result = restrain.compile(callee)
        assert result.ok, result.reason


@pytest.fixture(scope="module", autouse=True)
def compiled_callees():
    """The callees compiled, in windows mode (as with sampling on): an
    operator's or a class's method is reached through a type's slot, by the
    function object's vectorcall, which tries the frameless version once
    restrain has swapped the function (its first call through the
    evaluator does)."""
    compile_all(CALLEES)
    with _restrain_active():            # enabled for the whole module, not per check
        windows, counting, _ = _hook.window()
        _hook.set_windows(True)
        _hook.set_counting(True)
        try:
            yield
        finally:
            _hook.set_counting(bool(counting))
            _hook.set_windows(bool(windows))


# The loops below, the compiled callers, run with a frame (a call of
# `list`, or a comprehension: no frameless version), so that the counts
# are those of the calls they make.

def sums(pairs):
    out = []
    for a, b in pairs:
        out.append(a + b)
    return [(v.x, v.y) for v in out]


def differences(pairs):
    out = []
    for a, b in pairs:
        out.append(a.minus(b))
    return [(v.x, v.y) if isinstance(v, Vec) else v for v in out]


def scaled(vs, k):
    out = []
    for v in vs:
        out.append(v * k)
    return [(v.x, v.y) for v in out]


def reflected(vs, k):
    out = []
    for v in vs:
        out.append(k * v)
    return out


def norms(vs):
    out = []
    for v in vs:
        out.append(v.norm())
    return [(v.x, v.y) for v in out]


def clamps(vs, low, high):
    out = []
    for v in vs:
        out.append(v.clamp(low, high))
    return [(v.x, v.y) for v in out]


def ratios(vs):
    out = []
    for v in vs:
        out.append(ratio(v))
    return list(out)


def makes(maker, values):
    out = []
    for v in values:
        out.append(maker(v))
    return [type(o).__name__ for o in out], [o.v for o in out]


def vecs(*xs):
    return [Vec(x, x + 1) for x in xs]


def test_a_class_call_and_operators_answer_without_frames():
    # each a + b: __add__ frameless, and Vec(...) in it: __init__'s body
    # nested in the same transaction, the instance made by object_new
    pair = compiled_pair(sums)
    pairs = Fresh(lambda: list(zip(vecs(1, 2.5, 10 ** 30), vecs(3, -1.0, 1))))
    assert counts_during(pair, pairs) == (3, 3)
    pair = compiled_pair(scaled)
    assert counts_during(pair, Fresh(lambda: vecs(1, 2, 3)), 0.5) == (3, 3)
    assert counts_during(pair, Fresh(lambda: vecs(1, 2, 3)), 3) == (3, 3)


def test_a_method_applying_an_operator_to_its_instance():
    # norm(): self * (1.0 / self.length()): the operator sends `self * k` to
    # __mul__'s body; length() calls dot() and math.sqrt, all nested
    pair = compiled_pair(norms)
    top, nested = counts_during(pair, Fresh(lambda: vecs(3, 0.5, -2)))
    assert top == 3 and nested == 3 * 4         # length, dot, __mul__, __init__
    # a zero vector: 1.0 / 0.0 gives up; the call with a frame raises
    # ZeroDivisionError with CPython's traceback
    pair.check(Fresh(lambda: [Vec(0.0, 0.0)]))


def test_operators_the_instance_does_not_answer_run_with_a_frame():
    # Vec - Vec(None, ...): __sub__'s body returns NotImplemented: it gives
    # up, and the call with a frame raises the TypeError; Vec - RVec:
    # RVec.__rsub__ goes first (a subclass on the right); Vec - Other:
    # Vec.__sub__ first, which raises AttributeError; Vec - 5: int has no
    # .x.  None of them sent to __sub__'s body.
    pair = compiled_pair(differences)
    assert counts_during(pair, Fresh(lambda: [(Vec(1, 2), Vec(3, 4))])) == (1, 2)    # __sub__, __init__
    # minus() gives up when __sub__'s body answers NotImplemented; with its
    # frame, its `-` calls __sub__ (frameless: it answers NotImplemented)
    # and raises the TypeError
    assert counts_during(pair, Fresh(lambda: [(Vec(1, 2), Vec(None, 1))])) == (1, 1)
    for other in (lambda: RVec(3, 4), Other):
        assert counts_during(pair, Fresh(lambda: [(Vec(1, 2), other())])) == (0, 0)
    # Vec - 5: Vec.__sub__ first, as CPython's; its body gives up at 5's .x
    assert counts_during(pair, Fresh(lambda: [(Vec(1, 2), 5)])) == (0, 1)


def test_a_reflected_operator_runs_with_a_frame():
    pair = compiled_pair(reflected)
    pair.check(Fresh(lambda: vecs(1, 2)), 2.0)          # float * Vec: Vec has no __rmul__


@pytest.mark.parametrize("maker, bodies", [(make_mortal, 0), (make_made, 0), (make_metered, 0), (make_rude, 1)])
def test_classes_of_other_kinds_are_made_with_a_frame(maker, bodies, capsys):
    # __del__ (Mortal), a __new__ of its own (Made), a metaclass __call__
    # (Metered), an __init__ that returns a value (Rude): the frameless
    # version of the maker gives up at the class call (no __init__ body
    # nested in it; Rude's runs, returns 1 and the maker gives up after it),
    # and the call with a frame does what CPython does (prints, raises,
    # deaths in order; type_call may still run __init__ without a frame:
    # it only stores into the instance made)
    pair = compiled_pair(makes)
    Mortal.deaths.clear()
    assert counts_during(pair, maker, [1, 2, 3])[1] == bodies
    pair.check(maker, [1, 2])
    capsys.readouterr()


def test_deaths_happen_where_cpython_has_them():
    # a Mortal made and dropped inside a compiled loop dies at the same
    # point as under the interpreter
    def churn(values):
        Mortal.deaths.clear()
        log = []
        for v in values:
            make_mortal(v)
            log.append(list(Mortal.deaths))
        return log

    pair = compiled_pair(churn)
    Mortal.deaths.clear()
    pair.check([1, 2, 3])


def test_c_functions_on_numbers_answer_and_their_errors_run_with_a_frame():
    pair = compiled_pair(ratios)
    assert counts_during(pair, Fresh(lambda: vecs(1, 2.5, -7, 10 ** 20))) == (4, 0)
    pair.check(Fresh(lambda: [Vec(float("nan"), 1.0), Vec(float("inf"), 2)]))
    # sqrt of an int too big for a float: OverflowError, with a frame
    pair.check(Fresh(lambda: [Vec(10 ** 400, 1)]))
    pair = compiled_pair(clamps)
    assert counts_during(pair, Fresh(lambda: vecs(-5, 0.5, 7)), 0, 2.0) == (3, 3)
    pair.check(Fresh(lambda: vecs(1)), "a", "b")      # str against int: TypeError, with a frame


def test_a_shadowed_builtin_is_called_as_what_it_is():
    pair = compiled_pair(ratios)
    module = sys.modules[__name__]
    module.max = lambda *args: print("shadow max", args) or 1.0
    try:
        assert counts_during(pair, Fresh(lambda: vecs(1, 2)))[0] == 0
    finally:
        del module.max


def test_no_collection_starts_inside_a_frameless_call():
    # with generation 0's threshold tiny, nearly every allocation would
    # start a collection: a frameless class call gives up before making
    # the instance, and the collection runs in the call with a frame.  A
    # gc callback sees where: never at the `v * k` of the compiled loop
    # itself, which is where a collection inside a frameless __mul__ would
    # be seen (its frames missing)
    import dis
    seen = []

    def callback(phase, info):
        if phase == "start":
            frame = sys._getframe(1)
            seen.append((frame.f_code.co_name, dis.opname[frame.f_code.co_code[frame.f_lasti]]))

    pair = compiled_pair(scaled)
    old = gc.get_threshold()
    with pair.side(True) as fn:
        vs = vecs(*range(40))
        gc.callbacks.append(callback)
        try:
            gc.set_threshold(3)
            result = fn(vs, 2)
        finally:
            gc.set_threshold(*old)
            gc.callbacks.remove(callback)
    assert result == [(2 * x, 2 * x + 2) for x in range(40)]
    assert any(name == "__mul__" for name, _ in seen), seen      # collections, in __mul__'s frame
    assert ("scaled", "BINARY_OP") not in seen, seen


def test_which_functions_are_compiled_for_the_frames_they_save():
    # the cost model's rule (runtime._saves_slot_frames) reads the function
    # as it is: a method reached through a slot, or one using them
    restrain.compile(Vec.__init__)
    assert _saves_slot_frames(Vec.__add__.__code__)           # a slot method calling a class
    assert _saves_slot_frames(Vec.__init__.__code__)
    assert not _saves_slot_frames(Vec.dot.__code__)           # inlined by the interpreter: no gain
    assert not _saves_slot_frames(Mortal.__del__.__code__)     # neither reached through a slot nor using one


class Scene:
    def __init__(self, items):
        self.items = items

    def nearest(self, probe):
        """A for loop over a list, a method call per item, a tuple built"""
        best_d, best = None, None
        for v in self.items:
            d = v.dot(probe)
            if best_d is None or d < best_d:
                best_d, best = d, v
        return best_d, best

    def blocked(self, probe, limit):
        """An early return out of the loop"""
        for v in self.items:
            if v.dot(probe) > limit:
                return True
        return False


LOOP_CALLEES = (Scene.nearest, Scene.blocked)


@pytest.fixture(scope="module")
def compiled_scene():
    compile_all(LOOP_CALLEES)


def nearests(scenes, probe):
    out = []
    for s in scenes:
        out.append(s.nearest(probe))
    return [(d, None if v is None else (v.x, v.y)) for d, v in out]


def blockeds(scenes, probe, limit):
    out = []
    for s in scenes:
        out.append(s.blocked(probe, limit))
    return list(out)


def scenes(*sizes, kind=list):
    return [Scene(kind(Vec(k, -k * 0.5) for k in range(n))) for n in sizes]


def test_loops_over_lists_and_tuples_answer_without_frames(compiled_scene):
    # nearest(): one dot() per item, nested; the (d, v) tuple made frameless
    pair = compiled_pair(nearests)
    assert counts_during(pair, Fresh(lambda: scenes(0, 1, 5)), Vec(1.0, 2.0)) == (3, 6)
    assert counts_during(pair, Fresh(lambda: scenes(3, kind=tuple)), Vec(1, 1)) == (1, 3)
    pair = compiled_pair(blockeds)
    # the early return: 2 dot()s in a scene of 5 (1 - 0.5*1 = 0.5 > 0.2)
    assert counts_during(pair, Fresh(lambda: scenes(5, 0)), Vec(1, 1), 0.2) == (2, 2)


def test_loops_over_other_iterables_give_up():
    pair = compiled_pair(nearests)
    # a generator, a range: not a list or tuple; `d < best_d` on a str and a
    # float: a TypeError, raised with a frame
    # (nearest() runs with a frame: its dot() calls are outermost ones, and
    # so are the __init__ calls of the Vecs the generator makes)
    assert counts_during(pair, Fresh(lambda: scenes(3, kind=lambda g: (v for v in g))), Vec(1, 1)) == (6, 0)
    assert counts_during(pair, Fresh(lambda: [Scene(range(0))]), Vec(1, 1)) == (0, 0)
    pair.check(Fresh(lambda: [Scene([Vec(1, 2), Vec("a", "b")])]), Vec("x", 1.0))


def test_a_loop_making_more_than_a_transaction_holds_gives_up():
    # each dot() makes 3 numbers (x*x, y*y, their sum): 50 items make 150,
    # past the 128 a transaction holds; the call with a frame answers, its
    # 50 dot() calls outermost ones
    pair = compiled_pair(nearests)
    assert counts_during(pair, Fresh(lambda: scenes(50)), Vec(1.5, 2.5))[0] == 50
    pair.check(Fresh(lambda: scenes(50)), Vec(1.5, 2.5))


class Graph:
    """deltablue's shape: a work list popped and appended to in a loop"""
    def __init__(self, links):
        self.links = links

    def reach(self, start):
        todo = [start]
        seen = 0
        while todo:
            k = todo.pop()
            seen = seen + 1
            for j in self.links[k]:
                todo.append(j)
        return seen

    def gather(self, out, start):
        """Appends to a list it is given, then a comparison that may give up
        (a Loud value): the appends must be taken back"""
        for j in self.links[start]:
            out.append(j)
        return out[0] < self.links[start][-1]

    def take(self, stack):
        """Pops from a list it is given, then may give up the same way"""
        top = stack.pop()
        return top < stack[0]


class Loud:
    def __lt__(self, other):
        print("lt")
        return True

    def __gt__(self, other):
        print("gt")
        return False


GRAPH_CALLEES = (Graph.reach, Graph.gather, Graph.take)


@pytest.fixture(scope="module")
def compiled_graph():
    compile_all(GRAPH_CALLEES)


def reaches(graphs, start):
    out = []
    for g in graphs:
        out.append(g.reach(start))
    return list(out)


def gathers(graph, outs, start):
    results = []
    for out in outs:
        results.append(graph.gather(out, start))
    return list(results), outs


def takes(graph, stacks):
    results = []
    for s in stacks:
        results.append(graph.take(s))
    return list(results), stacks


def test_a_work_list_answers_without_a_frame(compiled_graph):
    # [start], pop and append in a loop: the list made, changed and dropped
    # in the transaction
    pair = compiled_pair(reaches)
    tree = [[1, 2], [3], [], []]
    assert counts_during(pair, [Graph(tree), Graph([[]])], 0) == (2, 0)
    # a chain of 40: 40 appends and 41 pops, more than the log holds (32):
    # it gives up, and the call with a frame answers
    chain = [[k + 1] for k in range(40)] + [[]]
    assert counts_during(pair, [Graph(chain)], 0)[0] == 0


def test_appends_and_pops_are_taken_back_when_it_gives_up(compiled_graph):
    # gather: appends 2 items, then `out[0] < ...` gives up on a Loud: the
    # call with a frame appends them again; if the first appends stayed,
    # each list would hold 4 items.  take: pops, then gives up the same way
    graph = Graph([[5, 6], [Loud(), Loud()]])
    pair = compiled_pair(gathers)
    assert counts_during(pair, graph, Fresh(lambda: [[], [7]]), 0) == (2, 0)
    pair.check(Shared(graph), Fresh(lambda: [[Loud()], [Loud(), 1]]), 1)
    # (the check's interpreted side calls the same compiled gather and take:
    # the lengths are checked against CPython's by hand too)
    with pair.side(True) as fn, contextlib.redirect_stdout(io.StringIO()):
        assert [len(out) for out in fn(graph, [[Loud()], [Loud(), 1]], 1)[1]] == [3, 4]
    pair = compiled_pair(takes)
    assert counts_during(pair, graph, Fresh(lambda: [[1, 2, 3], [5, 4]]))[0] == 2
    pair.check(Shared(graph), Fresh(lambda: [[Loud(), 2, Loud()], [Loud(), Loud()]]))
    with pair.side(True) as fn, contextlib.redirect_stdout(io.StringIO()):
        assert [len(s) for s in fn(graph, [[Loud(), 2, Loud()], [Loud(), Loud()]])[1]] == [2, 1]
    pair.check(Shared(graph), Fresh(lambda: [[]]))        # pop from an empty list: IndexError, with a frame


def test_methods_named_append_on_other_objects_are_theirs(compiled_graph):
    class Log:
        def __init__(self):
            self.items = []

        def append(self, v):
            self.items.append(("logged", v))

    pair = compiled_pair(gathers)
    pair.check(Graph([[1, 2]]), Fresh(lambda: [Log()]), 0)


class Kw:
    def __init__(self, a, b=1):
        self.a = a
        self.b = b


def test_a_frameless_only_function_called_with_keywords_runs_interpreted():
    # compiled for its frameless version only (runtime._saves_slot_frames):
    # `Kw(1, b=2)` cannot take it (keywords), and runs as a plain
    # function's call would, on the interpreter while the window is closed,
    # instead of switching the evaluator on for the compiled entry
    assert restrain.compile(Kw.__init__).ok
    code = Kw.__init__.__code__
    Kw(0, 0)                                    # through the evaluator: the function swapped
    _hook.set_counting(False)
    try:
        seen = _hook.info(code)[0]
        top = _hook.frameless_calls()
        assert Kw(1, 2).b == 2                  # positional: frameless
        assert _hook.frameless_calls() == top + 1
        _hook.frameless_only(code, True)
        assert vars(Kw(1, b=2)) == {"a": 1, "b": 2} and vars(Kw(3)) == {"a": 3, "b": 1}
        assert _hook.info(code)[0] == seen      # the evaluator never saw them
        _hook.frameless_only(code, False)
        Kw(1, b=2)                              # else: the compiled entry, through the evaluator
        assert _hook.info(code)[0] == seen + 1
    finally:
        _hook.frameless_only(code, False)
        _hook.set_counting(True)


SLOT_PROGRAM = """
import json
import restrain
from restrain import _hook

class ByPosition:
    def __init__(self, a, b):
        self.a = a
        self.b = b

class ByKeyword:
    def __init__(self, a, b=0):
        self.a = a
        self.b = b

restrain.enable()
total = 0
for k in range(3000):
    _hook.set_counting(True)        # the evaluator's window open: every call counted
    total += ByPosition(k, 1).a + ByKeyword(k, b=2).b
restrain.wait()
status = {f["qualname"]: f["status"] for f in restrain.stats()["functions"]}
print("RESULT " + json.dumps({"total": total, "status": status}))
"""


def test_the_slot_rule_leaves_an_init_called_with_keywords_interpreted():
    # a class call with keywords would not take the frameless version:
    # compiling its __init__ would only cost (runtime._saves_slot_frames)
    import json
    import os
    import subprocess
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTRAIN")}
    proc = subprocess.run([sys.executable, "-c", SLOT_PROGRAM], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads([line for line in proc.stdout.splitlines() if line.startswith("RESULT ")][-1][7:])
    assert out["total"] == sum(range(3000)) + 2 * 3000
    assert out["status"]["ByPosition.__init__"] == "compiled", out
    assert out["status"]["ByKeyword.__init__"] == "interpreted", out
