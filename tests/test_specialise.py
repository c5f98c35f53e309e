"""Type-specialised code: guards, deoptimisation and Python's exact
arithmetic, tested differentially (interpreted vs compiled-for-types).

Every guard has a test that makes it fail: an argument of another type, an
integer that outgrows 64 bits, a list holding an unexpected type, a builtin
or math function rebound, a range beyond C long, a division by zero; each
must give exactly CPython's result, exception and traceback.
"""
from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import restrain
from difftest import MISSING, Fresh, specialised_pair
from restrain.feedback import observe
from restrain.ir import ir_for
from restrain.types import infer_types

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

INT64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
EDGE_INTS = st.sampled_from([0, 1, -1, 2, -2, 3, (1 << 62), -(1 << 62), (1 << 63) - 1, -(1 << 63),
                             (1 << 53), (1 << 53) + 1, -(1 << 53) - 1, 1 << 64, -(1 << 70)])
INTS = st.one_of(INT64, EDGE_INTS, st.integers(min_value=-1000, max_value=1000))
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 1e308, -1e308, 5e-324, 2.0 ** 53]))


def plan_of(func, arg_types):
    return infer_types(ir_for(func.__code__), observe(func.__code__, arg_types))


# -- integer arithmetic --------------------------------------------------------------

def int_ops(a, b):
    return (a + b, a - b, a * b, a & b, a | b, a ^ b, -a, +a, ~a, a < b, a <= b, a == b,
            a != b, a > b, a >= b, not a, abs(a), min(a, b), max(a, b), int(a), float(a))


def int_div(a, b):
    return a // b, a % b


def int_true_div(a, b):
    return a / b


def int_shift(a, b):
    return a << b, a >> b


def int_pow(a, b):
    return a ** b


def test_int_ops_are_specialised():
    plan = plan_of(int_ops, (int, int))
    assert plan.local_reps == {0: "int", 1: "int"}
    hows = {p.how for p in plan.ops.values()}
    assert {"int:add", "int:sub", "int:mul", "cmp:int", "neg:int", "call:builtins.abs"} <= hows


@pytest.fixture(scope="module")
def int_pairs():
    return {f: specialised_pair(f, (int, int), [(3, 4)] * 20)
            for f in (int_ops, int_div, int_true_div, int_shift)}


@SETTINGS
@given(a=INTS, b=INTS)
def test_int_arithmetic(int_pairs, a, b):
    for f in (int_ops, int_div, int_true_div):
        int_pairs[f].check(a, b)


# x86's 32-bit divide is used when both operands are in [0, 2**32)
# (restrain_abi.h RS_SMALL_NONNEGATIVE): each side of that edge, and signs
DIVISION_EDGES = [0, 1, 2, 7, (1 << 31) - 1, 1 << 31, (1 << 32) - 1, 1 << 32, (1 << 32) + 1, (1 << 62)]


@pytest.mark.parametrize("a", DIVISION_EDGES + [-x for x in DIVISION_EDGES[1:]])
def test_floor_division_and_modulo_at_the_32_bit_edge(int_pairs, a):
    for b in DIVISION_EDGES[1:] + [-x for x in DIVISION_EDGES[1:]] + [0]:
        int_pairs[int_div].check(a, b)


@SETTINGS
@given(a=INTS, b=st.integers(min_value=-3, max_value=200))   # huge counts: a huge int either way
def test_int_shifts(int_pairs, a, b):
    int_pairs[int_shift].check(a, b)


@SETTINGS
@given(a=st.integers(min_value=-50, max_value=50), b=st.integers(min_value=-3, max_value=70))
def test_int_power(a, b):
    pair = _pow_pair()
    pair.check(a, b)


_pow_cache = {}


def _pow_pair():
    if "p" not in _pow_cache:
        _pow_cache["p"] = specialised_pair(int_pow, (int, int), [(2, 3)] * 20)
    return _pow_cache["p"]


# -- float arithmetic -------------------------------------------------------------------

def float_ops(x, y):
    return (x + y, x - y, x * y, x < y, x <= y, x == y, x != y, x > y, x >= y, -x, +x, not x,
            abs(x), min(x, y), max(x, y))


def float_abs_sign(x):
    return math.copysign(1.0, abs(x))


def test_abs_of_a_negative_nan_is_positive_as_in_cpython():
    # float_abs is fabs: it clears the sign bit of a NaN too
    pair = specialised_pair(float_abs_sign, (float,), [(1.5,)] * 20)
    assert "call:builtins.abs" in {p.how for p in plan_of(float_abs_sign, (float,)).ops.values()}
    for x in (-float("nan"), float("nan"), -0.0, 0.0, -2.5, float("-inf")):
        pair.check(x)


