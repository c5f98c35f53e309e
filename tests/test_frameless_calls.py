"""Frameless versions calling each other (restrain/frameless.py, restrain_abi.h
rs_fl_call): a frameless version that calls a method or a function whose
code has a frameless version runs that one's body in the same transaction,
so a give-up anywhere in the call tree undoes every store and the outermost
call runs with a frame from the start.  Every test compares against plain
CPython (tests/difftest.py) and checks through restrain._hook which path
ran: nested calls that answer, and each way one gives up (a callee whose
class, code or global binding changed, a callee that is not a Python
function, defaults, a give-up deep inside after stores, the recursion
limit, tracing)."""
from __future__ import annotations

import contextlib
import copy
import io
import sys

import pytest

import restrain
from difftest import Fresh, compiled_pair
from restrain import _hook
from restrain.frameless import frameless_version
from restrain.pipeline import run_front_end


class Loud:
    def __lt__(self, other):
        print("lt")
        return True


class Cell:
    def __init__(self, value, link=None):
        self.value = value
        self.link = link
        self.size = 0

    def get(self):
        return self.value

    def pair_sum(self):
        return self.get() + self.link.get()

    def grow(self, k):
        self.size = self.size + k
        return self.size

    def push(self, other):
        """Link `other` in after this cell; a store, then a call that stores."""
        other.link = self.link
        self.link = other
        return self.grow(1)

    def push_checked(self, other):
        """As push, then a comparison that gives up on a Loud value: after
        the stores of both this body and the one it called."""
        self.push(other)
        return self.value < other.value

    def depth(self):
        if self.link is None:
            return 0
        return self.link.depth() + 1

    def swap_in(self, other):
        """A store into an argument (the tuple assignment of richards'
        DeviceTask.run)."""
        other, self.link = self.link, other
        return other

    def padded(self, k=1):
        return self.value + k

    def via_default(self):
        return self.padded()

    def via_global(self):
        return helper(self) + 1

    def via_keyword(self):
        return self.padded(k=2)

    def via_builtin(self):
        return len(self.value)

    def appends(self, x):
        self.value.append(x)
        return x

    def sorts(self):
        self.value.sort()
        return self.value

    def shove(self, x):
        self.value.push(x)
        return x


class PushList(list):
    """A list whose `push` is a C method: list.append under another name."""
    push = list.append


def helper(cell):
    return cell.value * 2


CALLEES = (Cell.get, Cell.pair_sum, Cell.grow, Cell.push, Cell.push_checked, Cell.depth, Cell.swap_in,
           Cell.padded, Cell.via_default, Cell.via_global, Cell.appends, Cell.shove, helper)


@pytest.fixture(scope="module", autouse=True)
def compiled_callees():
    for callee in CALLEES:
        result = restrain.compile(callee)
        assert result.ok, result.reason


def pair_sums(cells):
    out = []
    for c in cells:
        out.append(c.pair_sum())
    return out


def pushes(head, cells):
    out = []
    for c in cells:
        out.append(head.push(c))
    return out, [c.link is None for c in cells], head.size


def checked_pushes(head, cells):
    out = []
    for c in cells:
        out.append(head.push_checked(c))
    return out, head.size, [c.value for c in cells]


def depths(cells):
    out = []
    for c in cells:
        out.append(c.depth())
    return out


def swaps(head, cells):
    out = []
    for c in cells:
        out.append(head.swap_in(c).value)
    return out, head.link.value


def via_defaults(cells):
    out = []
    for c in cells:
        out.append(c.via_default())
    return out


def via_globals(cells):
    out = []
    for c in cells:
        out.append(c.via_global())
    return out


def shoves(cell, xs):
    out = []
    for x in xs:
        out.append(cell.shove(x))
    return out, cell.value


def counts_during(pair, *args):
    """Check the pair on `args`, then run the compiled side once more on
    copies of them: (outermost frameless calls that answered, nested calls
    made) during that run.  (Not during the check: its interpreted side
    calls the compiled callees too, through their swapped function objects.)"""
    pair.check(*args)
    copies = copy.deepcopy(args)
    top, nested = _hook.frameless_calls(), _hook.nested_frameless_calls()
    with contextlib.redirect_stdout(io.StringIO()), pair.side(True) as fn:
        try:
            fn(*copies)
        except Exception:       # noqa: BLE001 - the check compared the exceptions
            pass
    return _hook.frameless_calls() - top, _hook.nested_frameless_calls() - nested


def chain(n, value=1):
    cell = None
    for k in range(n):
        cell = Cell(value + k, cell)
    return cell


def test_a_method_calling_methods_answers_without_frames():
    pair = compiled_pair(pair_sums)
    cells = [Cell(1, Cell(2)), Cell(2.5, Cell(10 ** 30)), Cell(-1, Cell(1))]
    assert counts_during(pair, cells) == (3, 6)        # each pair_sum calls get twice


