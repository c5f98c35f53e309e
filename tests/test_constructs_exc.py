"""Differential tests: assert, raise, try/except/else/finally, exception
chaining, sys.exc_info(), with statements.

PYTEST_DONT_REWRITE: this module's `assert` statements must stay plain
Python asserts (the functions under test contain some), so pytest's
assertion rewriting is disabled here.
"""

import sys

import pytest

from difftest import check, compiled_pair


# --------------------------------------------------------------------------
# assert

def _t(value, log):
    log.append(value)
    return value


def asserts(x, y, msg, log):
    assert x
    assert y, _t(msg, log)
    return "passed"


@pytest.mark.parametrize("x,y,msg", [
    (1, 1, "m"), (0, 1, "m"), (1, 0, "message"), (1, [], ("tuple", 1)), ([1], "", None),
    (1, 0, ValueError("exc as message")),
], ids=repr)
def test_asserts(x, y, msg):
    compiled_pair(asserts).check(x, y, msg, [])


def test_assert_messages():
    out = check(asserts, 1, 0, "why", [])
    assert out.exc_type is AssertionError and out.exc.args == ("why",)
    out = check(asserts, 0, 1, "why", [])
    assert out.exc_type is AssertionError and out.exc.args == ()


# --------------------------------------------------------------------------
# raise

class MyError(Exception):
    pass


class MyLookup(LookupError):
    pass


def raise_kind(kind):
    if kind == "instance":
        raise ValueError("bad", 1)
    if kind == "class":
        raise KeyError
    if kind == "from":
        try:
            {}["k"]
        except KeyError as e:
            raise ValueError("converted") from e
    if kind == "from_none":
        try:
            [][0]
        except IndexError:
            raise ValueError("hidden") from None
    if kind == "from_class":
        raise ValueError("x") from TypeError
    if kind == "context":
        try:
            1 / 0
        except ZeroDivisionError:
            raise MyError("during handling")
    if kind == "double_context":
        try:
            try:
                raise KeyError("a")
            except KeyError:
                raise IndexError("b")
        except IndexError:
            raise MyError("c")
    if kind == "bad_type":
        raise 42
    if kind == "bad_cause":
        raise ValueError from 1
    if kind == "reraise_outside":
        raise
    if kind == "system_exit":
        raise SystemExit(3)
    if kind == "stop_iteration":
        raise StopIteration("done")
    if kind == "custom":
        raise MyLookup("mine", [1, 2])
    return "no raise"


RAISE_KINDS = ["instance", "class", "from", "from_none", "from_class", "context",
               "double_context", "bad_type", "bad_cause", "reraise_outside", "system_exit",
               "stop_iteration", "custom", "nothing"]


@pytest.mark.parametrize("kind", RAISE_KINDS)
def test_raise_kind(kind):
    compiled_pair(raise_kind).check(kind)


def test_raise_messages():
    assert check(raise_kind, "bad_type").message == "exceptions must derive from BaseException"
    assert check(raise_kind, "bad_cause").message == (
        "exception causes must derive from BaseException")
    assert check(raise_kind, "reraise_outside").message == "No active exception to reraise"
    out = check(raise_kind, "from_none")
    assert out.exc.__suppress_context__ and out.exc.__cause__ is None
    assert isinstance(out.exc.__context__, IndexError)
    out = check(raise_kind, "from")
    assert isinstance(out.exc.__cause__, KeyError)


def reraise(kind, log):
    try:
        if kind == 1:
            raise ValueError("inner")
        if kind == 2:
            raise TypeError("other")
        log.append("no error")
    except ValueError:
        log.append("handler")
        raise
    finally:
        log.append("finally")
    return log


def reraise_nested(k):
    try:
        raise ValueError("outer")
    except ValueError:
        try:
            raise TypeError("inner")
        except TypeError:
            if k == 0:
                raise
        if k == 1:
            raise
        return "handled"


@pytest.mark.parametrize("kind", [0, 1, 2])
def test_reraise(kind):
    compiled_pair(reraise).check(kind, [])