def float_div(x, y):
    return x / y


def float_floordiv_mod(x, y):
    return x // y, x % y


def float_pow(x, y):
    return x ** y


def float_int_conversions(x):
    return int(x)


def mixed(i, x):
    return i + x, x - i, i * x, x / i, i < x, x == i, i >= x


@pytest.fixture(scope="module")
def float_pairs():
    pairs = {f: specialised_pair(f, (float, float), [(1.5, 2.5)] * 20)
             for f in (float_ops, float_div, float_floordiv_mod, float_pow)}
    pairs[float_int_conversions] = specialised_pair(float_int_conversions, (float,), [(1.5,)] * 20)
    pairs[mixed] = specialised_pair(mixed, (int, float), [(2, 1.5)] * 20)
    return pairs


def test_float_ops_are_specialised():
    plan = plan_of(float_ops, (float, float))
    hows = {p.how for p in plan.ops.values()}
    assert {"float:add", "float:sub", "float:mul", "cmp:float", "neg:float"} <= hows
    assert {p.how for p in plan_of(mixed, (int, float)).ops.values()} >= {"float:add", "float:truediv"}


@SETTINGS
@given(x=FLOATS, y=FLOATS)
def test_float_arithmetic(float_pairs, x, y):
    for f in (float_ops, float_div, float_floordiv_mod, float_pow):
        float_pairs[f].check(x, y)
    float_pairs[float_int_conversions].check(x)


@SETTINGS
@given(i=INTS, x=FLOATS)
def test_int_float_mixing(float_pairs, i, x):
    float_pairs[mixed].check(i, x)


def half_powers(xs):
    out = []
    for x in xs:
        y = x * 1.0         # a float multiplication: the interpreter's feedback types y
        out.append(y ** 0.5)
    return out


def where_sqrt_is_not_pow(count):
    """Floats whose x ** 0.5 (libm's pow) is not math.sqrt(x): pow is not
    correctly rounded, sqrt is; compiled code takes sqrt only where it is
    certainly pow's result too (rs_pow_half_by_sqrt)."""
    rng = random.Random(2026)
    found = []
    while len(found) < count:
        x = rng.uniform(0.0, 100.0)
        if math.sqrt(x) != x ** 0.5:
            found.append(x)
    return found


def test_half_power_is_pow_even_where_sqrt_differs():
    pair = specialised_pair(half_powers, (list,), [([1.5, 2.5],)] * 20)
    assert "float:pow" in {p.how for p in plan_of(pair.compiled, (list,)).ops.values()}
    hard = where_sqrt_is_not_pow(40)
    rng = random.Random(7)
    easy = [rng.uniform(0.0, 1e6) for _ in range(20000)]
    edges = [0.0, -0.0, 1.0, 4.0, 2.0, 0.5, 2.0 ** -1000, 2.0 ** -900, 5e-324, 2.2250738585072014e-308,
             1e308, 1.7976931348623157e308, 2.0 ** 1000, 2.0 ** 1001, 9007199254740993.0]
    pair.check(hard + easy + edges)
    assert pair.compiled(hard) == [x ** 0.5 for x in hard]
    for special in (-4.0, math.inf, -math.inf, math.nan, -1e-300):     # complex, inf, nan: interpreted
        pair.check([2.0, special, 3.0])


# -- math functions ----------------------------------------------------------------------

def math_funcs(x):
    return (math.sqrt(x), math.sin(x), math.cos(x), math.exp(x), math.log(x), math.fabs(x),
            math.atan(x), math.floor(x), math.ceil(x), math.atan2(x, 1.0))


def test_math_calls_are_specialised():
    hows = {p.how for p in plan_of(math_funcs, (float,)).ops.values()}
    assert {"call:math.sqrt", "guard:math.sqrt", "call:math.floor", "call:math.atan2"} <= hows


@SETTINGS
@given(x=st.one_of(FLOATS, st.floats(min_value=-800, max_value=800)))
def test_math_functions(x):
    _math_pair().check(x)


_math_cache = {}


def _math_pair():
    if "p" not in _math_cache:
        _math_cache["p"] = specialised_pair(math_funcs, (float,), [(2.0,)] * 20)
    return _math_cache["p"]


# -- guards failing: deoptimisation -------------------------------------------------------

def factorial(n):
    r = 1
    for i in range(1, n + 1):
        r *= i
    return r


def test_integer_outgrowing_64_bits_mid_loop_deoptimises():
    pair = specialised_pair(factorial, (int,), [(5,)] * 20)
    assert "int:mul" in {p.how for p in plan_of(factorial, (int,)).ops.values()}
    for n in (0, 5, 20, 21, 30, 100):
        pair.check(n)


