"""Differential tests: operators, comparisons, boolean logic, conditionals.

Every function under test is compiled once (difftest caches per function)
and then checked with many inputs, parametrized and via hypothesis.
"""

import math

import pytest
from hypothesis import given, strategies as st

from difftest import Fresh, check, compiled_pair, hyp_settings


# --------------------------------------------------------------------------
# functions under test

def binop(op, a, b):
    if op == "+":
        return a + b
    elif op == "-":
        return a - b
    elif op == "*":
        return a * b
    elif op == "/":
        return a / b
    elif op == "//":
        return a // b
    elif op == "%":
        return a % b
    elif op == "**":
        return a ** b
    elif op == "@":
        return a @ b
    elif op == "&":
        return a & b
    elif op == "|":
        return a | b
    elif op == "^":
        return a ^ b
    elif op == "<<":
        return a << b
    elif op == ">>":
        return a >> b
    raise ValueError("unknown operator " + op)


def inplace(op, a, b):
    x = a
    if op == "+":
        x += b
    elif op == "-":
        x -= b
    elif op == "*":
        x *= b
    elif op == "/":
        x /= b
    elif op == "//":
        x //= b
    elif op == "%":
        x %= b
    elif op == "**":
        x **= b
    elif op == "@":
        x @= b
    elif op == "&":
        x &= b
    elif op == "|":
        x |= b
    elif op == "^":
        x ^= b
    elif op == "<<":
        x <<= b
    elif op == ">>":
        x >>= b
    else:
        raise ValueError("unknown operator " + op)
    return x


def inplace_alias(a, b):
    x = a
    x += b
    y = x
    y *= 2
    return x, y, x is a, y is x


def unary(op, a):
    if op == "-":
        return -a
    if op == "+":
        return +a
    if op == "~":
        return ~a
    if op == "not":
        return not a
    return None


def compare(op, a, b):
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    if op == "is":
        return a is b
    if op == "is not":
        return a is not b
    if op == "in":
        return a in b
    if op == "not in":
        return a not in b
    return None


def chained(a, b, c):
    return (a < b < c, a <= b >= c, a == b != c, a < b > c < a,
            0 <= a < 10, a is b is not c, a != b == c)


def _t(value, log):
    log.append(value)
    return value


def short_circuit(a, b, c, log):
    r = []
    r.append(_t(a, log) and _t(b, log))
    r.append(_t(a, log) or _t(b, log))
    r.append(_t(a, log) and _t(b, log) or _t(c, log))
    r.append(_t(a, log) or _t(b, log) and _t(c, log))
    r.append(not _t(a, log))
    r.append(_t(a, log) < _t(b, log) < _t(c, log))
    return r


def cond_jumps(a, b, c):
    out = []
    if a and b:
        out.append(1)
    if a or b:
        out.append(2)
    if not a:
        out.append(3)
    if a and not b or c:
        out.append(4)
    if (a or b) and c:
        out.append(5)
    if a is None or b is not None:
        out.append(6)
    while a and b:
        out.append(7)
        break
    x = a or b or c
    y = a and b and c
    return out, x, y


def ternary(a, b, c):
    x = b if a else c
    y = (b if b else c) if a else (c if c else b)
    z = "yes" if a and b else "no" if c else "never"
    return x, y, z


# --------------------------------------------------------------------------
# user classes with operator overloading

class V:
    """Small vector-ish value; reflected operations are tagged."""

    def __init__(self, x):
        self.x = x

    def __add__(self, other):
        if isinstance(other, V):
            return V(self.x + other.x)
        if isinstance(other, int):
            return V(self.x + other)
        return NotImplemented

    def __radd__(self, other):
        if isinstance(other, int):
            return ("radd", other, self.x)
        return NotImplemented

    def __iadd__(self, other):
        self.x += other.x if isinstance(other, V) else other
        return self

    def __mul__(self, other):
        if isinstance(other, int):
            return V(self.x * other)
        return NotImplemented

    def __matmul__(self, other):
        return ("matmul", self.x, getattr(other, "x", other))

    def __neg__(self):
        return V(-self.x)

    def __invert__(self):
        return ("invert", self.x)

    def __eq__(self, other):
        return isinstance(other, V) and self.x == other.x

    def __hash__(self):
        return hash(self.x)

    def __lt__(self, other):
        if isinstance(other, V):
            return self.x < other.x
        return NotImplemented

    def __bool__(self):
        return self.x != 0

    def __contains__(self, item):
        return item == self.x

    def __repr__(self):
        return f"V({self.x!r})"


