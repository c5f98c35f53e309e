"""Self-tests of the differential harness (tests/difftest.py).

These never call restrain: the "compiled" side is substituted by another
Python function, so they check that the harness notices each kind of
difference and reports it readably.
"""

import math

import pytest

import difftest
from difftest import MISSING, CompiledPair, Fresh, Shared, make_clone, same


def _pair(func, other):
    return CompiledPair(func, _substitute=other)


def _mismatch(func, other, *args, **kwargs):
    with pytest.raises(AssertionError) as info:
        _pair(func, other).check(*args, **kwargs)
    return str(info.value)


def ret_int(x):
    return x + 1


def ret_float(x):
    return x + 1.0


def ret_plus_two(x):
    return x + 2


def test_identical_clone_passes():
    out = _pair(ret_int, make_clone(ret_int)).check(41)
    assert out.value == 42 and not out.raised


def test_value_difference_reported():
    msg = _mismatch(ret_int, ret_plus_two, 1)
    assert "return value: 2 != 3" in msg
    assert "ret_int(1)" in msg and "interpreted: returned 2" in msg


def test_type_difference_reported():
    msg = _mismatch(ret_int, ret_float, 1)
    assert "type int != float" in msg


def test_float_details():
    assert same(math.nan, float("nan"))
    assert same([math.nan, 1.0], [float("nan"), 1.0])
    assert not same(0.0, -0.0)
    assert not same(1, True)
    assert same({"a": [1, (2, 3)]}, {"a": [1, (2, 3)]})
    assert not same({"a": 1, "b": 2}, {"b": 2, "a": 1})  # dict order is observable
    assert same({1, 2}, {2, 1})
    assert same(complex(math.nan, 1), complex(math.nan, 1))


class Plain:
    def __init__(self, x):
        self.x = x


class Slotted:
    __slots__ = ("a", "__b")

    def __init__(self, a, b):
        self.a = a
        self.__b = b


def test_state_comparison_of_plain_objects():
    assert same(Plain([1]), Plain([1]))
    assert not same(Plain([1]), Plain([2]))
    assert same(Slotted(1, 2), Slotted(1, 2))
    assert not same(Slotted(1, 2), Slotted(1, 3))
    cyc1, cyc2 = Plain(None), Plain(None)
    cyc1.x, cyc2.x = cyc1, cyc2
    assert same(cyc1, cyc2)


def raises_value(x):
    raise ValueError("bad", x)


def raises_type(x):
    raise TypeError("bad", x)


def raises_value_other_msg(x):
    raise ValueError("worse", x)


def raises_value_later(x):
    y = x
    raise ValueError("bad", y)


def test_exception_differences():
    assert "ValueError('bad', 1) is not TypeError('bad', 1)" in _mismatch(
        raises_value, raises_type, 1)
    msg = _mismatch(raises_value, raises_value_other_msg, 1)
    assert "exception.args[0]: 'bad' != 'worse'" in msg
    msg = _mismatch(raises_value, ret_int, 1)
    assert "interpreted raised ValueError('bad', 1)" in msg and "compiled returned 2" in msg


def test_traceback_difference_reported():
    msg = _mismatch(raises_value, raises_value_later, 1)
    assert "traceback differs" in msg
    assert "test_constructs_harness.py" in msg


def chained_cause():
    try:
        {}["k"]
    except KeyError as e:
        raise ValueError("x") from e


def chained_context():
    try:
        {}["k"]
    except KeyError:
        raise ValueError("x")


def test_chain_difference_reported():
    msg = _mismatch(chained_cause, chained_context)
    assert "__cause__" in msg


def prints_a():
    print("a")


def prints_b():
    print("b")


def test_stdout_difference_reported():
    assert "printed output differs" in _mismatch(prints_a, prints_b)
    out = _pair(prints_a, make_clone(prints_a)).check()
    assert out.stdout == "a\n"


def appends_1(lst):
    lst.append(1)


def appends_2(lst):
    lst.append(2)


def test_argument_mutation_compared_and_isolated():
    arg = [0]
    msg = _mismatch(appends_1, appends_2, arg)
    assert "argument 0 after the call" in msg
    assert arg == [0], "the harness must run on copies"


HARNESS_G = 0


def sets_global_1():
    global HARNESS_G
    HARNESS_G = 1


def sets_global_2():
    global HARNESS_G
    HARNESS_G = 2


def test_globals_reset_and_compared():
    msg = _mismatch(sets_global_1, sets_global_2, globals_reset={"HARNESS_G": 0})
    assert "global HARNESS_G after the call: 1 != 2" in msg
    _pair(sets_global_1, make_clone(sets_global_1)).check(globals_reset={"HARNESS_G": MISSING})
    assert HARNESS_G == 1


def consume(it):
    return list(it)


def identity(x):
    return x


def test_fresh_and_shared_arguments():
    pair = _pair(consume, make_clone(consume))
    assert pair.check(Fresh(lambda: (i * i for i in range(4)))).value == [0, 1, 4, 9]
    token = object()
    assert pair.outcomes([Shared(token)])[1].value[0] is token


def test_undeepcopyable_argument_message():
    gen = (i for i in range(3))
    with pytest.raises(TypeError, match="Fresh"):
        _pair(identity, make_clone(identity)).check(gen)


def harness_rec(n):
    return 0 if n == 0 else harness_rec(n - 1) + 1


def test_rebind_restores_global():
    clone = make_clone(harness_rec)
    pair = CompiledPair(harness_rec, _substitute=clone, rebind=True)
    seen = []
    with pair.side(True) as fn:
        seen.append(globals()["harness_rec"])
        assert fn(3) == 3
    assert seen == [clone]
    assert globals()["harness_rec"] is harness_rec


def make_counter():
    n = 0

    def bump():
        nonlocal n
        n += 1
        return n
    return bump


def test_reset_cells():
    bump = make_counter()
    pair = CompiledPair(bump, _substitute=make_clone(bump), reset_cells=True)
    assert pair.check().value == 1
    assert pair.check().value == 1


def test_fake_flag_is_not_default():
    # The stub must only ever be enabled explicitly.
    import os

    if os.environ.get("RESTRAIN_DIFFTEST_FAKE"):
        pytest.skip("fake mode explicitly enabled for this run")
    assert difftest.FAKE is False
