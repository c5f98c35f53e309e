"""Differential tests: attributes, subscripts/slices, displays, unpacking,
f-strings, lambdas and comprehensions."""

import dataclasses
import datetime
import decimal
import fractions
import math
import types

import pytest
from hypothesis import given, strategies as st

from difftest import Fresh, Shared, check, compiled_pair, hyp_settings


# --------------------------------------------------------------------------
# attributes

def get_attr(o):
    return o.x


def get_attr_chain(o):
    return o.x.real, o.x.__class__.__name__, type(o).__name__


def set_attr(o, v):
    o.x = v
    return o


def del_attr(o):
    del o.x
    return o


class Plain:
    cls_level = "class attribute"

    def __init__(self, x=1):
        self.x = x

    def __repr__(self):
        return f"Plain({self.__dict__!r})"


class Empty:
    def __repr__(self):
        return "Empty()"


class WithProperty:
    def __init__(self):
        self.log = []
        self._x = 10

    @property
    def x(self):
        self.log.append("get")
        return self._x

    @x.setter
    def x(self, value):
        self.log.append(("set", value))
        self._x = value

    @x.deleter
    def x(self):
        self.log.append("del")
        self._x = None

    def __repr__(self):
        return "WithProperty()"


class ReadOnly:
    @property
    def x(self):
        return "read-only"

    def __repr__(self):
        return "ReadOnly()"


