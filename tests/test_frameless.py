"""Frameless versions (restrain/frameless.py): a compiled getter method
called from compiled code answers without a frame when every step takes a
fast path that runs no Python code; anywhere else it gives up and the call
runs with a frame from the start.  Every test compares against plain
CPython (tests/difftest.py) on inputs that take the frameless path and on
inputs that make it give up (another class, a class changed after
compiling, a property, `__bool__`, `__getattr__`, a missing attribute, an
index out of range, a dict with other keys, tracing), and checks through
restrain._hook which path ran.  (The harness deep-copies the arguments:
the copies' attributes are in a __dict__ of their own, which frameless
versions read too.)"""
from __future__ import annotations

import sys

import pytest

import restrain
from difftest import Fresh, compiled_pair
from restrain import _hook
from restrain.frameless import frameless_version
from restrain.pipeline import run_front_end


class Task:
    def __init__(self, held, waiting, pending):
        self.held = held
        self.waiting = waiting
        self.packet_pending = pending

    def is_suspended(self):
        return self.held or (self.waiting and not self.packet_pending)

    def older_than(self, other):
        return self.held < other.held

    def same_name(self, other):
        return self.waiting == other.waiting and self.packet_pending is not None

    def pending_or(self, default):
        if self.packet_pending is None:         # POP_JUMP_IF_NOT_NONE: the branch on None
            return default
        return self.packet_pending


class Table:
    def __init__(self, items):
        self.items = items

    def find(self, key):
        return self.items[key]


GETTERS = (Task.is_suspended, Task.older_than, Task.same_name, Task.pending_or, Table.find)


@pytest.fixture(scope="module", autouse=True)
def compiled_getters():
    for getter in GETTERS:
        result = restrain.compile(getter)
        assert result.ok, result.reason


def count_suspended(tasks):
    n = 0
    for t in tasks:
        if t.is_suspended():
            n += 1
    return n


def suspended_values(tasks):
    out = []
    for t in tasks:
        out.append(t.is_suspended())
    return out


def find_all(table, keys):
    out = []
    for k in keys:
        out.append(table.find(k))
    return out


def compare_all(tasks, other):
    out = []
    for t in tasks:
        out.append((t.older_than(other), t.same_name(other)))
    return out


def frameless_calls_during(pair, *args):
    before = _hook.frameless_calls()
    pair.check(*args)
    return _hook.frameless_calls() - before


MIXED = [Task(False, True, False), Task(True, False, False), Task(0, 1, 1), Task(None, "", []),
         Task(0.0, [1], ()), Task(False, {"a": 1}, "x"), Task(10 ** 30, 0, 0)]


def pending_values(tasks):
    out = []
    for t in tasks:
        out.append(t.pending_or("none"))
    return out


def test_a_getter_answers_without_a_frame():
    for caller in (count_suspended, suspended_values, pending_values):
        pair = compiled_pair(caller)
        assert frameless_calls_during(pair, MIXED + [Task(0, 0, None)]) == len(MIXED) + 1
    installed, hits, give_ups = _hook.frameless_state(Task.is_suspended.__code__)
    assert installed and hits >= 2 * len(MIXED) and give_ups == 0


def test_an_interpreted_caller_gets_the_frameless_version_too():
    # in windows mode the evaluator gives a compiled function's object the
    # swapped type, whose calls with exactly its positional arguments take
    # the direct path (csrc/hook.c swapped_vectorcall): that tries the
    # frameless version first as well
    from test_windows import run_program
    out, _ = run_program("""
        class Task:
            def __init__(self, held, waiting):
                self.held, self.waiting = held, waiting
            def is_suspended(self):
                return self.held or not self.waiting
        assert restrain.compile(Task.is_suspended).ok
        tasks = [Task(False, True), Task(0, []), Task(None, 1.5)] * 10
        [t.is_suspended() for t in tasks]            # seen by the evaluator: swapped
        wait_closed()
        before = _hook.frameless_calls()
        out["answers"] = [t.is_suspended() for t in tasks]   # the interpreter runs the comprehension
        out["frameless"] = _hook.frameless_calls() - before
    """)
    assert out["answers"] == [False, True, False] * 10
    assert out["frameless"] == 30


class Truthy:
    def __init__(self, value):
        self.value = value

    def __bool__(self):
        print("bool of", self.value)
        return self.value


class Sized:
    def __len__(self):
        print("len")
        return 0


class Plain:
    pass


