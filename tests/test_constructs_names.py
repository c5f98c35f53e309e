"""Differential tests: locals, globals, builtins, `global`, `del`, closures
(cell and free variables, `nonlocal`), NameError / UnboundLocalError."""

import pytest
from hypothesis import given, strategies as st

from difftest import MISSING, check, compiled_pair, hyp_settings

G_VALUE = 1
G_STORE = None
G_COUNT = 0


# --------------------------------------------------------------------------
# globals

def read_global():
    return G_VALUE * 2


def _rebind_g_value():
    global G_VALUE
    G_VALUE = G_VALUE + 100


def read_global_twice():
    a = G_VALUE
    _rebind_g_value()
    b = G_VALUE
    return a, b


def test_global_rebound_between_calls():
    pair = compiled_pair(read_global)
    assert pair.check(globals_reset={"G_VALUE": 1}).value == 2
    assert pair.check(globals_reset={"G_VALUE": 10}).value == 20
    assert pair.check(globals_reset={"G_VALUE": "ab"}).value == "abab"
    out = pair.check(globals_reset={"G_VALUE": MISSING})
    assert out.exc_type is NameError and out.message == "name 'G_VALUE' is not defined"
    assert pair.check(globals_reset={"G_VALUE": 3}).value == 6


def test_global_rebound_without_harness_reset():
    global G_VALUE
    pair = compiled_pair(read_global)
    try:
        for value in (5, 7.5, [1]):
            G_VALUE = value
            assert pair.call() == value * 2
    finally:
        G_VALUE = 1


def test_global_rebound_during_call():
    out = check(read_global_twice, globals_reset={"G_VALUE": 1})
    assert out.value == (1, 101)


def uses_len(x):
    return len(x), abs(-3)


def _fake_len(x):
    return -1


def test_builtin_shadowed_by_global_later():
    pair = compiled_pair(uses_len)
    assert pair.check([1, 2], globals_reset={"len": MISSING}).value == (2, 3)
    assert pair.check([1, 2], globals_reset={"len": _fake_len}).value == (-1, 3)
    assert pair.check([1, 2], globals_reset={"abs": _fake_len}).value == (-1, -1)
    assert pair.check([1, 2], globals_reset={"len": MISSING, "abs": MISSING}).value == (2, 3)
    assert "len" not in globals() and "abs" not in globals()


def global_store_delete(v, delete):
    global G_STORE
    G_STORE = v
    if delete:
        del G_STORE
        if delete == 2:
            del G_STORE  # NameError: it is gone already
        return "G_STORE" in globals()
    return G_STORE


def global_augment(n):
    global G_COUNT
    for _ in range(n):
        G_COUNT += 1
    return G_COUNT


@pytest.mark.parametrize("start", [MISSING, None, 5])
@pytest.mark.parametrize("delete", [False, True])
def test_global_store_delete(start, delete):
    check(global_store_delete, [1, 2], delete, globals_reset={"G_STORE": start})


def test_global_delete_missing():
    pair = compiled_pair(global_store_delete)
    out = pair.check(1, True, globals_reset={"G_STORE": MISSING})
    assert out.value is False
    out = pair.check(1, 2, globals_reset={"G_STORE": 0})
    assert out.exc_type is NameError and out.message == "name 'G_STORE' is not defined"


@pytest.mark.parametrize("start", [0, 10, 2**64, "x", MISSING])
def test_global_augment(start):
    check(global_augment, 3, globals_reset={"G_COUNT": start})


def use_builtins(xs):
    return (len(xs), list(range(len(xs))), sorted(xs), min(xs), max(xs), sum(xs),
            abs(-len(xs)), isinstance(xs, list), list(enumerate(xs)), list(zip(xs, xs[1:])),
            repr(xs), str(len(xs)), int("7"), float("1.5"), bool(xs), type(xs).__name__,
            divmod(17, len(xs)), list(reversed(xs)), hash(tuple(xs)) == hash(tuple(xs)),
            callable(len), getattr(xs, "count")(0), round(2.675, 2), pow(3, 4, 5),
            chr(65 + len(xs)), ord("a"), any(xs), all(xs), list(map(str, xs)),
            list(filter(None, xs)), hex(len(xs)), None is None, NotImplemented, Ellipsis)


@hyp_settings()
@given(xs=st.lists(st.integers(-100, 100), min_size=1, max_size=6))
def test_builtins(xs):
    compiled_pair(use_builtins).check(xs)


@pytest.mark.parametrize("xs", [[], "abc", [1, "a"], None, [1.5, float("nan")]], ids=repr)
def test_builtins_errors(xs):
    compiled_pair(use_builtins).check(xs)


def missing_global(call):
    if call:
        return undefined_function_xyz(call)  # noqa: F821
    return undefined_global_xyz  # noqa: F821


def test_name_error_messages():
    out = check(missing_global, 0)
    assert out.exc_type is NameError
    assert out.message == "name 'undefined_global_xyz' is not defined"
    assert check(missing_global, 1).message == "name 'undefined_function_xyz' is not defined"


def test_missing_global_defined_later():
    pair = compiled_pair(missing_global)
    assert pair.check(0, globals_reset={"undefined_global_xyz": 42}).value == 42
    assert pair.check(0, globals_reset={"undefined_global_xyz": MISSING}).raised
    assert pair.check(3, globals_reset={"undefined_function_xyz": str}).value == "3"


