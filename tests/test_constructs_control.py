"""Differential tests: if/elif/else, while and for loops (else, break,
continue, nesting, return inside loops), iteration protocols."""

import math

import pytest
from hypothesis import given, strategies as st

from difftest import Fresh, check, compiled_pair, hyp_settings


# --------------------------------------------------------------------------
# if / elif / else

def if_chain(x):
    if x < 0:
        r = "neg"
    elif x == 0:
        r = "zero"
    elif x < 10:
        r = "small"
    else:
        r = "big"
    if x:
        r += "!"
    if not x % 2:
        r += " even"
    else:
        pass
    if x > 100:
        if x > 1000:
            r += " huge"
        else:
            r += " large"
    return r


@hyp_settings()
@given(x=st.one_of(st.integers(), st.floats(), st.booleans()))
def test_if_chain(x):
    compiled_pair(if_chain).check(x)


@pytest.mark.parametrize("x", [math.nan, -math.inf, "a", None, [], 10**100, -0.0], ids=repr)
def test_if_chain_special(x):
    compiled_pair(if_chain).check(x)


# --------------------------------------------------------------------------
# while

def while_loop(n, stop, skip):
    i = 0
    out = []
    while i < n:
        i += 1
        if i == skip:
            continue
        if i == stop:
            break
        out.append(i)
    else:
        out.append("else")
    return out, i


def while_nested(n):
    total = 0
    i = 0
    while True:
        j = 0
        while j < i:
            j += 1
            if j % 3 == 0:
                continue
            total += j
        else:
            total += 1000
        i += 1
        if i > n:
            break
    return total, i


@hyp_settings()
@given(n=st.integers(-2, 12), stop=st.integers(-1, 13), skip=st.integers(-1, 13))
def test_while_loop(n, stop, skip):
    compiled_pair(while_loop).check(n, stop, skip)


def test_while_loop_error():
    compiled_pair(while_loop).check("3", 1, 1)


@pytest.mark.parametrize("n", [-1, 0, 1, 7])
def test_while_nested(n):
    compiled_pair(while_nested).check(n)


# --------------------------------------------------------------------------
# for

def for_loop(it, stop, skip):
    out = []
    for x in it:
        if x == skip:
            continue
        if x == stop:
            break
        out.append(x)
    else:
        out.append("else")
    return out


class CountDown:
    """Iterator protocol implemented in Python."""

    def __init__(self, n, fail_at=None):
        self.n = n
        self.fail_at = fail_at

    def __iter__(self):
        return self

    def __next__(self):
        if self.n <= 0:
            raise StopIteration
        if self.n == self.fail_at:
            raise ValueError(f"failed at {self.n}")
        self.n -= 1
        return self.n + 1

    def __repr__(self):
        return f"CountDown({self.n}, {self.fail_at})"


class OldSeq:
    """Iteration through __getitem__ only."""

    def __getitem__(self, i):
        if i >= 4:
            raise IndexError(i)
        return i * 10

    def __repr__(self):
        return "OldSeq()"


class BadIter:
    def __iter__(self):
        return 5

    def __repr__(self):
        return "BadIter()"


def _gen(n):
    for i in range(n):
        yield i


ITERABLES = {
    "list": [1, 2, 3, 4], "tuple": (1, 2, 3), "str": "abcab", "dict": {1: "a", 2: "b", 3: "c"},
    "range": range(6), "range-neg": range(5, -5, -2), "empty": [], "set": {3, 1, 2},
    "bytes": b"\x01\x02\x03", "generator": Fresh(lambda: _gen(5), "gen(5)"),
    "genexpr": Fresh(lambda: (i * 2 for i in range(4)), "genexpr"),
    "custom": CountDown(5), "custom-fails": CountDown(5, fail_at=2), "getitem": OldSeq(),
    "items": Fresh(lambda: {"a": 1}.items(), "items"), "enumerate": Fresh(lambda: enumerate("xy"), "enum"),
    "zip": Fresh(lambda: zip([1, 2], "ab"), "zip"), "int": 5, "none": None, "bad-iter": BadIter(),
}


@pytest.mark.parametrize("name", list(ITERABLES))
@pytest.mark.parametrize("stop,skip", [(None, None), (3, 2), (2, 1), ("b", "a"), (0, 4)])
def test_for_loop(name, stop, skip):
    compiled_pair(for_loop).check(ITERABLES[name], stop, skip)


def test_for_loop_messages():
    assert check(for_loop, 5, 0, 0).message == "'int' object is not iterable"
    assert check(for_loop, BadIter(), 0, 0).message == "iter() returned non-iterator of type 'int'"