def test_stores_of_the_whole_call_tree_are_one_transaction():
    pair = compiled_pair(pushes)
    # push stores two links and calls grow, which stores the size
    assert counts_during(pair, Fresh(lambda: Cell(0)), Fresh(lambda: [Cell(k) for k in range(4)])) == (4, 4)


def test_a_give_up_after_nested_stores_undoes_them_all():
    pair = compiled_pair(checked_pushes)
    # the comparison gives up after push and grow stored: if their stores
    # were not undone, the call with a frame would link and count twice
    _, hits, give_ups = _hook.frameless_state(Cell.push_checked.__code__)
    counts_during(pair, Fresh(lambda: Cell(Loud())), Fresh(lambda: [Cell(1), Cell(2)]))
    assert _hook.frameless_state(Cell.push_checked.__code__)[1:] == (hits, give_ups + 4)   # check, then a run
    assert counts_during(pair, Fresh(lambda: Cell(0)), Fresh(lambda: [Cell(1), Cell(2)]))[0] == 2
    pair.check(Fresh(lambda: Cell("a")), Fresh(lambda: [Cell(1)]))      # TypeError raised in push_checked


def test_an_exception_in_a_callee_has_the_interpreters_traceback():
    pair = compiled_pair(pair_sums)
    pair.check([Cell(1, Cell(2)), Cell(1, None)])       # AttributeError: None has no get, in pair_sum
    broken = Cell(1, Cell(2))
    del broken.link.value                                # AttributeError in get, two frames down
    pair.check([broken])
    pair.check([Cell("a", Cell(1))])                     # TypeError in pair_sum's +


def test_a_store_into_an_argument():
    pair = compiled_pair(swaps)
    assert counts_during(pair, Fresh(lambda: Cell(0, Cell(-1))), Fresh(lambda: [Cell(1), Cell(2)]))[0] == 2


def test_recursion_nests_as_deep_as_the_budget_then_uses_frames():
    pair = compiled_pair(depths)
    top, nested = counts_during(pair, Fresh(lambda: [chain(3), chain(5)]))
    assert top == 2 and nested == 2 + 4
    # deeper than RS_FL_DEPTH (12): each call gives up and runs with a
    # frame, down to the first whose rest of the chain fits
    assert counts_during(pair, Fresh(lambda: [chain(40)]))[0] == 1


def test_the_recursion_limit_is_the_interpreters():
    # nested frameless calls count against the limit as the frames would:
    # at each limit, the compiled side raises RecursionError exactly where
    # the interpreter does
    import traceback

    def outcomes(fn):
        cells = [chain(8)]

        def at_depth(k):
            return fn(cells) if k == 0 else at_depth(k - 1)
        depth = len(traceback.extract_stack())
        out = []
        limit = sys.getrecursionlimit()
        for extra in range(40):
            try:
                sys.setrecursionlimit(depth + extra)
            except RecursionError:
                continue
            try:
                result = ("value", at_depth(5))
            except RecursionError as e:
                result = e
            sys.setrecursionlimit(limit)
            if isinstance(result, RecursionError):
                result = ("error", len(traceback.extract_tb(result.__traceback__)))
            out.append(result)
        return out

    pair = compiled_pair(depths)
    with pair.side(False) as fn:
        expected = outcomes(fn)
    assert ("value", [7]) in expected and any(kind == "error" for kind, _ in expected)
    with pair.side(True) as fn:
        before = _hook.nested_frameless_calls()
        assert outcomes(fn) == expected
        assert _hook.nested_frameless_calls() > before


def test_tracing_sees_the_nested_calls():
    pair = compiled_pair(pair_sums)
    events = []

    def tracer(frame, event, arg):
        if frame.f_code is Cell.get.__code__ and event == "call":
            events.append(frame.f_back.f_code.co_name)
        return tracer

    cells = [Cell(1, Cell(2)), Cell(3, Cell(4))]
    with pair.side(True) as fn:
        sys.settrace(tracer)
        try:
            result = fn(cells)
        finally:
            sys.settrace(None)
    assert result == [3, 7]
    assert events == ["pair_sum"] * 4


def test_a_method_rebound_on_the_class():
    class Local(Cell):
        pass

    pair = compiled_pair(pair_sums)
    assert counts_during(pair, [Local(1, Local(2))] * 3)[0] == 3
    Local.get = lambda self: print("rebound") or 100           # not compiled: no frameless version
    try:
        assert counts_during(pair, [Local(1, Local(2))] * 2)[0] == 0
    finally:
        del Local.get
    assert counts_during(pair, [Local(1, Local(2))])[0] == 1