class NoEq:
    """Identity equality only."""

    def __repr__(self):
        return "NoEq()"


class BadBool:
    def __repr__(self):
        return "BadBool()"

    def __bool__(self):
        return 1  # TypeError: __bool__ should return bool, returned int


class RaisingBool:
    def __repr__(self):
        return "RaisingBool()"

    def __bool__(self):
        raise RuntimeError("no truth")


class LenOnly:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __repr__(self):
        return f"LenOnly({self.n})"


class Reverser:
    """Only defines reflected operators."""

    def __repr__(self):
        return "Reverser()"

    def __rsub__(self, other):
        return ("rsub", other)

    def __rlshift__(self, other):
        return ("rlshift", other)

    def __gt__(self, other):
        return ("gt", other)


# --------------------------------------------------------------------------
# strategies

SMALL_INTS = st.integers(-20, 20)
INTS = st.one_of(SMALL_INTS, st.integers(), st.integers(-2**300, 2**300),
                 st.sampled_from([2**63 - 1, 2**63, -2**63, 2**64, 2**30, -2**31]))
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, 1e308, 5e-324]))
NUMS = st.one_of(INTS, FLOATS, st.booleans())

ARITH = ["+", "-", "*", "/", "//", "%"]
BITWISE = ["&", "|", "^"]
ALL_OPS = ARITH + ["**", "@"] + BITWISE + ["<<", ">>"]
CMP6 = ["<", "<=", "==", "!=", ">", ">="]


# --------------------------------------------------------------------------
# arithmetic

@hyp_settings()
@given(op=st.sampled_from(ARITH), a=NUMS, b=NUMS)
def test_arith_numbers(op, a, b):
    compiled_pair(binop).check(op, a, b)


@hyp_settings()
@given(op=st.sampled_from(ARITH), a=SMALL_INTS, b=SMALL_INTS)
def test_arith_small_ints(op, a, b):
    compiled_pair(binop).check(op, a, b)


@hyp_settings()
@given(a=NUMS, b=st.one_of(st.integers(-8, 64), FLOATS, st.sampled_from([0.5, -0.5, 1 / 3])))
def test_power(a, b):
    compiled_pair(binop).check("**", a, b)


@hyp_settings()
@given(op=st.sampled_from(BITWISE), a=st.one_of(INTS, st.booleans()),
       b=st.one_of(INTS, st.booleans()))
def test_bitwise_ints(op, a, b):
    compiled_pair(binop).check(op, a, b)


@hyp_settings()
@given(op=st.sampled_from(["<<", ">>"]), a=st.one_of(INTS, st.booleans()),
       b=st.integers(-3, 200))
def test_shifts(op, a, b):
    compiled_pair(binop).check(op, a, b)


@hyp_settings()
@given(op=st.sampled_from(ALL_OPS), a=NUMS, b=NUMS)
def test_inplace_numbers(op, a, b):
    if op in ("**", "<<", ">>") and isinstance(b, int) and not -3 <= b <= 64:
        b = b % 64
    compiled_pair(inplace).check(op, a, b)