# --------------------------------------------------------------------------
# locals, UnboundLocalError, del

def local_states(flag, kill):
    if flag:
        x = 1
    if kill:
        del x
    y = x + 1
    x = y * 10
    return x, y


@pytest.mark.parametrize("flag,kill", [(True, False), (False, False), (True, True),
                                       (False, True), (1, 0), ([], [1])])
def test_local_states(flag, kill):
    compiled_pair(local_states).check(flag, kill)


def test_unbound_local_message():
    out = check(local_states, False, False)
    assert out.exc_type is UnboundLocalError
    assert out.message == "cannot access local variable 'x' where it is not associated with a value"


class Holder:
    def __init__(self):
        self.attr = 1
        self.other = 2

    def __repr__(self):
        return f"Holder({sorted(vars(self))})"


def del_many(lst, d, o, g):
    x = 1
    del x
    del lst[0], d["k"]
    del o.attr
    del lst[1:3]
    if g:
        global G_STORE
        del G_STORE
    return lst, d, o, "x" in locals()


@pytest.mark.parametrize("lst,d,o,g", [
    ([1, 2, 3, 4, 5], {"k": 1, "j": 2}, Holder(), False),
    ([1, 2, 3, 4, 5], {"k": 1}, Holder(), True),
    ([], {"k": 1}, Holder(), False),
    ([1, 2], {}, Holder(), False),
    ([1, 2], {"k": 1}, object(), False),
    ((1, 2), {"k": 1}, Holder(), False),
], ids=repr)
def test_del_many(lst, d, o, g):
    compiled_pair(del_many).check(lst, d, o, g, globals_reset={"G_STORE": "set"})


# --------------------------------------------------------------------------
# closures

def cell_outer(x):
    y = x + 1

    def inner(z):
        return x + y + z
    first = inner(1)
    y += 10
    return first, inner(1), inner.__name__, len(inner.__closure__)


def cell_nonlocal(n):
    count = 0

    def bump(k):
        nonlocal count
        count += k
        return count
    for i in range(n):
        bump(i)
    return count, bump(100), count


def loop_closures(n):
    late = []
    bound = []
    for i in range(n):
        late.append(lambda: i)
        bound.append(lambda i=i: i)
    comp = [(lambda: j) for j in range(n)]
    return [f() for f in late], [f() for f in bound], [f() for f in comp]


def late_binding():
    x = 1
    f = lambda: x  # noqa: E731
    r1 = f()
    x = 2
    r2 = f()
    del x
    try:
        r3 = f()
    except NameError as e:
        r3 = (type(e).__name__, str(e))
    return r1, r2, r3


def cell_param(a, b):
    def get():
        return a, b

    def set_a(v):
        nonlocal a
        a = v
    set_a(b * 2)
    return get(), a


@hyp_settings()
@given(x=st.one_of(st.integers(), st.floats(allow_nan=False)))
def test_cell_outer(x):
    compiled_pair(cell_outer).check(x)


def test_cell_outer_error():
    compiled_pair(cell_outer).check("s")


@pytest.mark.parametrize("n", [0, 1, 5])
def test_cell_nonlocal(n):
    compiled_pair(cell_nonlocal).check(n)


@pytest.mark.parametrize("n", [0, 1, 4])
def test_loop_closures(n):
    compiled_pair(loop_closures).check(n)


def test_late_binding():
    out = check(late_binding)
    assert out.value[:2] == (1, 2)
    assert out.value[2] == ("NameError", "cannot access free variable 'x' where it is not "
                            "associated with a value in enclosing scope")


@pytest.mark.parametrize("a,b", [(1, 2), ("s", 3), ([1], [2])], ids=repr)
def test_cell_param(a, b):
    compiled_pair(cell_param).check(a, b)


# Inner functions compiled themselves (their free variables come from cells).

def make_adder(n):
    def add(x):
        return x + n
    return add


def make_counter():
    count = 0

    def counter(step=1):
        nonlocal count
        count += step
        return count
    return counter


def make_unset():
    def get():
        return v  # noqa: F821 - the cell is never filled
    if False:
        v = 1
    return get


ADD5 = make_adder(5)
ADD_LIST = make_adder([9])
COUNTER = make_counter()
UNSET = make_unset()


@hyp_settings()
@given(x=st.integers())
def test_compiled_closure_free_var(x):
    compiled_pair(ADD5).check(x)


def test_compiled_closure_free_var_list():
    assert check(ADD_LIST, [1]).value == [1, 9]
    check(ADD_LIST, "s")


def test_compiled_closure_nonlocal():
    pair = compiled_pair(COUNTER, reset_cells=True)
    assert pair.check().value == 1
    assert pair.check(5).value == 5
    pair.check("x")


def test_compiled_closure_nonlocal_accumulates():
    counter = make_counter()
    pair = compiled_pair(counter)
    assert [pair.call() for _ in range(3)] == [1, 2, 3]
    assert pair.call(compiled=False) == 4  # the same cell, shared with the original
    assert pair.call(10) == 14


def test_compiled_closure_empty_cell():
    out = check(UNSET)
    assert out.exc_type is NameError
    assert out.message == ("cannot access free variable 'v' where it is not associated "
                           "with a value in enclosing scope")