def scaled_sum(xs):
    s = 0.0
    for i in range(len(xs)):
        s += xs[i] * 2.5
    return s


def test_list_holding_unexpected_type_deoptimises():
    pair = specialised_pair(scaled_sum, (list,), [([1.0, 2.0, 3.0],)] * 20)
    plan = plan_of(pair.compiled, (list,))
    assert any(p.unbox for p in plan.ops.values()), plan.dump()   # xs[i] guessed float
    pair.check([1.0, 2.0, 3.0])
    pair.check([1.0, 2.0, 3, 4.0, 5.0])           # an int half-way
    pair.check([1.0, 2.0, True])
    pair.check([1.0, "text", 3.0])                # TypeError, same traceback
    pair.check([1.0, 2 ** 80, 3.0])


def typed_args(a, x):
    return a * 2 + 1, x * 0.5


def test_argument_of_another_type_runs_interpreted():
    pair = specialised_pair(typed_args, (int, float), [(1, 1.0)] * 20)
    for args in [(3, 2.5), (3.5, 2.5), (3, 2), (True, 1.0), ("a", 1.0), (2 ** 70, 1.0), (None, 1.0)]:
        pair.check(*args)


def count_items(xs):
    return len(xs) + 1


def root(x):
    return math.sqrt(x) + 1.0


def test_rebound_builtin_and_module_function_are_seen():
    pair = specialised_pair(count_items, (list,), [([1],)] * 20)
    pair.check([1, 2, 3])
    try:
        pair.check([1, 2, 3], globals_reset={"len": lambda xs: 42})
    finally:
        globals().pop("len", None)      # the builtin again for the rest of this module
    rpair = specialised_pair(root, (float,), [(4.0,)] * 20)
    rpair.check(9.0)
    saved = math.sqrt
    try:
        math.sqrt = lambda x: -1.0
        rpair.check(9.0)
    finally:
        math.sqrt = saved
    rpair.check(-1.0)       # ValueError: math domain error, from the interpreter


def big_range(start):
    t = 0
    for i in range(start, start + 3):
        t += i % 7
    return t


def test_range_beyond_c_long_deoptimises():
    pair = specialised_pair(big_range, (int,), [(1,)] * 20)
    assert "range" in {p.how for p in plan_of(big_range, (int,)).ops.values()}
    for start in (0, 10, (1 << 63) - 2, 1 << 63, -(1 << 64)):
        pair.check(start)


def range_pairs(a, b, out):
    """Loops over range(n) and range(start, stop) of C integers: C
    variables, no range object or iterator (emit.ModuleEmitter.c_loops)."""
    t = 0
    for i in range(a):
        for j in range(i, b):
            out.append((i, j))
            t = t * 3 + j           # outgrows 64 bits in long runs: deoptimises mid-loop
            if len(out) > 400:
                return t
    return t


def test_range_iterators_made_in_c():
    pair = specialised_pair(range_pairs, (int, int, list), [(3, 4, [])] * 20)
    assert "rs_range_c(" in Path(pair.info.source_path).read_text()
    for a, b in [(0, 5), (3, 4), (4, 2), (-3, 5), (5, -3), (30, 32), (60, 62), (2, 10 ** 6)]:
        pair.check(a, b, [])
    # bounds whose length does not fit a C long: range's own iterator
    pair.check(1, (1 << 63) - 1, [])
    pair.check(2, -(1 << 63), [])


def span(start, stop, out):
    t = 0
    for j in range(start, stop):
        t = t * 3 + j           # beyond 64 bits at once for bounds near them: deoptimises
        out.append(j)
        if len(out) > 40:
            return t
    return t


def test_range_iterator_made_for_a_deoptimisation():
    # the iterator the interpreter resumes with is the rest of the range;
    # for a rest longer than a C long, range's own long iterator
    pair = specialised_pair(span, (int, int, list), [(0, 5, [])] * 20)
    assert "rs_range_iter_at(" in Path(pair.info.source_path).read_text()
    for start, stop in [(0, 50), (5, 3), (-(1 << 63) + 1, (1 << 63) - 1), (-(1 << 63), 0),
                        ((1 << 62), (1 << 63) - 1), (-10, (1 << 63) - 1)]:
        pair.check(start, stop, [])