class Dynamic:
    """__getattr__ only for missing, non-dunder names (deepcopy-safe)."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        self.calls.append(name)
        if name == "x":
            return "dynamic x"
        raise AttributeError(f"Dynamic has no {name!r}")

    def __repr__(self):
        return "Dynamic()"


class Guarded:
    """__setattr__ / __delattr__ overrides."""

    def __init__(self):
        object.__setattr__(self, "log", [])

    def __setattr__(self, name, value):
        self.log.append(("set", name, value))
        if name == "x" and value == "forbidden":
            raise ValueError("forbidden value")
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self.log.append(("del", name))
        object.__delattr__(self, name)

    def __repr__(self):
        return "Guarded()"


class Slots:
    __slots__ = ("x", "y")

    def __init__(self, x=None):
        if x is not None:
            self.x = x

    def __repr__(self):
        return "Slots()"


@dataclasses.dataclass(frozen=True)
class Frozen:
    x: int = 3


def _ns():
    return types.SimpleNamespace(x=5, y=6)


def _fresh_class():
    class WithClassAttr:
        x = "class attribute x"
    return WithClassAttr


ATTR_OBJECTS = {
    "plain": Plain(3), "plain-list": Plain([1, 2]), "empty": Empty(), "property": WithProperty(),
    "read-only": ReadOnly(), "dynamic": Dynamic(), "guarded": Guarded(), "slots-set": Slots(4),
    "slots-unset": Slots(), "frozen": Frozen(), "namespace": _ns(), "class": Fresh(_fresh_class, "class"),
    "class-without-x": Plain,
    "int": 5, "str": "s", "none": None, "complex": 3 + 4j,
}


@pytest.mark.parametrize("name", list(ATTR_OBJECTS))
def test_get_attr(name):
    compiled_pair(get_attr).check(ATTR_OBJECTS[name])


@pytest.mark.parametrize("name", ["plain", "property", "dynamic", "frozen", "namespace",
                                  "complex", "empty", "int"])
def test_get_attr_chain(name):
    compiled_pair(get_attr_chain).check(ATTR_OBJECTS[name])


MUTABLE_ATTR = [n for n in ATTR_OBJECTS if n != "class-without-x"]  # never mutate Plain itself


@pytest.mark.parametrize("name", MUTABLE_ATTR)
@pytest.mark.parametrize("value", [7, "forbidden"])
def test_set_attr(name, value):
    compiled_pair(set_attr).check(ATTR_OBJECTS[name], value)


@pytest.mark.parametrize("name", MUTABLE_ATTR)
def test_del_attr(name):
    compiled_pair(del_attr).check(ATTR_OBJECTS[name])


def test_attribute_error_messages():
    assert check(get_attr, Empty()).message == "'Empty' object has no attribute 'x'"
    assert check(get_attr, 5).message == "'int' object has no attribute 'x'"
    assert check(set_attr, Slots(), 1).raised is False
    assert check(del_attr, Slots()).message == "x"
    assert check(set_attr, ReadOnly(), 1).exc_type is AttributeError


# --------------------------------------------------------------------------
# subscripts and slices

def getitem(c, k):
    return c[k]


def setitem(c, k, v):
    c[k] = v
    return c


def delitem(c, k):
    del c[k]
    return c


def slices(c, i, j, k):
    return c[i:j], c[i:j:k], c[::-1], c[1:], c[:-1], c[i:], c[:j], c[::2], c[-3:]


def slice_store(c, i, j, k, v, mode):
    if mode == "set":
        c[i:j] = v
        c[:0] = ["head"]
    elif mode == "set-ext":
        c[i:j:k] = v
    elif mode == "del-ext":
        del c[i:j:k]
    else:
        del c[i:j]
    return c


class Recorder:
    """Records the keys it is indexed with (slices included)."""

    def __init__(self):
        self.log = []

    def __getitem__(self, key):
        self.log.append(("get", key))
        if key == "missing":
            raise KeyError(key)
        return ("item", key)

    def __setitem__(self, key, value):
        self.log.append(("set", key, value))

    def __delitem__(self, key):
        self.log.append(("del", key))

    def __repr__(self):
        return "Recorder()"


class DefaultDict(dict):
    def __missing__(self, key):
        return ("missing", key)


SUBSCRIPT_CASES = [
    ([1, 2, 3], 0), ([1, 2, 3], -1), ([1, 2, 3], 3), ([1, 2, 3], -4), ([1, 2, 3], "a"),
    ([1, 2, 3], 1.0), ([1, 2, 3], True), ([1, 2, 3], 2**70), ((1, 2), 1), ("abc", 1),
    ("abc", 5), (b"abc", 0), (bytearray(b"ab"), 1), (range(10), -2), ({"a": 1}, "a"),
    ({"a": 1}, "b"), ({(1, 2): "t"}, (1, 2)), ({1: "i"}, 1.0), ({1: "i"}, [1]),
    (Recorder(), 3), (Recorder(), "missing"), (Recorder(), slice(1, 2)), (5, 0),
    (None, 0), (DefaultDict(a=1), "zz"), (list, int), (dict, (str, int)),
    ({frozenset([1]): 2}, frozenset([1])), ([[1, 2], [3]], 1),
]

SUB_IDS = [f"{type(c).__name__}[{k!r}]"[:40] for c, k in SUBSCRIPT_CASES]


@pytest.mark.parametrize("c,k", SUBSCRIPT_CASES, ids=SUB_IDS)
def test_getitem(c, k):
    compiled_pair(getitem).check(c, k)


@pytest.mark.parametrize("c,k", SUBSCRIPT_CASES, ids=SUB_IDS)
def test_setitem(c, k):
    compiled_pair(setitem).check(c, k, "new")


@pytest.mark.parametrize("c,k", SUBSCRIPT_CASES, ids=SUB_IDS)
def test_delitem(c, k):
    compiled_pair(delitem).check(c, k)


def test_subscript_error_messages():
    assert check(getitem, [1], 5).message == "list index out of range"
    assert check(getitem, [1], "a").message == "list indices must be integers or slices, not str"
    assert check(getitem, 5, 0).message == "'int' object is not subscriptable"
    assert check(setitem, (1,), 0, 2).message == "'tuple' object does not support item assignment"
    out = check(getitem, {"a": 1}, "b")
    assert out.exc_type is KeyError and out.exc.args == ("b",)


INDEX = st.one_of(st.none(), st.integers(-12, 12))
SEQS = st.one_of(st.lists(st.integers(0, 9), max_size=10), st.text("abcdef", max_size=10),
                 st.tuples(st.integers(), st.integers()), st.binary(max_size=8))


@hyp_settings()
@given(c=SEQS, i=INDEX, j=INDEX, k=st.one_of(st.none(), st.integers(-4, 4)))
def test_slices(c, i, j, k):
    compiled_pair(slices).check(c, i, j, k)


@pytest.mark.parametrize("c,i,j,k", [
    (range(10), 1, 8, 3), ("hello", -10, 10, 1), ([1, 2], 0, 1, 0), ([1, 2], "a", None, None),
    (Recorder(), 1, None, -1), (5, 0, 1, 1), ({"a": 1}, 0, 1, 1), ([1, 2, 3], 2**70, None, None),
    ([1, 2, 3], None, -2**70, None),
], ids=repr)
def test_slices_special(c, i, j, k):
    compiled_pair(slices).check(c, i, j, k)


@hyp_settings()
@given(c=st.lists(st.integers(0, 9), max_size=8), i=INDEX, j=INDEX,
       v=st.one_of(st.lists(st.integers(), max_size=4), st.text("xy", max_size=3)))
def test_set_slice(c, i, j, v):
    compiled_pair(slice_store).check(c, i, j, None, v, "set")


@pytest.mark.parametrize("c,i,j,v", [
    ("abc", 0, 1, "x"), ((1, 2), 0, 1, [0]), ([1, 2], 0, 1, 5), (bytearray(b"abc"), 1, 2, b"XYZ"),
    (Recorder(), 1, 2, [9]), ([1, 2, 3], 0, 2, Fresh(lambda: (x for x in "gen"), "gen")),
], ids=repr)
def test_set_slice_special(c, i, j, v):
    compiled_pair(slice_store).check(c, i, j, None, v, "set")


@hyp_settings()
@given(c=st.lists(st.integers(0, 9), max_size=10), i=INDEX, j=INDEX,
       k=st.one_of(st.none(), st.integers(-3, 3)), mode=st.sampled_from(["set-ext", "del-ext", "del"]),
       n=st.integers(0, 5))
def test_slice_store_ext(c, i, j, k, mode, n):
    compiled_pair(slice_store).check(c, i, j, k, list(range(100, 100 + n)), mode)


@pytest.mark.parametrize("c,i,j,k,v,mode", [
    ("abc", 0, 2, 1, "x", "set-ext"), ("abc", 0, 2, 1, None, "del-ext"),
    ([1, 2, 3], None, None, 2, [9], "set-ext"), (Recorder(), 0, 9, 3, "v", "set-ext"),
    (Recorder(), 0, 9, 3, None, "del-ext"), ({1: 2}, 0, 1, 1, None, "del"),
], ids=repr)
def test_slice_store_special(c, i, j, k, v, mode):
    compiled_pair(slice_store).check(c, i, j, k, v, mode)


# --------------------------------------------------------------------------
# displays

def displays(a, b):
    t = (a, b, a)
    lst = [a, b, [a]]
    d = {"a": a, "b": b}
    nested = {"k": [a, {"n": (b,)}]}
    return t, lst, d, nested, (), [], {}, (a,), [[], [[]]]


def hashed_displays(a, b):
    return {a, b}, {a}, {a: b, b: a}, {a: 1, a: 2}, frozenset({a, b})


def star_displays(a, b):
    return [*a, *b], (*a, *b), {*a, *b}, [0, *a, 1], (*a,), {*a}, [*a, 2, *b, 3]


def dict_merge(d1, d2):
    return {**d1, **d2}, {**d1, "k": 0, **d2}, {"k": 0, **d1}, {**d2}


@pytest.mark.parametrize("a,b", [(1, 2), ("x", [1]), (None, math.nan), ([], {}), (1, 1.0),
                                 (True, 1), (0.0, -0.0)], ids=repr)
def test_displays(a, b):
    compiled_pair(displays).check(a, b)


@pytest.mark.parametrize("a,b", [(1, 2), ("x", "y"), (1, 1.0), (True, 1), (0.0, -0.0),
                                 ((1, 2), None), ([1], 2), (1, {}), (math.nan, math.nan),
                                 (frozenset(), ())], ids=repr)
def test_hashed_displays(a, b):
    compiled_pair(hashed_displays).check(a, b)


@pytest.mark.parametrize("a,b", [
    ([1, 2], (3,)), ("ab", [1]), (range(3), {4: 5}), ([], []), ({1, 2}, [2]),
    (Fresh(lambda: (i * i for i in range(3)), "gen"), "z"), (1, [2]), ([1], None),
    ([[1]], [{}]),
], ids=repr)
def test_star_displays(a, b):
    compiled_pair(star_displays).check(a, b)


@pytest.mark.parametrize("d1,d2", [
    ({"a": 1}, {"b": 2}), ({"a": 1}, {"a": 2}), ({}, {}), ({"k": 1}, {"k": 2, "z": 3}),
    ({1: 2}, {(1,): 3}), ({"a": 1}, 5), ([("a", 1)], {}), (Shared(types.MappingProxyType({"m": 1})), {}),
    ({"a": 1}, DefaultDict(q=1)),
], ids=repr)
def test_dict_merge(d1, d2):
    compiled_pair(dict_merge).check(d1, d2)


def test_display_error_messages():
    assert check(star_displays, 1, [2]).message == "Value after * must be an iterable, not int"
    assert check(dict_merge, {"a": 1}, 5).message == "'int' object is not a mapping"
    assert check(hashed_displays, [1], 2).message == "unhashable type: 'list'"


# --------------------------------------------------------------------------
# unpacking

def unpack2(x):
    a, b = x
    return b, a


def unpack_star(x):
    a, *b, c = x
    return a, b, c


def unpack_nested(x):
    (a, b), c = x
    [d, *e] = c
    *f, = e
    return a, b, d, e, f


def swaps(a, b, c):
    a, b = b, a
    a, b, c = c, a, b
    [a, b], c = [c, a], b
    return a, b, c


UNPACK_INPUTS = [
    (1, 2), [1, 2], "ab", b"ab", {"k": 1, "j": 2}, range(2), (1,), (1, 2, 3), [], "abcd",
    Fresh(lambda: iter([1, 2]), "iter2"), Fresh(lambda: (i for i in range(5)), "gen5"),
    5, None, {1: 2}, ((1, 2), (3, 4)), [(1, 2), "xyz"], ([1, 2], []), ("ab", "c"),
]


@pytest.mark.parametrize("x", UNPACK_INPUTS, ids=repr)
def test_unpack2(x):
    compiled_pair(unpack2).check(x)


@pytest.mark.parametrize("x", UNPACK_INPUTS, ids=repr)
def test_unpack_star(x):
    compiled_pair(unpack_star).check(x)


@pytest.mark.parametrize("x", UNPACK_INPUTS, ids=repr)
def test_unpack_nested(x):
    compiled_pair(unpack_nested).check(x)


def test_unpack_error_messages():
    assert check(unpack2, (1, 2, 3)).message == "too many values to unpack (expected 2)"
    assert check(unpack2, (1,)).message == "not enough values to unpack (expected 2, got 1)"
    assert check(unpack_star, (1,)).message == (
        "not enough values to unpack (expected at least 2, got 1)")
    assert check(unpack2, 5).message == "cannot unpack non-iterable int object"


@hyp_settings()
@given(a=st.integers(), b=st.text(max_size=3), c=st.one_of(st.none(), st.floats()))
def test_swaps(a, b, c):
    compiled_pair(swaps).check(a, b, c)


# --------------------------------------------------------------------------
# f-strings

def fstr_conv(x):
    return [f"{x}", f"{x!r}", f"{x!s}", f"{x!a}", f"{x!r:>10}", f"[{x!s:^9}]",
            f"a{x}b{x!r}c", f"{{x}}", f"{x=}", f"{x = !s}", f"{'nested ' + f'{x!r}'}"]


def fstr_spec(x, w, p):
    return [f"{x:.3f}", f"{x:{w}.{p}f}", f"{x:>{w}}", f"{x:+,.2f}", f"{x:e}", f"{x:.{p}%}",
            f"{x:0{w}.1f}", f"{x:_^{w}}", f"{x!r:>{w}}"]


def fstr_format(x, spec):
    return f"{x:{spec}}", format(x, spec), "{:{}}".format(x, spec)


class Fancy:
    def __format__(self, spec):
        return f"<Fancy {spec!r}>"

    def __repr__(self):
        return "Fancy(\u00e9)"

    def __str__(self):
        return "fancy-str"


class BadFormat:
    def __format__(self, spec):
        return 42

    def __repr__(self):
        return "BadFormat()"


@pytest.mark.parametrize("x", [1, -2.5, "text", "é", b"b", None, [1, "a"], {"k": (1,)},
                               Fancy(), math.nan, 2**100, 1 + 2j, True, BadFormat()],
                         ids=repr)
def test_fstr_conversions(x):
    compiled_pair(fstr_conv).check(x)


@hyp_settings()
@given(x=st.one_of(st.floats(), st.integers(-10**12, 10**12), st.booleans()),
       w=st.integers(0, 14), p=st.integers(0, 6))
def test_fstr_spec_numbers(x, w, p):
    compiled_pair(fstr_spec).check(x, w, p)


@pytest.mark.parametrize("x,w,p", [("s", 5, 2), (decimal.Decimal("1.25"), 8, 1),
                                   (fractions.Fraction(1, 3), 6, 2), (1.5, "x", 1),
                                   (1.5, 3, -1), (None, 2, 2)], ids=repr)
def test_fstr_spec_other(x, w, p):
    compiled_pair(fstr_spec).check(x, w, p)


@pytest.mark.parametrize("x,spec", [
    (1234.5678, ",.2f"), (255, "#x"), (255, "08b"), ("abc", "*<6"), (3, "+"), (0.5, ".0%"),
    (datetime.date(2024, 2, 29), "%Y/%m/%d"), (Fancy(), "any"), (12, "q"), ("s", "d"),
    ([1], ">5"), ([1], ""), (BadFormat(), "x"), (1e100, "g"), (-0.0, "+.1f"), (True, "d"),
], ids=repr)
def test_fstr_format(x, spec):
    compiled_pair(fstr_format).check(x, spec)


# --------------------------------------------------------------------------
# lambdas and comprehensions (their code objects stay interpreted)

def comprehensions(xs):
    sq = [x * x for x in xs]
    ev = [x for x in xs if x % 2 == 0]
    mods = {x % 3 for x in xs}
    named = {x: str(x) for x in xs}
    nested = [[x * y for y in xs[:3]] for x in xs[:3]]
    flat = [x + y for x in xs for y in (1, 2) if x != y]
    inv = [1 // x for x in xs if x > 5]
    return sq, ev, mods, named, nested, flat, inv


def comp_scope(xs, k):
    shifted = [x + k for x in xs]
    keyed = {k: x for x in xs}
    closures = [lambda: x for x in xs]
    bound = [lambda x=x: x + k for x in xs]
    return shifted, keyed, [f() for f in closures], [f() for f in bound]


def genexprs(xs):
    return (sum(x * x for x in xs), any(x > 3 for x in xs), all(x for x in xs),
            list(x for x in xs if x), max((x for x in xs), default=None),
            tuple(str(x) for x in xs), sorted(xs, key=lambda v: (-v % 3, v)))


def lambdas(x):
    inc = lambda y: y + x  # noqa: E731
    full = lambda a, b=10, *rest, k=1, **kw: (a, b, rest, k, kw)  # noqa: E731
    curry = lambda a: lambda b: (a, b, x)  # noqa: E731
    return (inc(1), full(1), full(1, 2, 3, k=4, z=5), curry(1)(2), (lambda: x)(),
            list(map(lambda v: v * x, [1, 2])), inc.__name__, full.__defaults__,
            full.__kwdefaults__)


@hyp_settings()
@given(xs=st.lists(st.integers(-10, 10), max_size=8))
def test_comprehensions(xs):
    compiled_pair(comprehensions).check(xs)


@pytest.mark.parametrize("xs", [[0, 6], [6, 0], [1.5, 7], ["a"], None, [2**80, 9]], ids=repr)
def test_comprehensions_errors(xs):
    compiled_pair(comprehensions).check(xs)


@hyp_settings()
@given(xs=st.lists(st.integers(-5, 5), max_size=6), k=st.integers(-3, 3))
def test_comp_scope(xs, k):
    compiled_pair(comp_scope).check(xs, k)


@hyp_settings()
@given(xs=st.lists(st.integers(-5, 5), max_size=6))
def test_genexprs(xs):
    compiled_pair(genexprs).check(xs)


@pytest.mark.parametrize("xs", [["a", 1], [None], 5, Fresh(lambda: iter([3, 1, 2]), "iter")],
                         ids=repr)
def test_genexprs_errors(xs):
    compiled_pair(genexprs).check(xs)


@pytest.mark.parametrize("x", [0, 2, -1.5, "s", [1], None], ids=repr)
def test_lambdas(x):
    compiled_pair(lambdas).check(x)