@pytest.mark.parametrize("k", [0, 1, 2])
def test_reraise_nested(k):
    compiled_pair(reraise_nested).check(k)


# --------------------------------------------------------------------------
# try / except / else / finally

def _raiser(kind):
    if kind == "value":
        raise ValueError("v", 1)
    if kind == "key":
        raise KeyError("k")
    if kind == "index":
        [][1]
    if kind == "type":
        raise TypeError("t")
    if kind == "custom":
        raise MyLookup("c")
    if kind == "base":
        raise GeneratorExit("g")
    if kind == "zero":
        return 1 / 0
    return "fine"


def try_match(kind, out):
    try:
        out.append("body")
        out.append(_raiser(kind))
    except ValueError as e:
        out.append(("value", e.args))
    except (KeyError, IndexError) as e:
        out.append(("lookup", type(e).__name__, str(e)))
    except MyLookup:
        out.append("mine")
    except ArithmeticError as e:
        out.append(("arith", str(e)))
        return out, "returned from handler"
    else:
        out.append("else")
    finally:
        out.append("finally")
    out.append("after")
    return out


@pytest.mark.parametrize("kind", ["value", "key", "index", "type", "custom", "base", "zero", None])
def test_try_match(kind):
    compiled_pair(try_match).check(kind, [])


def except_as_cleared():
    e = "before"
    try:
        raise ValueError("x")
    except ValueError as e:  # noqa: F841
        pass
    return e  # UnboundLocalError: `as e` is deleted after the handler


def test_except_as_cleared():
    assert check(except_as_cleared).exc_type is UnboundLocalError


def except_dynamic(exc_types, kind):
    try:
        _raiser(kind)
    except exc_types as e:
        return "caught", type(e).__name__
    return "not raised"


@pytest.mark.parametrize("exc_types,kind", [
    (ValueError, "value"), ((KeyError, TypeError), "type"), ((), "value"), (LookupError, "custom"),
    (Exception, "base"), (BaseException, "base"), ("not a class", "value"), ("not a class", None),
    ((ValueError, 5), "value"), (ValueError, "type"),
], ids=repr)
def test_except_dynamic(exc_types, kind):
    compiled_pair(except_dynamic).check(exc_types, kind)


def try_nested(a, b):
    out = []
    try:
        try:
            out.append(1 / a)
        except ZeroDivisionError:
            out.append("inner zde")
            out.append(1 / b)
        finally:
            out.append("inner finally")
    except ZeroDivisionError as e:
        out.append(("outer", str(e), type(e.__context__).__name__))
    return out


@pytest.mark.parametrize("a,b", [(1, 1), (0, 1), (0, 0), (1, 0), ("x", 1), (0, "y")], ids=repr)
def test_try_nested(a, b):
    compiled_pair(try_nested).check(a, b)


def return_in_try_and_finally(x, log):
    try:
        log.append("try")
        if x == "raise":
            raise ValueError("body")
        return x
    finally:
        log.append("finally")
        if x == "raise" or (isinstance(x, int) and x > 0):
            return ("finally wins", x)


@pytest.mark.parametrize("x", [0, 1, -1, "s", "raise"])
def test_return_in_try_and_finally(x):
    compiled_pair(return_in_try_and_finally).check(x, [])


def exc_in_finally(kind, log):
    try:
        log.append("body")
        if kind == 1:
            raise ValueError("body")
        if kind == 2:
            return "returning"
    finally:
        log.append("finally")
        if kind != 3:
            raise TypeError("finally")
    return "end"


@pytest.mark.parametrize("kind", [0, 1, 2, 3])
def test_exc_in_finally(kind):
    compiled_pair(exc_in_finally).check(kind, [])


def loop_finally(n, log):
    for i in range(n):
        try:
            if i % 3 == 0:
                continue
            if i == 7:
                break
            log.append(i)
        finally:
            log.append(-i)
    else:
        log.append("for-else")
    while True:
        try:
            try:
                break
            finally:
                log.append("inner")
        finally:
            log.append("outer")
    for i in range(2):
        try:
            raise KeyError(i)
        except KeyError:
            continue
        finally:
            log.append(("k", i))
    return log