def test_a_callee_whose_code_is_replaced():
    def other(self):
        print("other code")
        return -1

    pair = compiled_pair(pair_sums)
    original = Cell.get.__code__
    try:
        Cell.get.__code__ = other.__code__
        assert counts_during(pair, [Cell(1, Cell(2))] * 2)[0] == 0
    finally:
        Cell.get.__code__ = original
    assert counts_during(pair, [Cell(1, Cell(2))])[0] == 1


def test_a_global_function_and_its_rebinding():
    global helper
    pair = compiled_pair(via_globals)
    assert counts_during(pair, [Cell(1), Cell(2.5)]) == (2, 2)
    original = helper
    try:
        helper = lambda cell: print("rebound helper") or 0       # noqa: E731
        assert counts_during(pair, [Cell(1), Cell(2)])[0] == 0
    finally:
        helper = original
    assert counts_during(pair, [Cell(3)])[0] == 1


def test_calls_that_need_a_frame_give_up():
    # a default filled in: the callee takes more arguments than are passed
    pair = compiled_pair(via_defaults)
    assert counts_during(pair, [Cell(1), Cell(2)])[0] == 0
    # a method of a built-in type (list.append, named `push` here): not a Python function
    pair = compiled_pair(shoves)
    assert counts_during(pair, Fresh(lambda: Cell(PushList())), [1, 2])[0] == 0


def has_frameless(func) -> bool:
    products = run_front_end(func.__code__)
    return frameless_version(products["ir"], products["structure"]) is not None


def test_which_callers_get_a_frameless_version():
    # (appends: list.append, logged in the transaction)
    for caller in (Cell.pair_sum, Cell.push, Cell.push_checked, Cell.depth, Cell.swap_in, Cell.via_global,
                   Cell.via_default, Cell.shove, Cell.appends):
        assert has_frameless(caller), caller.__qualname__
    # a call with keywords, a call of a builtin by name or of another
    # method built-in types have (list.sort): never frameless
    for caller in (Cell.via_keyword, Cell.via_builtin, Cell.sorts):
        assert not has_frameless(caller), caller.__qualname__


# -- random call trees: stores, computed numbers and give-ups anywhere --------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


class Acc:
    def __init__(self, a, b):
        self.a = a
        self.b = b
        self.n = 0

    def b_of(self):
        return self.b

    def inc(self, k):
        self.a = self.a + k
        self.n += 1
        return self.b_of()

    def check(self, k):
        return self.a < k

    def both(self, k):
        """Two levels of calls, stores before and after each, a comparison
        that may give up (a Loud value, a str) or raise (None < 1)."""
        got = self.inc(k)
        self.b = self.a - k
        if self.check(k):
            return got
        return self.b_of()


ACC_METHODS = (Acc.b_of, Acc.inc, Acc.check, Acc.both)


def run_ops(accs, ks):
    out = []
    for i in range(len(accs)):
        out.append(accs[i].both(ks[i]))
    return out, [(x.a, x.b, x.n) for x in accs]


# values as tags, made anew for each side of the comparison
VALUES = st.one_of(st.integers(-4, 4), st.sampled_from([2 ** 62, 2 ** 64, -2 ** 63]),
                   st.floats(allow_nan=False, allow_infinity=True, width=32), st.sampled_from(["none", "str", "loud"]))


def made(tag):
    return {"none": None, "str": "s", "loud": Loud()}.get(tag, tag) if isinstance(tag, str) else tag


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs=st.lists(st.tuples(VALUES, VALUES), min_size=1, max_size=5),
       ks=st.lists(st.one_of(st.integers(-3, 3), st.floats(-2, 2, width=32)), min_size=5, max_size=5))
def test_random_call_trees_match_the_interpreter(pairs, ks):
    for method in ACC_METHODS:
        assert restrain.compile(method).ok
    pair = compiled_pair(run_ops)
    pair.check(Fresh(lambda: [Acc(made(a), made(b)) for a, b in pairs], repr(pairs)), ks[:len(pairs)])


def test_threads_switching_all_the_time_see_whole_calls():
    # a thread switch is asked for at almost every eval-breaker poll: the
    # outermost frameless calls give up (rs_fl_run polls) or answer as a
    # whole; each thread's own objects end as the interpreter leaves them
    import threading

    def work(fn, out):
        for _ in range(200):
            head = Cell(0)
            cells = [Cell(k) for k in range(6)]
            out.append(fn(head, cells))

    with pair_of_pushes() as fn:
        expected = []
        work(fn, expected)
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        try:
            results = [[] for _ in range(4)]
            threads = [threading.Thread(target=work, args=(fn, r)) for r in results]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            sys.setswitchinterval(interval)
    assert all(r == expected for r in results)
    assert expected[0] == pushes(Cell(0), [Cell(k) for k in range(6)])     # the interpreter's


@contextlib.contextmanager
def pair_of_pushes():
    pair = compiled_pair(pushes)
    with pair.side(True) as fn:
        before = _hook.frameless_calls()
        yield fn
        assert _hook.frameless_calls() > before
