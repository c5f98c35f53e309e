"""Loops over a list by index (emit.ModuleEmitter.c_loops,
restrain_abi.h rs_get_iter_indexed): a loop whose iterator only the loop
uses runs over an exact list with the list and an index as C variables, and
makes a list iterator only where the interpreter could see one (a
deoptimisation with the loop's iterator on its stack).  Tested
differentially: the list changed by the loop's body, deoptimisations
mid-loop, iterables that are not lists, exceptions inside and out of the
loop, and when the list is let go.
"""
from __future__ import annotations

import gc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import restrain
from difftest import Fresh, compiled_pair, specialised_pair

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
ITEMS = st.lists(st.one_of(st.floats(allow_nan=False), st.integers(-10, 10), st.sampled_from([1 << 70, "s", None])),
                 max_size=8)


def emitted(func, arg_types) -> str:
    text = restrain.explain(func, arg_types)
    return text[text.index("--- emit"):]


# -- objects: the item stored into the loop's local, or kept on the stack ------------

def collect(rows, limit):
    out = []
    for row in rows:          # stored straight into `row` (rs_for_index_store)
        out.append(row)
        if len(out) < limit:
            rows.append(len(out))     # the list grows under the loop: it sees the new items
        elif len(rows) > 12:
            del rows[:2]              # and shrinks
    return out, rows


def pairs_of(rows):
    out = []
    for a, b in rows:         # the item unpacked from the stack (rs_for_index)
        out.append(b - a)
    return out


def test_an_object_loop_runs_by_index():
    collect([1, 2], 3)
    assert "rs_get_iter_indexed" in emitted(collect, (list, int))
    assert "rs_for_index_store" in emitted(collect, (list, int))
    assert "rs_for_index(" in emitted(pairs_of, (list,))


@SETTINGS
@given(rows=st.lists(st.integers(-5, 5), max_size=6), limit=st.integers(0, 20),
       kind=st.sampled_from(["list", "tuple", "generator", "list subclass"]))
def test_a_list_changed_by_the_loop_body(rows, limit, kind):
    pair = compiled_pair(collect)
    if kind == "list":
        pair.check(rows, limit)
    elif kind == "list subclass":
        pair.check(Rows(rows), limit)
    elif kind == "tuple":
        pair.check(tuple(rows), limit)        # AttributeError on append, same traceback
    else:
        pair.check(Fresh(lambda: iter(list(rows))), limit)


class Rows(list):
    pass


@SETTINGS
@given(rows=st.lists(st.one_of(st.tuples(st.integers(), st.integers()), st.just((1, 2, 3)), st.just(None)),
                     max_size=6))
def test_items_unpacked_on_the_stack(rows):
    compiled_pair(pairs_of).check(rows)


# -- deoptimisation with the loop's iterator on the stack -----------------------------

def weighted(xs, k):
    total = 0
    for x in xs:
        total += x * k        # an int product beyond 64 bits deoptimises mid-loop
        xs.append(0) if total == 7 else None
    return total, len(xs)


@pytest.fixture(scope="module")
def weighted_pair():
    return specialised_pair(weighted, (list, int), [([1, 2, 3], 2)] * 20)


def test_deoptimising_mid_loop_resumes_at_the_next_item(weighted_pair):
    assert "rs_index_iter_at(" in emitted(weighted_pair.compiled, (list, int))
    weighted_pair.check([1, 2, 3, 4], 3)
    weighted_pair.check([1, 2, 1 << 40, 5, 6], 1 << 30)      # overflow at the third item
    weighted_pair.check([3, 4, 2], 1)                        # total == 7: appends
    weighted_pair.check([1, 2.5, 3], 2)                      # a float: the add deoptimises
    weighted_pair.check([1, "a", 3], 2)                      # TypeError after deoptimising


@SETTINGS
@given(xs=st.lists(st.one_of(st.integers(-(1 << 62), 1 << 62), st.integers(-3, 3)), max_size=8),
       k=st.integers(-(1 << 40), 1 << 40))
def test_deoptimisations_anywhere_in_the_loop(weighted_pair, xs, k):
    weighted_pair.check(xs, k)


def horner(coeffs, x):
    y = 0.0
    for c in coeffs:
        y = y * x + c
    return y


@SETTINGS
@given(coeffs=ITEMS, x=st.floats(allow_nan=False, allow_infinity=False, min_value=-4, max_value=4))
def test_floats_fetched_by_index(coeffs, x):
    pair = specialised_pair(horner, (list, float), [([0.5, 1.5], 0.5)] * 20)
    assert "rs_for_index_float" in emitted(pair.compiled, (list, float))
    pair.check(coeffs, x)


# -- exceptions, nesting, early exits -------------------------------------------------

def guarded(rows):
    out = []
    for row in rows:
        try:
            out.append(10 // row)
        except ZeroDivisionError:
            out.append("zero")
            continue
        for other in rows:              # the same list in an inner loop
            if other is row:
                break
            out.append(other)
        if row == 7:
            return out, "returned"
    return out


@SETTINGS
@given(rows=st.lists(st.sampled_from([0, 1, 2, 7, -3, "x", None]), max_size=6))
def test_handlers_nesting_break_and_return_inside_loops(rows):
    compiled_pair(guarded).check(rows)


def comprehended(rows):
    total = []
    for row in rows:
        total.append([x * 2 for x in row])    # the comprehension's iterator is passed on: not by index
    return total


def test_an_iterator_passed_on_is_a_real_iterator():
    text = emitted(comprehended, (list,))
    assert text.count("rs_get_iter_indexed") == 1         # the outer loop only
    compiled_pair(comprehended).check([[1, 2], (3,), "ab", []])
    compiled_pair(comprehended).check([[1], 5])


# -- when the list is let go -----------------------------------------------------------

class Noisy:
    def __init__(self, log, name):
        self.log, self.name = log, name

    def __del__(self):
        self.log.append(f"del {self.name}")


def let_go(log):
    for item in [Noisy(log, "a"), Noisy(log, "b")]:
        log.append(f"saw {item.name}")
    del item
    log.append("after the loop")
    return log


def test_the_list_is_let_go_when_the_loop_ends():
    gc.collect()
    compiled_pair(let_go).check([])
    pair = compiled_pair(let_go)
    _, compiled = pair.outcomes([])
    assert compiled.value == ["saw a", "saw b", "del a", "del b", "after the loop"]   # b: `item` held it