def test_truth_that_runs_python_code_runs_it_once_with_a_frame():
    pair = compiled_pair(suspended_values)
    tasks = [Task(Truthy(False), Truthy(True), Truthy(True)), Task(Sized(), Plain(), Sized()),
             Task(False, Truthy(True), Plain())]
    # each of these gives up at a __bool__ or __len__: every print once, in order
    assert frameless_calls_during(pair, tasks) == 0
    assert frameless_calls_during(pair, [Task(Plain(), 0, 0)]) == 1    # no __bool__, no __len__: true


class Sub(Task):
    pass


class Fallback(Task):
    def __getattr__(self, name):
        if name != "packet_pending":
            raise AttributeError(name)
        print("fallback", name)
        return name


def test_attributes_the_cache_cannot_answer():
    pair = compiled_pair(suspended_values)
    assert frameless_calls_during(pair, [Sub(True, 0, 0), Sub(False, 1, 0)]) == 2    # a subclass: its own way
    missing = Task(False, True, False)
    del missing.packet_pending
    pair.check([Task(False, 0, 0), missing])              # AttributeError: the getter's line in the traceback
    materialised = Task(False, True, True)
    vars(materialised)["held"] = True                     # an instance __dict__: read from it
    assert frameless_calls_during(pair, [materialised]) == 1
    vars(materialised)[1] = "a key that is not a str"
    fallback = Fallback(False, True, False)
    del fallback.packet_pending
    assert frameless_calls_during(pair, [materialised, fallback]) == 0


def test_the_class_changed_after_compiling():
    class Local(Task):
        pass

    pair = compiled_pair(suspended_values)
    assert frameless_calls_during(pair, [Local(False, True, False)] * 3) == 3
    made = [Local(False, True, False), Local(False, True, False)]
    Local.held = property(lambda self: print("property") or True)      # a data descriptor now
    try:
        assert frameless_calls_during(pair, made) == 0
    finally:
        del Local.held
    assert frameless_calls_during(pair, [Local(False, True, False)]) == 1


class Keyed:
    def __getitem__(self, key):
        print("getitem", key)
        return key


def test_items_of_lists_tuples_and_dicts():
    pair = compiled_pair(find_all)
    assert frameless_calls_during(pair, Table([10, 20, 30]), [0, 2, -1, -3]) == 4
    assert frameless_calls_during(pair, Table((1, "b")), [1, -2]) == 2
    assert frameless_calls_during(pair, Table({"a": 1, "b": [2]}), ["b", "a"]) == 2
    pair.check(Table([1, 2]), [0, 2])                        # IndexError with the getter's traceback
    pair.check(Table([1, 2]), [10 ** 30])                    # IndexError: too big for a C index
    pair.check(Table({"a": 1}), ["a", "z"])                  # KeyError
    assert frameless_calls_during(pair, Table({1: "one", (2,): "two"}), [1, (2,)]) == 0   # other keys
    assert frameless_calls_during(pair, Table(Keyed()), [1, "k"]) == 0
    pair.check(Table([1, 2]), [True, False])                  # a bool index: not an exact int
    pair.check(Table("text"), [1])


class Loud:
    def __init__(self, v):
        self.v = v

    def __lt__(self, other):
        print("lt")
        return True

    def __eq__(self, other):
        print("eq")
        return isinstance(other, Loud) and self.v == other.v

    __hash__ = None


def test_comparisons_of_numbers_and_strings_only():
    pair = compiled_pair(compare_all)
    numbers = [Task(1, "a", None), Task(2.5, "b", 0), Task(float("nan"), "a", 1), Task(10 ** 40, "a", 2)]
    assert frameless_calls_during(pair, numbers, Task(2, "a", None)) == 2 * len(numbers)
    pair.check([Task(Loud(1), Loud(2), 0)], Task(Loud(3), Loud(4), 0))
    pair.check([Task("a", 1, 0)], Task(2, 1, 0))              # TypeError: '<' not supported
    pair.check([Task(1, b"x", 0)], Task(2, "x", 0))           # bytes == str runs the generic comparison


def test_tracing_sees_every_call():
    pair = compiled_pair(suspended_values)
    events = []

    def tracer(frame, event, arg):
        if frame.f_code is Task.is_suspended.__code__:
            events.append(event)
        return tracer

    with pair.side(True) as fn:
        before = _hook.frameless_calls()
        sys.settrace(tracer)
        try:
            result = fn(MIXED[:3])
        finally:
            sys.settrace(None)
        assert _hook.frameless_calls() == before
    assert result == [t.is_suspended() for t in MIXED[:3]]
    assert events.count("call") == 3 and events.count("return") == 3


