"""Differential tests: calls made *from* compiled code (positional, keyword,
defaults, *args/**kwargs, methods, builtins, C methods, callables), calls
*into* compiled functions with every parameter kind, and recursion."""

import functools

import pytest
from hypothesis import given, strategies as st

from difftest import check, compiled_pair, hyp_settings


# --------------------------------------------------------------------------
# calling into compiled functions: every parameter kind

def sig_full(a, b=2, /, c=3, *args, d, e=5, **kw):
    return a, b, c, args, d, e, kw


def sig_simple(a, b, c=10):
    return a, b, c


def sig_kwonly(*, x, y=2):
    return x, y


def sig_varargs(*args, **kwargs):
    return args, kwargs


SIG_FULL_CALLS = [
    ((1,), {"d": 4}), ((1, 2), {"d": 4}), ((1, 2, 3, 4, 5), {"d": 6, "e": 7, "f": 8}),
    ((1,), {"c": 30, "d": 4, "zz": 0}), ((), {"d": 1}), ((1,), {}), ((1,), {"a": 5, "d": 1}),
    ((1, 2), {"b": 5, "d": 1}), ((1, 2, 3), {"c": 9, "d": 1}),
]


@pytest.mark.parametrize("args,kwargs", SIG_FULL_CALLS, ids=repr)
def test_sig_full(args, kwargs):
    compiled_pair(sig_full).check(*args, **kwargs)


@pytest.mark.parametrize("args,kwargs", [
    ((1, 2), {}), ((1, 2, 3), {}), ((1,), {"b": 2}), ((), {"a": 1, "b": 2, "c": 3}),
    ((1, 2, 3, 4), {}), ((1,), {}), ((1, 2), {"z": 1}), ((1, 2), {"a": 1}), ((), {}),
], ids=repr)
def test_sig_simple(args, kwargs):
    compiled_pair(sig_simple).check(*args, **kwargs)


@pytest.mark.parametrize("args,kwargs", [
    ((), {"x": 1}), ((), {"x": 1, "y": 3}), ((1,), {"x": 1}), ((), {}), ((), {"x": 1, "q": 2}),
], ids=repr)
def test_sig_kwonly(args, kwargs):
    compiled_pair(sig_kwonly).check(*args, **kwargs)


@pytest.mark.parametrize("args,kwargs", [
    ((), {}), ((1, 2), {}), ((), {"k": 1}), ((1,), {"args": 2, "kwargs": 3}),
], ids=repr)
def test_sig_varargs(args, kwargs):
    compiled_pair(sig_varargs).check(*args, **kwargs)


def test_signature_error_messages():
    assert check(sig_simple, 1).message == "sig_simple() missing 1 required positional argument: 'b'"
    assert check(sig_simple, 1, 2, 3, 4).message == (
        "sig_simple() takes from 2 to 3 positional arguments but 4 were given")
    assert check(sig_simple, 1, 2, z=1).message == (
        "sig_simple() got an unexpected keyword argument 'z'")
    assert check(sig_full, 1).message == "sig_full() missing 1 required keyword-only argument: 'd'"
    assert check(sig_kwonly, 1, x=1).message == (
        "sig_kwonly() takes 0 positional arguments but 1 positional argument "
        "(and 1 keyword-only argument) were given")


def test_defaults_are_read_at_call_time():
    pair = compiled_pair(sig_simple)
    saved = sig_simple.__defaults__
    try:
        sig_simple.__defaults__ = (99,)
        pair.compiled.__defaults__ = (99,)
        assert pair.check(1, 2).value == (1, 2, 99)
    finally:
        sig_simple.__defaults__ = pair.compiled.__defaults__ = saved


# --------------------------------------------------------------------------
# calls made from compiled code

def _target(a, b=2, *args, c=3, d, **kw):
    return a, b, args, c, d, kw


def call_forms(f):
    return [
        f(1, d=4),
        f(1, 2, d=4),
        f(1, 2, 3, 4, d=5, e=6),
        f(a=1, d=4),
        f(1, c=9, d=4, z=0),
        f(*[1, 2], d=0),
        f(**{"a": 1, "d": 2}),
    ]


def call_star(f, a, k):
    return f(*a, **k)


def call_star_mixed(f, a, k):
    return f(0, *a, d=1, **k), f(*a, *a, **k), f(*a, 5, **k, e=2)


def test_call_forms():
    check(call_forms, _target)


@pytest.mark.parametrize("f", [_target, functools.partial(_target, 0), sig_varargs],
                         ids=["_target", "partial", "sig_varargs"])