def nested_loops(rows, target):
    found = None
    out = []
    for i, row in enumerate(rows):
        skip_row = False
        for j, v in enumerate(row):
            if v == target:
                found = (i, j)
                break
            if v < 0:
                skip_row = True
                break
            out.append(v)
        else:
            out.append("row-done")
        if skip_row:
            continue
        out.append(("after", i))
    return out, found


@hyp_settings()
@given(rows=st.lists(st.lists(st.integers(-2, 6), max_size=4), max_size=4),
       target=st.integers(0, 6))
def test_nested_loops(rows, target):
    compiled_pair(nested_loops).check(rows, target)


def find_first(xs, target):
    for i, x in enumerate(xs):
        for y in (x, -x):
            if y == target:
                return i, y
    while xs:
        last = xs.pop()
        if last == -1:
            return "popped", last
    return None


@hyp_settings()
@given(xs=st.lists(st.integers(-3, 3), max_size=6), target=st.integers(-3, 3))
def test_find_first(xs, target):
    compiled_pair(find_first).check(xs, target)


def dict_iteration(d):
    out = []
    for k, v in d.items():
        out.append((k, v))
    for k in d:
        out.append(k)
    for v in d.values():
        out.append(v)
    for i, (k, v) in enumerate(sorted(d.items())):
        out.append((i, k, v))
    return out


@pytest.mark.parametrize("d", [{}, {"a": 1, "b": 2}, {2: "x", 1: "y"}, {"a": [1]}, [("a", 1)]],
                         ids=repr)
def test_dict_iteration(d):
    compiled_pair(dict_iteration).check(d)


def loop_var_after(n):
    for i in range(n):
        pass
    return i  # noqa: F821 - unbound when the loop did not run


def test_loop_var_after():
    pair = compiled_pair(loop_var_after)
    assert pair.check(3).value == 2
    assert pair.check(0).exc_type is UnboundLocalError


def loop_mutate(xs, d):
    for i in range(len(xs)):
        xs[i] *= 2
    for k in d:
        d[k + "x"] = 1
    return xs, d


@pytest.mark.parametrize("xs,d", [([1, 2], {}), ([], {"a": 1}), (["a"], {}), ((1,), {})],
                         ids=repr)
def test_loop_mutate(xs, d):
    out = compiled_pair(loop_mutate).check(xs, d)
    if d:
        assert out.message == "dictionary changed size during iteration"


class Noisy:
    """Generator whose cleanup prints: shows *when* a loop drops it."""

    @staticmethod
    def gen(n):
        try:
            for i in range(n):
                yield i
        finally:
            print("generator closed")


def break_closes_generator(n):
    for x in Noisy.gen(10):
        if x == n:
            break
    print("after loop")
    return x


@pytest.mark.parametrize("n", [0, 3, 20])
def test_break_closes_generator(n):
    out = compiled_pair(break_closes_generator).check(n)
    assert out.stdout.splitlines() == ["generator closed", "after loop"]


def consume_generator_function(n):
    total = 0
    for v in _gen(n):
        total += v
    return total, sum(_gen(n)), list(_gen(n))


@pytest.mark.parametrize("n", [0, 5])
def test_consume_generator_function(n):
    compiled_pair(consume_generator_function).check(n)


def gen_function(n):
    for i in range(n):
        yield i * i


def test_generator_function_itself_stays_interpreted():
    # A generator function is reported unsupported and keeps working.
    pair = compiled_pair(gen_function, expect_unsupported=True)
    interp, comp = pair.outcomes(4)
    assert list(interp.value) == list(comp.value) == [0, 1, 4, 9]


# -- a loop whose body first stores the item (emit: ModuleEmitter.stored_items) --
# the item goes straight into the local: the previous one is released at the
# store, as STORE_FAST releases it, and an iterator's exception keeps the loop's line

class Tracked:
    def __init__(self, name):
        self.name = name

    def __del__(self):
        print("freed", self.name)


def items_released_at_the_store(n):
    for item in (Tracked(i) for i in range(n)):
        print("got", item.name)
    print("after the loop")
    return n


@pytest.mark.parametrize("n", [0, 1, 3])
def test_the_previous_item_is_released_at_the_store(n):
    out = compiled_pair(items_released_at_the_store).check(n)
    assert out.stdout.count("freed") == n


def _failing_gen(n):
    yield from range(n)
    raise KeyError(n)


def loop_over_failing_iterator(n):
    out = []
    for x in _failing_gen(n):
        out.append(x * 2)
    return out


@pytest.mark.parametrize("n", [0, 2])
def test_an_iterators_exception_has_the_loops_line(n):
    out = compiled_pair(loop_over_failing_iterator).check(n)
    assert out.exc_type is KeyError