def test_the_recursion_limit_is_the_interpreters():
    # a frameless call counts against no limit: at the limit it is not
    # tried, and the call with a frame raises the RecursionError
    import traceback

    def outcomes(caller):
        def at_depth(k):
            return caller(MIXED[:2]) if k == 0 else at_depth(k - 1)
        depth = len(traceback.extract_stack())
        out = []
        limit = sys.getrecursionlimit()
        for extra in range(60):
            try:
                sys.setrecursionlimit(depth + extra)
            except RecursionError:
                continue                # below the depth of this very frame
            try:
                result = ("value", at_depth(12))
            except RecursionError as e:
                result = e
            sys.setrecursionlimit(limit)    # before anything else calls
            if isinstance(result, RecursionError):
                result = ("error", traceback.extract_tb(result.__traceback__)[-1].name)
            out.append(result)
        return out

    pair = compiled_pair(suspended_values)
    with pair.side(False) as fn:
        expected = outcomes(fn)
    # the limit at which the getter's call is refused: the traceback ends in its caller
    assert ("error", "suspended_values") in expected and expected[-1][0] == "value", expected
    with pair.side(True) as fn:
        before = _hook.frameless_calls()
        assert outcomes(fn) == expected
        assert _hook.frameless_calls() > before


def test_replaced_code_is_honoured():
    def other(self):
        return "other code"

    pair = compiled_pair(suspended_values)
    original = Task.is_suspended.__code__
    try:
        Task.is_suspended.__code__ = other.__code__
        assert frameless_calls_during(pair, MIXED[:2]) == 0
    finally:
        Task.is_suspended.__code__ = original
    assert frameless_calls_during(pair, MIXED[:2]) == 2


def test_a_version_that_keeps_giving_up_is_dropped():
    class Always(Task):
        def is_suspended(self):
            return self.held or (self.waiting and not self.packet_pending)

    assert restrain.compile(Always.is_suspended).ok
    pair = compiled_pair(count_suspended)
    pair.check([Always(Truthy(False), 0, 0)] * 300)       # a __bool__ every time
    installed, hits, give_ups = _hook.frameless_state(Always.is_suspended.__code__)
    assert not installed and hits == 0 and give_ups >= 256
    pair.check([Always(False, 1, 0)] * 3)                    # the call with a frame still answers


# -- which functions get one -------------------------------------------------------------

def has_frameless(func) -> bool:
    products = run_front_end(func.__code__)
    return frameless_version(products["ir"], products["structure"]) is not None


GLOBAL_LIMIT = 3


def reads_a_global(self):
    return self.held < GLOBAL_LIMIT


def calls(self):
    return len(self.items)


def stores(self):
    self.held = True
    return self


def too_many_stores(self):
    self.a = self.b = self.c = self.d = self.e = self.f = self.g = self.h = self.i = 0
    return self


def loops(self):
    while self.held:
        pass
    return 1


def keyword_only(self, *, k):
    return self.items[k]


def make_closure():
    n = 1

    def inner(self):
        return self.items[n]
    return inner


def with_handler(self):
    try:
        return self.held
    except AttributeError:
        return None


def test_which_functions_get_a_frameless_version():
    for getter in GETTERS + STORERS + (reads_a_global, stores, loops, Node.last, Node.append):
        assert has_frameless(getter), getter.__qualname__
    for other in (calls, keyword_only, make_closure(), with_handler, too_many_stores):
        assert not has_frameless(other), other.__qualname__


def test_a_global_read_follows_rebinding():
    global GLOBAL_LIMIT
    assert restrain.compile(reads_a_global).ok

    def under_limit(tasks):
        out = []
        for t in tasks:
            out.append(reads_a_global(t))
        return out

    pair = compiled_pair(under_limit)
    assert frameless_calls_during(pair, [Task(1, 0, 0), Task(5, 0, 0)]) == 2
    try:
        GLOBAL_LIMIT = 10
        assert frameless_calls_during(pair, [Task(1, 0, 0), Task(5, 0, 0)]) == 2
        del globals()["GLOBAL_LIMIT"]
        pair.check([Task(1, 0, 0)])                           # NameError from the call with a frame
    finally:
        GLOBAL_LIMIT = 3
    pair.check([Task(2, 0, 0)])


# -- stores and computed numbers: a transaction ----------------------------------------

class Noisy:
    """An object that says when it is freed: a frameless version must not
    be the one to free it (the __del__ would run without the getter's frame)."""

    def __init__(self, name):
        self.name = name

    def __del__(self):
        print("freed", self.name, sys._getframe(1).f_code.co_name)