def test_range_rebound_after_compiling_is_called():
    pair = specialised_pair(range_pairs, (int, int, list), [(3, 4, [])] * 20)
    try:
        pair.check(3, 5, [], globals_reset={"range": lambda *bounds: [bounds[-1], 1, 2]})
        pair.check(3, 5, [], globals_reset={"range": lambda *bounds: iter(bounds)})
    finally:
        globals().pop("range", None)      # the builtin again for the rest of this module


def divide_all(n, d):
    t = 0
    for i in range(n):
        t += i // d
    return t


def test_zero_division_in_typed_code_raises_cpythons_error():
    pair = specialised_pair(divide_all, (int, int), [(5, 2)] * 20)
    pair.check(5, 2)
    pair.check(5, 0)        # ZeroDivisionError: same message, line and caret


def accumulate_then_fail(n):
    total = 0
    for i in range(n):
        total += i
    raise ValueError(total)


def test_typed_locals_are_in_the_traceback_frame():
    pair = specialised_pair(accumulate_then_fail, (int,), [(1,)] * 20)
    for side in (False, True):
        with pair.side(side) as fn:
            try:
                fn(10)
            except ValueError as e:
                frame = e.__traceback__.tb_next.tb_frame
                assert frame.f_locals["total"] == 45
                assert frame.f_locals["i"] == 9
            else:
                raise AssertionError("no exception")


def with_handler(n):
    t = 0
    for i in range(n):
        try:
            t += 10 // (i % 3)
        except ZeroDivisionError:
            t -= 1
    return t


def test_exception_handlers_and_typed_code():
    pair = specialised_pair(with_handler, (int,), [(4,)] * 20)
    for n in (0, 1, 5, 50):
        pair.check(n)


# -- recompiling a version that keeps deoptimising ------------------------------------------

RECOMPILE_PROG = textwrap.dedent("""
    import json, restrain
    def step(a, b):
        return a * b + 1
    out = []
    for k in range(300):
        out.append(step(k, 3))
    for k in range(300):
        out.append(step(2 ** 62 + k, 3))      # overflows int64 every call
    s = [f for f in restrain.stats()["functions"] if f["name"] == "step"][0]
    print(json.dumps({"sum": sum(out), "versions": s["versions"], "status": s["status"],
                      "sites": s["deopt_sites"]}))
""")