OPERAND_CASES = [
    ("+", "ab", "cd"), ("+", b"ab", b"cd"), ("+", [1], [2, 3]), ("+", (1,), (2,)),
    ("+", bytearray(b"x"), b"y"), ("*", "ab", 3), ("*", 3, [0]), ("*", (1, 2), -1),
    ("*", [[1]], 2), ("*", True, "z"), ("%", "%s-%d", ("x", 3)), ("%", b"%d", 5),
    ("%", "%(a)s", {"a": 1}), ("|", {1}, {2}), ("&", {1, 2}, {2, 3}), ("^", {1}, {1, 2}),
    ("-", {1, 2}, {1}), ("|", {"a": 1}, {"b": 2}), ("|", frozenset({1}), {2}),
    ("+", True, True), ("-", True, 2.5), ("**", -8, 1 / 3), ("+", 1j, 2),
    ("*", 2j, 1.5), ("/", 1j, 2), ("**", 2, 0.5), ("//", -7, 2), ("%", -7, 2),
    ("%", 7, -2), ("//", -7.5, 2), ("%", -7.5, 2), ("%", 5.0, -0.0001),
    ("/", 10**30, 3), ("//", 10**30, -7), ("*", 2**64, 2**64), ("-", -2**63, 1),
    ("+", 2**62, 2**62), ("*", -(2**63), -1), ("//", -(2**63), -1), ("%", 10**40, 7),
    ("+", math.inf, -math.inf), ("*", math.inf, 0), ("-", math.nan, math.nan),
    # errors: ZeroDivisionError
    ("/", 1, 0), ("//", 1, 0), ("%", 1, 0), ("/", 1.0, 0.0), ("//", 1.0, 0),
    ("%", 1.5, 0.0), ("**", 0, -1), ("**", 0.0, -1), ("/", 1j, 0), ("//", 10**40, 0),
    # errors: OverflowError
    ("**", 2.0, 10000), ("/", 10**400, 1), ("+", 10**400, 1.0), ("*", 1e308, 10),
    ("*", "ab", 2**70), ("<<", 1, 2**70),
    # errors: ValueError
    ("<<", 1, -1), (">>", 1, -1),
    # errors: TypeError with exact messages
    ("+", "a", 1), ("+", 1, "a"), ("-", "a", "b"), ("+", [1], (2,)), ("*", "ab", 2.0),
    ("@", 1, 2), ("&", 1.0, 1), ("<<", 1, 1.0), ("/", "a", 2), ("**", "a", 2),
    ("+", None, None), ("%", [], 1), ("-", {1}, [1]), ("|", {"a": 1}, [("b", 2)]),
    # user classes
    ("+", "V1", "V2"), ("+", "V1", 5), ("+", 5, "V2"), ("+", "V1", "s"), ("+", "s", "V1"),
    ("+", 1.5, "V1"), ("*", "V1", 3), ("*", 3, "V1"), ("@", "V1", "V2"), ("@", 4, "V1"),
    ("-", 5, "R"), ("<<", 1, "R"), ("+", "R", 1), ("-", "R", "R"),
]


def _resolve(v):
    """Test tables name a few objects by string (so ids stay readable)."""
    if isinstance(v, str):
        return {"V0": V(0), "V1": V(1), "V2": V(2), "R": Reverser()}.get(v, v)
    return v


@pytest.mark.parametrize("op,a,b", OPERAND_CASES, ids=[f"{o}:{a!r}:{b!r}"[:50] for o, a, b in OPERAND_CASES])
def test_binop_operands(op, a, b):
    compiled_pair(binop).check(op, _resolve(a), _resolve(b))


@pytest.mark.parametrize("op,a,b", OPERAND_CASES, ids=[f"{o}:{a!r}:{b!r}"[:50] for o, a, b in OPERAND_CASES])
def test_inplace_operands(op, a, b):
    compiled_pair(inplace).check(op, _resolve(a), _resolve(b))


def test_type_error_messages_are_exact():
    out = check(binop, "+", 1, "a")
    assert out.message == "unsupported operand type(s) for +: 'int' and 'str'"
    out = check(binop, "+", "a", 1)
    assert out.message == 'can only concatenate str (not "int") to str'
    out = check(binop, "@", 1, 2)
    assert out.message == "unsupported operand type(s) for @: 'int' and 'int'"
    out = check(inplace, "-", [1], 1)
    assert out.message == "unsupported operand type(s) for -=: 'list' and 'int'"
    out = check(binop, "/", 1, 0)
    assert out.exc_type is ZeroDivisionError and out.message == "division by zero"
    out = check(binop, "**", 2.0, 10000)
    assert out.exc_type is OverflowError