class Account:
    def __init__(self, balance, limit, owner):
        self.balance = balance
        self.limit = limit
        self.owner = owner
        self.moves = 0

    def deposit(self, amount):
        self.balance = self.balance + amount
        self.moves += 1
        return self.balance > self.limit

    def hand_over(self, owner):
        previous = self.owner
        self.owner = owner
        return previous

    def replace_owner(self, owner):
        self.owner = owner
        return self.moves


STORERS = (Account.deposit, Account.hand_over, Account.replace_owner)


def deposits(account, amounts):
    out = []
    for a in amounts:
        out.append(account.deposit(a))
    return out, account.balance, account.moves


def hand_overs(account, owners):
    out = []
    for o in owners:
        out.append(account.hand_over(o))
    return [getattr(x, "name", x) for x in out], getattr(account.owner, "name", None)


def replacements(account, owners):
    out = []
    for o in owners:
        out.append(account.replace_owner(o))
    return out


def fresh_account(balance=10, limit=100, owner="ann"):
    return Fresh(lambda: Account(balance, limit, owner), f"Account({balance}, {limit}, {owner!r})")


def test_stores_and_numbers_answer_without_a_frame():
    for storer in STORERS:
        assert restrain.compile(storer).ok
    pair = compiled_pair(deposits)
    assert frameless_calls_during(pair, fresh_account(), [5, 2.5, 10 ** 20, -3]) == 4
    pair = compiled_pair(hand_overs)
    assert frameless_calls_during(pair, fresh_account(), ["bob", "cy", None]) == 3   # the old owner is returned


def test_giving_up_after_a_store_undoes_it():
    pair = compiled_pair(deposits)
    # the comparison with a Loud limit gives up after both stores: if they
    # were not undone, the call with a frame would add and count twice
    assert frameless_calls_during(pair, Fresh(lambda: Account(1, Loud(0), None)), [1, 2]) == 0
    pair.check(fresh_account(), [1, 0.5, "x"])                 # TypeError from the first store's sum
    pair.check(Fresh(lambda: Account(2 ** 70, 0, None)), [2.0 ** 1000, 2.0 ** 1023])   # OverflowError
    assert frameless_calls_during(pair, fresh_account(), [1]) == 1


def test_a_store_that_would_free_an_object_runs_with_a_frame():
    for storer in STORERS:
        assert restrain.compile(storer).ok
    pair = compiled_pair(replacements)
    # each new owner replaces the previous one, the last reference to it:
    # "freed ... replace_owner", printed from inside the getter's frame
    interp, comp = pair.outcomes(Fresh(lambda: Account(0, 0, Noisy("first"))),
                                 Fresh(lambda: [Noisy("second"), Noisy("third"), "fourth"]))
    pair.check(Fresh(lambda: Account(0, 0, Noisy("first"))),
               Fresh(lambda: [Noisy("second"), Noisy("third"), "fourth"]))
    assert "freed first replace_owner" in comp.stdout
    kept = Noisy("kept")
    assert frameless_calls_during(pair, fresh_account(owner=kept), ["x", "y"]) == 2   # not freed: kept alive here


class Slotted2:
    __slots__ = ("balance", "limit", "owner", "moves")

    deposit = Account.deposit


class Watched(Account):
    def __setattr__(self, name, value):
        print("set", name)
        object.__setattr__(self, name, value)


def test_stores_the_cache_cannot_take():
    pair = compiled_pair(deposits)

    def slotted():
        s = Slotted2()
        s.balance, s.limit, s.owner, s.moves = 1, 5, None, 0
        return s

    assert frameless_calls_during(pair, Fresh(slotted), [1, 2, 3]) == 3        # slots: in place
    assert frameless_calls_during(pair, Fresh(lambda: Watched(1, 5, None)), [1, 2]) == 0
    pair.check(Fresh(lambda: Account.__new__(Account)), [1])                   # no attributes: AttributeError

    def without_moves():
        a = Account(1, 5, None)
        del a.moves
        return a

    pair.check(Fresh(without_moves), [1])     # the store of balance is undone, then AttributeError