def test_version_that_keeps_deoptimising_is_recompiled(tmp_path):
    prog = tmp_path / "prog.py"
    prog.write_text(RECOMPILE_PROG)
    plain_sum = sum([k * 3 + 1 for k in range(300)] + [(2 ** 62 + k) * 3 + 1 for k in range(300)])
    # --no-sample: the evaluator always on, so the loopless `step` compiles
    proc = subprocess.run([sys.executable, "-m", "restrain", "--sync", "--threshold", "50", "--no-sample",
                           "--cache-dir", str(tmp_path / "cache"), str(prog)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["sum"] == plain_sum
    assert result["status"] == "compiled"
    # the first version overflowed at `a * b`; the second guessed (from the
    # interpreter's BINARY_OP_ADD_INT) that `a * b + 1` adds small ints and
    # deoptimised there; the third makes no guesses
    assert result["versions"] == 3, result
    assert len(result["sites"]) == 2, result


def accumulate_into(xs, k):
    for i in range(len(xs)):
        xs[i] += k * 0.5
    return xs


def test_float_stored_in_place_only_when_nothing_else_sees_it():
    pair = specialised_pair(accumulate_into, (list, float), [([1.0, 2.0], 1.0)] * 20)
    plan = plan_of(pair.compiled, (list, float))
    assert any(p.how == "setitem:int" and p.operands == ("float",) for p in plan.ops.values()), plan.dump()
    pair.check([1.0, 2.0, 3.0], 2.0)
    pair.check([1.0, 2, 3.5], 2.0)          # an int in the list: a new float, as CPython
    with pair.side(True) as fn:
        shared = 7.25                          # held by this frame too: must not change
        xs = [shared, 1.5]
        out = fn(xs, 2.0)
        assert shared == 7.25 and out == [8.25, 2.5] and xs[0] is not shared


# -- arguments that every use takes as an object stay boxed ------------------------

def _bench_program(name):
    import importlib.util
    from conftest import ROOT
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / "programs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


power_sum = _bench_program("int_overflow").power_sum     # total += power; power *= base


def only_passed(x, n):
    total = 0
    for i in range(n):
        total += len(str(x))
    return total


def used_typed(x, n):
    total = 0
    for i in range(n):
        total += x * i
    return total


def test_arguments_used_only_as_objects_are_not_unboxed():
    # unboxed at entry, `x` would be boxed again at every use
    assert 0 not in plan_of(only_passed, (int, int)).local_reps
    # range(n)'s bound is boxed once per loop (and a C version needs it typed)
    assert plan_of(only_passed, (int, int)).local_reps.get(1) == "int"
    assert plan_of(used_typed, (int, int)).local_reps.get(0) == "int"
    # after `power *= base` overflowed, the recompiled version multiplies
    # generically: `base` is only an object there
    sites = frozenset(i.offset // 2 for i in __import__("dis").get_instructions(power_sum)
                      if i.opname == "BINARY_OP")
    plan = infer_types(ir_for(power_sum.__code__), observe(power_sum.__code__, (int, int), sites))
    assert 0 not in plan.local_reps


@pytest.mark.parametrize("args", [(3, 10), (3, 60), (7, 45), (2 ** 70, 3), (-5, 50), (3.5, 10), ("ab", 0)])
def test_boxed_arguments_differential(args):
    for func in (power_sum, only_passed):
        pair = specialised_pair(func, (int, int), [(3, 10)] * 5)
        pair.check(*args)


# -- bit operations with an object on one side -------------------------------------
# 3.11 does not specialise &, |, ^, <<, >>: with an int on one side the other
# is guessed to be an int too, unboxed and checked (a global mask, say)

BIT_MASK = (1 << 62) - 1


def xorshift(x):
    x ^= (x << 13) & BIT_MASK
    x ^= x >> 7
    x ^= (x << 17) & BIT_MASK
    return x


def shift_kept(x):
    y = x << 13
    return (y & BIT_MASK) + y


def test_bit_operations_with_a_global_operand_are_typed():
    plan = plan_of(xorshift, (int,))
    assert plan.local_reps == {0: "int"}
    hows = sorted(p.how for p in plan.ops.values())
    # the masked shifts: the shift's low 64 bits, exact after the mask
    assert hows.count("int:lshift_wrap") == 2 and hows.count("int:and_wrapped") == 2
    # the global mask is read straight into a C variable (types.fuse_global_unboxing)
    assert hows.count("global:int") == 2
    assert not any(p.unbox for p in plan.ops.values() if p.how == "int:and_wrapped")


def test_a_shift_used_elsewhere_too_is_not_wrapped():
    hows = [p.how for p in plan_of(shift_kept, (int,)).ops.values()]
    assert "int:lshift" in hows and "int:lshift_wrap" not in hows


MASKS = ((1 << 62) - 1, 1 << 70, 255, 0, -1, -(1 << 40), (1 << 63) - 1)


@pytest.mark.parametrize("mask", MASKS)
def test_masked_shifts_beyond_64_bits(mask):
    """x << 13 and x << 17 outgrow 64 bits for these x: exact in C under a
    mask >= 0, else deoptimised with the exact shift on the stack."""
    pair = _xorshift_pair()
    for x in ((1 << 62) - 12345, 1 << 55, -(1 << 60) + 7, (1 << 63) - 1, -(1 << 63)):
        pair.check(x, globals_reset={"BIT_MASK": mask})


@SETTINGS
@given(x=st.one_of(st.integers(0, (1 << 40)), st.integers(-(1 << 63), (1 << 63) - 1), INTS))
def test_bit_operations_with_a_global_operand(x):
    pair = _xorshift_pair()
    pair.check(x)
    # a big integer: the guess fails; a negative mask keeps the bits the
    # shift pushed beyond 64 (deoptimised, the exact shift on the stack)
    for mask in MASKS:
        pair.check(x, globals_reset={"BIT_MASK": mask})
    pair.check(x, globals_reset={"BIT_MASK": 2.5})      # TypeError, as the interpreter's


# -- globals read straight into C variables (types.fuse_global_unboxing) ---------------

SCALE = 3


def global_scaled_sum(n):
    total = 0
    for i in range(n):
        total += i * SCALE
    return total


def test_a_global_only_unboxed_is_read_into_a_c_variable():
    for _ in range(5):
        global_scaled_sum(50)
    assert [p.how for p in plan_of(global_scaled_sum, (int,)).ops.values()].count("global:int") == 1


@pytest.mark.parametrize("value", [3, -7, 0, 1 << 70, 2.5, "ab", True, MISSING])
def test_a_global_read_into_a_c_variable_rebound(value):
    # read again after each change of the globals: another int is used, a
    # big int, float, str or bool deoptimises at the load, a deleted one
    # raises the interpreter's NameError
    pair = _global_scaled_pair()
    pair.check(40, globals_reset={"SCALE": value})
    pair.check(40, globals_reset={"SCALE": 3})


_global_scaled_cache = {}


def _global_scaled_pair():
    if "pair" not in _global_scaled_cache:
        _global_scaled_cache["pair"] = specialised_pair(global_scaled_sum, (int,), [(50,)] * 5)
    return _global_scaled_cache["pair"]


_xorshift_cache = {}


def _xorshift_pair():
    if "pair" not in _xorshift_cache:
        _xorshift_cache["pair"] = specialised_pair(xorshift, (int,), [(k,) for k in range(20)])
    return _xorshift_cache["pair"]


# -- bytearray and bytes indexed with a C integer ------------------------------------
# (restrain_abi.h rs_byte_at: the byte read without the generic path; a
# bytearray item set to an int in range(256) in place)

def byte_ops(buf, i, v):
    total = 0
    for k in range(3):
        total += buf[i - k]
    buf[i] = v
    return total, buf[i], bytes(buf)


@pytest.fixture(scope="module")
def byte_pair():
    return specialised_pair(byte_ops, (bytearray, int, int), [(bytearray(b"abcdefgh"), 4, 7)] * 5)


@SETTINGS
@given(data=st.binary(min_size=0, max_size=9), i=st.integers(-12, 12),
       v=st.one_of(st.integers(-2, 258), st.sampled_from([1 << 70, -(1 << 70), True])),
       immutable=st.booleans())
def test_bytes_indexed_with_c_integers(byte_pair, data, i, v, immutable):
    # out of range (IndexError), bytes (TypeError on the store), values
    # outside range(256) (ValueError), a bool: as the interpreter has them
    byte_pair.check(bytes(data) if immutable else bytearray(data), i, v)


# -- locals guessed from their uses (types.guess_locals_from_uses) --------------------
# `for c in coeffs: y = y * x + c` with the add specialised for floats: c is
# unboxed once, where it is stored; anything else stored there deoptimises

def horner(coeffs, x):
    y = 0.0
    for c in coeffs:
        y = y * x + c
    return y


def test_a_local_every_use_unboxes_is_typed_and_unboxed_as_the_loop_fetches_it():
    for _ in range(20):                   # the interpreter specialises the add: the feedback
        horner([0.5, 1.5, 2.5], 2.0), horner_kept([0.5, 1.5, 2.5], 2.0)
    plan = plan_of(horner, (list, float))
    c = horner.__code__.co_varnames.index("c")
    assert plan.local_reps.get(c) == "float"
    # the store's guess is made by the loop itself (types.item_guess): the
    # item is never an object in compiled code
    fetched = [p for p in plan.ops.values() if p.how == "iter:float"]
    assert len(fetched) == 1 and fetched[0].deopt
    assert not [p for p in plan.ops.values() if p.how == "store:float"]
    # not for a local also used as an object (it would be boxed again)
    assert horner_kept.__code__.co_varnames.index("c") not in plan_of(horner_kept, (list, float)).local_reps


def simpson_like(coeffs, steps):
    total = 0.0
    for i in range(steps + 1):
        y = 0.0
        for c in coeffs:
            y = y * 0.5 + c
        if i == 0:
            total += y          # ran once, before the interpreter quickened the code: no feedback
        else:
            total += 2.0 * y
    return total


def test_a_run_after_guessed_locals_types_loop_carried_locals_again():
    # the guess for c makes the type pass run again; that run started from
    # the first run's objects and left `total` (its first add has no
    # feedback) an object, boxed at every step
    simpson_like([0.5, 1.5], 200)
    plan = plan_of(simpson_like, (list, int))
    names = simpson_like.__code__.co_varnames
    assert plan.local_reps.get(names.index("c")) == "float"     # guessed from its uses
    assert plan.local_reps.get(names.index("total")) == "float", plan.dump()


def horner_kept(coeffs, x):
    y = 0.0
    seen = []
    for c in coeffs:
        y = y * x + c
        seen.append(c)
    return y, seen


@pytest.fixture(scope="module")
def horner_pair():
    return specialised_pair(horner, (list, float), [([0.5, -1.25, 2.0, 0.75], 0.5)] * 5)


@SETTINGS
@given(coeffs=st.lists(st.one_of(FLOATS, FLOATS, INTS, st.sampled_from(["x", None, 1 << 80, True])),
                       max_size=8),
       x=FLOATS)
def test_locals_guessed_from_their_uses(horner_pair, coeffs, x):
    # an int, a big int, a bool, a str, None among the floats: deoptimised at
    # the store, and the interpreter's result or exception
    horner_pair.check(coeffs, x)


@SETTINGS
@given(coeffs=st.lists(st.one_of(FLOATS, FLOATS, st.sampled_from(["x", 1 << 80, 3])), max_size=6), x=FLOATS,
       kind=st.sampled_from(["tuple", "generator", "raising generator", "list subclass"]))
def test_items_of_other_iterables_guessed_floats(horner_pair, coeffs, x, kind):
    # tuples are read by index as lists are; anything else goes through its
    # own __next__ (a generator's exception keeps its traceback)
    if kind == "tuple":
        horner_pair.check(tuple(coeffs), x)
    elif kind == "list subclass":
        horner_pair.check(FloatList(coeffs), x)
    else:
        raising = kind == "raising generator"
        horner_pair.check(Fresh(lambda: generate(coeffs, raising)), x)


class FloatList(list):
    pass


def generate(items, raising):
    yield from items
    if raising:
        raise LookupError("no more", len(items))


def int_items(ks):
    total = 0
    for k in ks:
        total = (total * 31 + k) % 1000003
    return total


@pytest.fixture(scope="module")
def int_items_pair():
    return specialised_pair(int_items, (list,), [([3, 5, 7, 11],)] * 5)


def test_int_items_are_unboxed_as_the_loop_fetches_them():
    for _ in range(20):
        int_items([3, 5, 7, 11])
    assert [p.how for p in plan_of(int_items, (list,)).ops.values()].count("iter:int") == 1


@SETTINGS
@given(ks=st.lists(st.one_of(INTS, INTS, st.sampled_from([2.5, True, "x", None])), max_size=8))
@example(ks=[1, 2, 1 << 64, 3])
@example(ks=[1, 2, True, 3])
def test_int_items_of_a_list(int_items_pair, ks):
    # a big int, a bool, a float mid-list: deoptimised at the store, the item
    # on the stack; the interpreter finishes the loop
    int_items_pair.check(ks)
    int_items_pair.check(tuple(ks))


# -- `if xs[i]:` tests the item where it lies (types.fuse_item_truth) -----------------

class Truthy:
    """An item whose truth runs Python code: a value, or an error."""

    def __init__(self, value):
        self.value = value

    def __bool__(self):
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


def count_truthy(xs, n):
    count = 0
    for i in range(-n, n):
        if xs[i]:
            count += 1
    return count


@pytest.fixture(scope="module")
def truthy_pair():
    return specialised_pair(count_truthy, (list, int), [([0, 1, 2], 3)] * 5)


def test_an_item_only_branched_on_is_tested_where_it_lies():
    for _ in range(20):
        count_truthy([0, 1, 2], 3)
    assert [p.how for p in plan_of(count_truthy, (list, int)).ops.values()].count("getitem:truth") == 1


ITEMS = st.one_of(INTS, FLOATS, st.sampled_from([True, False, None, "", "x", [], [0], (), 0.0, -0.0]),
                  st.builds(Truthy, st.sampled_from([True, False, ValueError("no truth"), 2])))


@SETTINGS
@given(items=st.lists(ITEMS, max_size=6), n=st.integers(0, 8),
       kind=st.sampled_from(["list", "tuple", "bytes", "bytearray", "dict"]))
def test_items_branched_on(truthy_pair, items, n, kind):
    # out of range: IndexError (KeyError for a dict); a __bool__ that raises
    # or returns an int: the interpreter's error and traceback
    if kind in ("bytes", "bytearray"):
        data = bytes(abs(x) % 256 for x in items if type(x) is int)
        truthy_pair.check(data if kind == "bytes" else bytearray(data), n)
    elif kind == "dict":
        truthy_pair.check({i: x for i, x in enumerate(items)}, n)
    else:
        truthy_pair.check(items if kind == "list" else tuple(items), n)


# -- a loop inside a loop: the inner loop's iterator is started again --------------
# (restrain_abi.h rs_spare_iter), never while anything else holds it

def nested_sums(rows, weights):
    total = 0.0
    for row in rows:
        for w in weights:
            total += row * w
    return total


@pytest.fixture(scope="module")
def nested_pair():
    return specialised_pair(nested_sums, (list, list), [([1.0, 2.0], [0.5, 0.25])] * 5)


@SETTINGS
@given(rows=st.lists(FLOATS, max_size=6), weights=st.one_of(st.lists(FLOATS, max_size=4),
                                                            st.tuples(FLOATS, FLOATS)))
def test_nested_loops_over_lists_and_tuples(nested_pair, rows, weights):
    nested_pair.check(rows, weights)


def test_nested_loops_in_two_threads_share_the_spare_iterators(nested_pair):
    # both threads keep and restart the module's spare iterators, switching
    # at the loops' back-edges; each gets its own sums
    import threading
    work = {name: ([float(i + k) for i in range(40)], [0.5, 0.25, 0.125 * k])
            for k, name in enumerate(("a", "b"), 1)}
    expected = {name: nested_sums(*args) for name, args in work.items()}
    got: dict = {}

    def run(name):
        got[name] = [nested_pair.compiled(*work[name]) for _ in range(300)]

    with nested_pair.side(True):
        threads = [threading.Thread(target=run, args=(name,)) for name in work]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert got == {name: [value] * 300 for name, value in expected.items()}


HELD: list = []      # iterators a program found through gc.get_objects()
SEEN: list = []


def probe():
    SEEN.extend(it.__reduce__()[1] for it in HELD)


def nested_probe(rows, weights):
    total = 0.0
    for row in rows:
        for w in weights:
            total += row * w
            probe()
    return total


def test_a_spare_iterator_another_holds_is_not_started_again():
    import gc
    pair = specialised_pair(nested_probe, (list, list), [([1.0, 2.0], [0.5, 0.25])] * 5)
    weights = [0.5, 0.25, 0.125]
    assert pair.call([1.0, 2.0], weights) == nested_probe([1.0, 2.0], weights)
    # the exhausted inner iterator the module kept, among others
    HELD[:] = [o for o in gc.get_objects() if type(o) is type(iter([])) and o.__reduce__()[1] == ([],)]
    assert HELD
    try:
        assert pair.call([3.0, 4.0], weights) == nested_probe([3.0, 4.0], weights)
        assert SEEN and all(state == ([],) for state in SEEN)    # never restarted while held
    finally:
        HELD.clear()
        SEEN.clear()


def read_then_use(xs):
    s = 0.0
    for i in range(len(xs)):
        x = xs[i]                         # read straight into the typed local
        s += x * 2.0
    return s


@pytest.fixture(scope="module")
def read_pair():
    return specialised_pair(read_then_use, (list,), [([0.5, -1.25, 2.0, 0.75],)] * 5)


@SETTINGS
@given(xs=st.lists(st.one_of(FLOATS, FLOATS, INTS, st.sampled_from(["x", None, 1 << 80])), max_size=8))
def test_a_guessed_local_read_from_a_list(read_pair, xs):
    read_pair.check(xs)


# -- ord() of one-character strings in C ------------------------------------------------

def ord_hash(items):
    h = 0
    for ch in items:
        h = (h * 131 + ord(ch)) % 4294967291
    return h


def test_ord_of_a_character_is_computed_in_c():
    for _ in range(20):
        ord_hash("warm up")
    assert any(p.how == "call:builtins.ord" for p in plan_of(ord_hash, (str,)).ops.values())


@pytest.fixture(scope="module")
def ord_pair():
    return specialised_pair(ord_hash, (str,), [("some text",)] * 5)


@SETTINGS
@example(items=["a", b"", "b"]).via("an empty bytes")
@example(items=[b"ab", "c"]).via("a bytes of two")
@example(items=["a", "bc"]).via("a str of two")
@given(items=st.one_of(
    st.text(),
    st.lists(st.one_of(st.characters(), st.binary(min_size=1, max_size=1), st.text(max_size=3),
                       st.integers(0, 300), st.sampled_from([bytearray(b"a"), b"", None, "\U0001F600"])),
             max_size=8)))
def test_ord_differential(ord_pair, items):
    # str and bytes of one character in C; a bytearray, a longer or empty
    # str, an int or None: deoptimised, the interpreter's result or TypeError
    ord_pair.check(items)


def test_cold_paths_are_marked_unlikely_for_the_c_compiler():
    """Deoptimisations, a C version giving up and the ordinary call it
    stands for are branch-hinted (emit.mark_cold_paths): the register
    allocator otherwise weighs their calls as often as the loop's turn."""
    from restrain.emit import mark_cold_paths
    lines = ["if rs_f_truediv(a, b, &c):", "    rs_deopt_begin(f, 6)",
             "if rs_cb:", "    rs_t = rs_call1(x, y, z)",
             "if rs_cb == 1:", "    rs_db0 += 1",
             "if rs_depth <= 0:", "    rs_bail[0] = 1",
             "if not (rs_c):", "    v1 = 2"]
    marked = mark_cold_paths(lines)
    assert marked[0::2] == ["if rs_unlikely(rs_f_truediv(a, b, &c)):", "if rs_unlikely(rs_cb):",
                            "if rs_unlikely(rs_cb == 1):", "if rs_unlikely(rs_depth <= 0):", "if not (rs_c):"]
    assert marked[1::2] == lines[1::2]

    def halves(a, b):
        return a / b

    source = restrain.explain(halves, (float, float))
    assert "if rs_unlikely(rs_f_truediv(" in source