def test_call_forms_callees(f):
    compiled_pair(call_forms).check(f)


STAR_CASES = [
    (_target, (1,), {"d": 2}), (_target, (), {"a": 1, "d": 2}), (_target, (1, 2, 3), {"d": 0, "x": 1}),
    (_target, (), {}), (_target, (1,), {"a": 1, "d": 2}), (sig_varargs, range(3), {"k": 1}),
    (sorted, ([3, 1, 2],), {"reverse": True}), (max, ([1, 5, 2],), {"key": lambda v: -v}),
    (int, ("ff",), {"base": 16}), (int, ("x",), {}), (dict, (), {"a": 1}),
    (dict, ([("a", 1)],), {"b": 2}), (print, ("x", "y"), {"sep": "-", "end": "!\n"}),
    (len, (5,), {}), (5, (), {}), (None, (1,), {}), (str.join, (",", ["a", "b"]), {}),
    ("abc".count, ("b",), {}), (list.append, ([], 1), {}), (isinstance, (1, int), {}),
    (_target, "ab", {"d": 1}), (_target, (1,), "not a mapping"), (_target, 5, {"d": 1}),
    (sig_kwonly, (), {"x": 1, 2: 3}), (type, ("Dyn", (), {"v": 1}), {}),
]


@pytest.mark.parametrize("f,a,k", STAR_CASES, ids=lambda v: getattr(v, "__name__", repr(v))[:30])
def test_call_star(f, a, k):
    compiled_pair(call_star).check(f, a, k)


@pytest.mark.parametrize("a,k", [
    ((), {}), ((1,), {}), ((), {"e": 9}), ((), {"d": 9}), ((), {"a": 1}), ((1, 2), {"z": 1}),
], ids=repr)
def test_call_star_mixed(a, k):
    compiled_pair(call_star_mixed).check(_target, a, k)


def test_call_error_messages():
    assert check(call_star, 5, (), {}).message == "'int' object is not callable"
    assert check(call_star, _target, (1,), {"a": 1, "d": 2}).message == (
        "_target() got multiple values for argument 'a'")
    out = check(call_star, _target, (1,), "not a mapping")
    assert out.message == "test_constructs_calls._target() argument after ** must be a mapping, not str"
    out = check(call_star, _target, 5, {"d": 1})
    assert out.message == "test_constructs_calls._target() argument after * must be an iterable, not int"
    out = check(call_star_mixed, _target, (), {"d": 9})
    assert out.message == "test_constructs_calls._target() got multiple values for keyword argument 'd'"


# --------------------------------------------------------------------------
# methods, classmethods, staticmethods, callable objects

class Obj:
    cls_attr = 10

    def __init__(self, v):
        self.v = v

    def meth(self, x, y=1):
        return self.v + x + y

    @classmethod
    def cm(cls, x):
        return cls.__name__, x

    @staticmethod
    def sm(x, y=2):
        return x * y

    def __call__(self, *a, **k):
        return "called", self.v, a, k

    def __repr__(self):
        return f"{type(self).__name__}({self.v!r})"


class Sub(Obj):
    def meth(self, x, y=1):
        return "sub", super().meth(x, y)


def method_calls(o):
    m = o.meth
    return [o.meth(1), o.meth(1, y=5), o.meth(x=2), m(3), type(o).meth(o, 4), o.cm(5),
            type(o).cm(6), o.sm(2, 3), Obj.sm(4, y=5), o(1, k=2), getattr(o, "meth")(7),
            m.__self__ is o, m.__func__.__name__]


@pytest.mark.parametrize("o", [Obj(1), Sub(2), Obj("s")], ids=repr)
def test_method_calls(o):
    compiled_pair(method_calls).check(o)


def method_errors(o, kind):
    if kind == 0:
        return o.meth()
    if kind == 1:
        return o.meth(1, 2, 3)
    if kind == 2:
        return o.missing()
    if kind == 3:
        return o.cls_attr()
    return Obj.meth(1)


@pytest.mark.parametrize("kind", range(5))
def test_method_errors(kind):
    compiled_pair(method_errors).check(Obj(1), kind)


def test_method_error_message():
    assert check(method_errors, Obj(1), 0).message == (
        "Obj.meth() missing 1 required positional argument: 'x'")