@pytest.mark.parametrize("a,b", [
    ([1], [2]), ((1,), (2,)), ("ab", "c"), (b"x", b"y"), (bytearray(b"x"), b"y"),
    ({1}, {2}), ({"a": 1}, {"b": 2}), (1, 2), (2**70, 1), (1.5, 2), ("V1", "V2"),
    ("V1", 3), ([1], (2, 3)), ([1], "ab"), ((1,), [2]), (frozenset({1}), {2}),
])
def test_inplace_aliasing(a, b):
    compiled_pair(inplace_alias).check(_resolve(a), _resolve(b))


# --------------------------------------------------------------------------
# unary

@hyp_settings()
@given(op=st.sampled_from(["-", "+", "~", "not"]), a=NUMS)
def test_unary_numbers(op, a):
    compiled_pair(unary).check(op, a)


@pytest.mark.parametrize("op", ["-", "+", "~", "not"])
@pytest.mark.parametrize("a", [
    "s", "", [], [0], (), None, {}, 0j, 1 + 2j, "V0", "V1", NoEq(), LenOnly(0), LenOnly(3),
    BadBool(), RaisingBool(), 2**100, -2**100, True, False,
], ids=repr)
def test_unary_operands(op, a):
    compiled_pair(unary).check(op, _resolve(a))


def test_unary_v0():
    compiled_pair(unary).check("not", V(0))
    compiled_pair(unary).check("-", V(0))
    compiled_pair(unary).check("~", V(3))


def test_unary_messages():
    assert check(unary, "-", "s").message == "bad operand type for unary -: 'str'"
    assert check(unary, "~", 1.5).message == "bad operand type for unary ~: 'float'"
    assert check(unary, "not", BadBool()).message == "__bool__ should return bool, returned int"


# --------------------------------------------------------------------------
# comparisons, identity, membership

@hyp_settings()
@given(op=st.sampled_from(CMP6), a=NUMS, b=NUMS)
def test_compare_numbers(op, a, b):
    compiled_pair(compare).check(op, a, b)


@hyp_settings()
@given(op=st.sampled_from(CMP6), a=st.one_of(st.text(max_size=4), st.binary(max_size=3)),
       b=st.one_of(st.text(max_size=4), st.binary(max_size=3)))
def test_compare_strings(op, a, b):
    compiled_pair(compare).check(op, a, b)


@hyp_settings()
@given(a=NUMS, b=NUMS, c=NUMS)
def test_chained_numbers(a, b, c):
    compiled_pair(chained).check(a, b, c)


COMPARE_CASES = [
    ([1, 2], [1, 3]), ((1, 2), (1,)), ([1, [2]], [1, [2]]), ((math.nan,), (math.nan,)),
    ("V1", "V2"), ("V2", "V1"), ("V1", "V1"), ("V1", 1), (1, "V1"), (None, 1), (1, None),
    ("a", 1), ([1], (1,)), ({1, 2}, {1}), ({1}, {1, 2}), ({"a": 1}, {"a": 1}),
    ({"a": 1}, {"a": 2}), (1, 1.0), (1, True), (0.1 + 0.2, 0.3), (2**53 + 1, float(2**53)),
    (10**400, math.inf), (-10**400, -math.inf), (1j, 1j), (1j, 2j), ("R", 3), (3, "R"),
    (NoEq(), NoEq()), (None, None), (b"a", "a"), (range(3), range(0, 3)),
]


@pytest.mark.parametrize("op", CMP6 + ["is", "is not"])
@pytest.mark.parametrize("a,b", COMPARE_CASES, ids=[f"{a!r}-{b!r}"[:40] for a, b in COMPARE_CASES])
def test_compare_operands(op, a, b):
    compiled_pair(compare).check(op, _resolve(a), _resolve(b))