@pytest.mark.parametrize("n", [0, 4, 10])
def test_loop_finally(n):
    compiled_pair(loop_finally).check(n, [])


def exc_info_states():
    r = [sys.exc_info()[0], sys.exception()]
    try:
        raise KeyError("a")
    except KeyError:
        r.append(sys.exc_info()[0])
        try:
            raise ValueError("b")
        except ValueError:
            r.append(sys.exc_info()[0])
            r.append(_current_exc())
        r.append(sys.exc_info()[0])
        r.append(type(sys.exception()))
    r.append(sys.exc_info())
    try:
        try:
            raise IndexError("c")
        finally:
            r.append(sys.exc_info()[0])
    except IndexError:
        pass
    r.append(sys.exc_info())
    return r


def _current_exc():
    return sys.exc_info()[1]


def test_exc_info_states():
    check(exc_info_states)


def sees_callers_exc():
    return sys.exc_info()[0], repr(sys.exc_info()[1])


def test_exc_info_of_the_caller_is_visible():
    pair = compiled_pair(sees_callers_exc)
    assert pair.check().value == (None, "None")
    try:
        raise KeyError("outer")
    except KeyError:
        assert pair.check().value == (KeyError, "KeyError('outer')")


# --------------------------------------------------------------------------
# with

class CM:
    def __init__(self, name, log, suppress=False, fail_enter=False, fail_exit=False):
        self.name = name
        self.log = log
        self.suppress = suppress
        self.fail_enter = fail_enter
        self.fail_exit = fail_exit

    def __enter__(self):
        self.log.append(("enter", self.name))
        if self.fail_enter:
            raise RuntimeError("enter failed")
        return self.name

    def __exit__(self, et, ev, tb):
        self.log.append(("exit", self.name, et and et.__name__, ev and str(ev),
                         tb is not None, sys.exc_info()[0] and sys.exc_info()[0].__name__))
        if self.fail_exit:
            raise RuntimeError("exit failed")
        return self.suppress

    def __repr__(self):
        return f"CM({self.name!r})"


def with_cm(cm, fail, log):
    with cm as v:
        log.append(("body", v))
        if fail:
            raise ValueError("in body")
        log.append("body end")
    log.append("after")
    return log


@pytest.mark.parametrize("suppress", [False, True, 1, None])
@pytest.mark.parametrize("fail", [False, True])
@pytest.mark.parametrize("extra", [{}, {"fail_enter": True}, {"fail_exit": True}], ids=repr)
def test_with_cm(suppress, fail, extra):
    log = []
    compiled_pair(with_cm).check(CM("a", log, suppress, **extra), fail, log)


@pytest.mark.parametrize("cm", [1, None, object()], ids=["int", "None", "object"])
def test_with_not_a_context_manager(cm):
    out = compiled_pair(with_cm).check(cm, False, [])
    assert out.exc_type is TypeError


def with_nested(log, fail_at):
    with CM("outer", log) as a, CM("inner", log, suppress=(fail_at == "suppressed")) as b:
        with CM("innermost", log, fail_exit=(fail_at == "exit")):
            log.append((a, b))
            if fail_at in ("body", "suppressed"):
                raise KeyError("deep")
    log.append("after")
    return log


@pytest.mark.parametrize("fail_at", [None, "body", "suppressed", "exit"])
def test_with_nested(fail_at):
    compiled_pair(with_nested).check([], fail_at)


def with_return(log, mode):
    with CM("r", log, suppress=True):
        if mode == "return":
            return "returned"
        for i in range(3):
            with CM(i, log):
                if i == 0:
                    continue
                if mode == "break":
                    break
        if mode == "raise":
            raise ValueError("suppressed")
    return "fell through"


@pytest.mark.parametrize("mode", ["return", "break", "raise", None])
def test_with_return(mode):
    compiled_pair(with_return).check([], mode)