def c_methods(s, xs, d):
    r = [s.upper(), s.split(","), ",".join(xs), s.replace("a", "b", 1), s.startswith(("a", "b")),
         "{}-{}".format(s, len(xs)), str.lower(s), s.encode("utf-8"), s.find("a")]
    xs.append("z")
    xs.extend(["y", "xx"])
    xs.sort(key=len, reverse=True)
    r.append(xs.pop())
    app = xs.append
    app("bound")
    r.append(d.get("k", 0))
    d.setdefault("n", []).append(1)
    r.append(sorted(d.items()))
    r.append(dict.fromkeys(xs, 0))
    r.append(int.from_bytes(b"\x01\x00", "little"))
    r.append(list.__len__(xs))
    r.append((1.5).as_integer_ratio())
    r.append((255).to_bytes(2, byteorder="big"))
    return r


@pytest.mark.parametrize("s,xs,d", [
    ("a,b,c", ["p", "qq"], {"k": 1}), ("", [], {}), ("bab", ["a"], {"n": [0]}),
    (5, [], {}), ("s", [1], {}), ("s", ["a"], {"n": 5}),
], ids=repr)
def test_c_methods(s, xs, d):
    compiled_pair(c_methods).check(s, xs, d)


class LoggedList(list):
    def append(self, v):
        super().append(("logged", v))


class Appender:
    """Not a list; its append returns something."""
    def __init__(self):
        self.items = []

    def append(self, v):
        self.items.append(v)
        return len(self.items)


def appends(target, values):
    # `target.append(v)`: on an exact list compiled code appends directly
    # (restrain_abi.h, rs_append_descr); on anything else, the generic call
    results = []
    for v in values:
        results.append(target.append(v))
    return results, target


def append_errors(target, kind):
    if kind == 0:
        return target.append()
    if kind == 1:
        return target.append(1, 2)
    return target.append(x=1)


@given(st.sampled_from(["list", "logged", "appender", "deque", "bytearray", "namespace"]),
       st.lists(st.one_of(st.integers(-300, 300), st.text(max_size=2), st.none()), max_size=6))
@hyp_settings()
def test_list_append(kind, values):
    import collections
    import types as pytypes
    make = {"list": list, "logged": LoggedList, "appender": Appender, "deque": collections.deque,
            "bytearray": bytearray, "namespace": lambda: pytypes.SimpleNamespace(append=len)}[kind]
    compiled_pair(appends).check(make(), values)


@pytest.mark.parametrize("kind", [0, 1, 2])
@pytest.mark.parametrize("target", [list, LoggedList], ids=["list", "subclass"])
def test_list_append_errors(target, kind):
    compiled_pair(append_errors).check(target(), kind)


def builtin_calls(xs):
    print("values:", *xs, sep=" | ", end=".\n")
    return (sorted(xs, key=lambda v: -v, reverse=True), max(xs, key=abs, default=None),
            int("ff", 16), round(len(xs) / 3, 2), list(map(abs, xs)), dict(zip("abc", xs)),
            sum(xs, start=100), "".join(map(str, xs)), divmod(len(xs) + 7, 3),
            isinstance(xs, (list, tuple)), issubclass(bool, int), min(xs, default="empty"))


@hyp_settings()
@given(xs=st.lists(st.integers(-5, 5), max_size=5))
def test_builtin_calls(xs):
    compiled_pair(builtin_calls).check(xs)


def test_builtin_calls_error():
    compiled_pair(builtin_calls).check(["a", 1])


# --------------------------------------------------------------------------
# recursion through compiled code (the global name is rebound to the
# compiled clone during the compiled run)

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def fact(n):
    if n <= 1:
        return 1
    return n * fact(n - 1)


def recurse_fail(n):
    if n == 0:
        raise ValueError("bottom")
    return recurse_fail(n - 1) + 1


def is_even(n):
    return True if n == 0 else is_odd(n - 1)


def is_odd(n):
    return False if n == 0 else is_even(n - 1)


@pytest.mark.parametrize("n", [0, 1, 10, 18])
def test_fib_recursive(n):
    compiled_pair(fib, rebind=True).check(n)


@pytest.mark.parametrize("n", [0, 5, 30, 100])
def test_fact_recursive_bigint(n):
    compiled_pair(fact, rebind=True).check(n)


@pytest.mark.parametrize("n", [0, 3, 25])
def test_recursion_traceback(n):
    out = compiled_pair(recurse_fail, rebind=True).check(n)
    assert len(out.tb) == n + 1


@pytest.mark.parametrize("n", [0, 7, 50])
def test_mutual_recursion(n):
    compiled_pair(is_even, rebind=[is_even, is_odd]).check(n)


def test_fib_type_error():
    compiled_pair(fib, rebind=True).check("x")