def test_identity_of_same_object():
    x = [1]
    assert check(compare, "is", x, x).value is True  # deep copy keeps the aliasing
    assert check(compare, "is not", x, [1]).value is True
    assert check(compare, "is", None, None).value is True


MEMBERSHIP = [
    (1, [1, 2]), (3, [1, 2]), ("a", "cat"), ("", "x"), ("k", {"k": 1}), (1, {"k": 1}),
    (1, {1, 2}), (2, (1, 2)), (b"b", b"abc"), (2, range(5)), (7, range(0, 10, 3)),
    (1, "V1"), (2, "V1"), (math.nan, [math.nan]), ([1], [[1]]), (1, 5), ("a", None),
    (1, "abc"), ([1], {1: 2}), (1, Fresh(lambda: iter([0, 1]), "iter([0, 1])")),
    (2, Fresh(lambda: (i for i in range(5)), "genexpr")), (2, LenOnly(3)),
]


@pytest.mark.parametrize("op", ["in", "not in"])
@pytest.mark.parametrize("a,b", MEMBERSHIP, ids=[f"{a!r}-{b!r}"[:40] for a, b in MEMBERSHIP])
def test_membership(op, a, b):
    compiled_pair(compare).check(op, a, _resolve(b))


def test_membership_messages():
    assert check(compare, "in", 1, 5).message == "argument of type 'int' is not iterable"
    assert check(compare, "<", None, 1).message == (
        "'<' not supported between instances of 'NoneType' and 'int'")


@pytest.mark.parametrize("a,b,c", [
    (1, 2, 3), (3, 2, 1), (1, 1, 1), ("a", "b", "c"), ([1], [2], [3]), ("V1", "V2", "V1"),
    (None, 1, 2), (1, None, 2), (math.nan, 1, 2), (1, "x", 2), ((1,), (1,), (1,)),
])
def test_chained_operands(a, b, c):
    compiled_pair(chained).check(_resolve(a), _resolve(b), _resolve(c))


# --------------------------------------------------------------------------
# and / or / not with side effects, conditional expressions

TRUTHY = [0, 1, -1, 0.0, math.nan, "", "x", [], [0], None, True, False, (), {}, {0: 0},
          "V0", "V1", LenOnly(0), LenOnly(2)]


@pytest.mark.parametrize("a", [0, 1, "", "x", [], None, "V0", "V1", LenOnly(0)], ids=repr)
@pytest.mark.parametrize("b", [0, 2, "y", None, "V1"], ids=repr)
def test_short_circuit(a, b):
    compiled_pair(short_circuit).check(_resolve(a), _resolve(b), 3, [])


@pytest.mark.parametrize("a,b", [(BadBool(), 1), (1, BadBool()), (RaisingBool(), 0),
                                 (0, RaisingBool()), (1, 2), (NoEq(), NoEq())],
                         ids=repr)
def test_short_circuit_errors(a, b):
    compiled_pair(short_circuit).check(a, b, 0, [])


@hyp_settings()
@given(a=st.sampled_from(TRUTHY), b=st.sampled_from(TRUTHY), c=st.sampled_from(TRUTHY))
def test_cond_jumps(a, b, c):
    compiled_pair(cond_jumps).check(_resolve(a), _resolve(b), _resolve(c))


@pytest.mark.parametrize("args", [(BadBool(), 1, 1), (1, RaisingBool(), 1), (0, 0, BadBool())],
                         ids=repr)
def test_cond_jumps_errors(args):
    compiled_pair(cond_jumps).check(*args)


@hyp_settings()
@given(a=st.sampled_from(TRUTHY), b=st.sampled_from(TRUTHY), c=st.sampled_from(TRUTHY))
def test_ternary(a, b, c):
    compiled_pair(ternary).check(_resolve(a), _resolve(b), _resolve(c))