def test_an_init_adds_its_attributes_without_a_frame():
    # a class call runs __init__ through its function object's vectorcall:
    # the swapped type's (windows mode) tries the frameless version, which
    # adds the attributes in order; one that gives up after adding some
    # takes them out again, and the call with a frame adds them once
    from test_windows import run_program
    out, _ = run_program("""
        class Loud:
            def __lt__(self, other):
                print("lt")
                return True
        class Point:
            def __init__(self, x, y, z):
                self.x = x
                self.y = y
                self.less = x < z
        class Slotted:
            __slots__ = ("x", "y", "less")
            __init__ = Point.__init__
        assert restrain.compile(Point.__init__).ok
        Point(1, 2, 3); Point(1, 2, 3)                  # seen by the evaluator: swapped
        wait_closed()
        before = _hook.frameless_calls()
        points = [Point(i, i * 0.5, 2) for i in range(4)]
        out["frameless"] = _hook.frameless_calls() - before
        out["points"] = [list(vars(p).items()) for p in points]
        loud = Point(Loud(), "y", 0)                    # gives up after adding x and y
        out["loud"] = [type(v).__name__ for v in vars(loud).values()] + list(vars(loud))
        s = Slotted(1, 2, 3)
        out["slotted"] = [s.x, s.y, s.less]
        out["frameless_after"] = _hook.frameless_calls() - before
    """)
    assert out["frameless"] == 4
    assert out["points"] == [[["x", i], ["y", i * 0.5], ["less", i < 2]] for i in range(4)]
    assert out["loud"] == ["Loud", "str", "bool", "x", "y", "less"]
    assert out["slotted"] == [1, 2, True]
    assert out["frameless_after"] == 5                # the slotted one: in its slots


# -- loops ---------------------------------------------------------------------------

class Node:
    def __init__(self, link, value):
        self.link = link
        self.value = value

    def last(self):
        node = self
        while node.link is not None:
            node = node.link
        return node

    def append(self, other):
        """Put `other` at the end of this list (richards' append_to)."""
        other.link = None
        node = self
        while node.link is not None:
            node = node.link
        node.link = other
        return self

    def total(self):
        t = 0
        node = self
        while node is not None:
            t = t + node.value
            node = node.link
        return t

    def mark(self):
        node = self
        while node is not None:
            node.value = -1
            node = node.link
        return self

    def spin(self):
        while self.value:
            pass
        return 1


def chain(n, start=0):
    head = None
    for i in reversed(range(n)):
        head = Node(head, start + i)
    return head


def walk(heads):
    out = []
    for h in heads:
        out.append((h.last().value, h.total()))
    return out


def grow(head, n):
    for i in range(n):
        head.append(Node(None, i))
    return head.total(), head.last().value


def mark_all(heads):
    out = []
    for h in heads:
        out.append(h.mark().total())
    return out


@pytest.fixture(scope="module")
def compiled_nodes():
    for method in (Node.__init__, Node.last, Node.append, Node.total, Node.mark, Node.spin):
        assert restrain.compile(method).ok


def test_loops_answer_without_a_frame(compiled_nodes):
    pair = compiled_pair(walk)
    heads = Fresh(lambda: [chain(1), chain(3), chain(150, 10 ** 18)])    # the last sum outgrows 64 bits
    # the last total() makes more numbers than a transaction holds (128):
    # it gives up and runs with a frame
    assert frameless_calls_during(pair, heads) == 5
    pair = compiled_pair(grow)
    # 140 appends and last(); total() of 142 nodes makes more numbers than
    # a transaction holds
    assert frameless_calls_during(pair, Fresh(lambda: chain(2)), 140) == 140 + 1
    pair.check(Fresh(lambda: Node(None, "a")), 2)                       # "a" + 0: TypeError with a frame
    pair = compiled_pair(mark_all)
    # chain(3): mark() and total() frameless; chain(40): more stores than a
    # transaction holds (32): mark() gives up and undoes them, and the call
    # with a frame marks every node once; total() of its 40 nodes answers
    # (it makes 40 numbers)
    assert frameless_calls_during(pair, Fresh(lambda: [chain(3), chain(40)])) == 3


def test_a_signal_stops_a_frameless_loop(compiled_nodes):
    import signal

    def spin_once(nodes):
        out = []
        for n in nodes:
            out.append(n.spin())
        return out

    class Stop(Exception):
        pass

    def alarm(signum, frame):
        raise Stop(frame.f_code.co_name)

    pair = compiled_pair(spin_once)
    previous = signal.signal(signal.SIGALRM, alarm)
    try:
        with pair.side(True) as fn:
            signal.setitimer(signal.ITIMER_REAL, 0.2)
            with pytest.raises(Stop) as caught:
                fn([Node(None, 0), Node(None, 1)])         # the second spins until the alarm
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert caught.value.args == ("spin",)                  # raised in spin's own frame
