"""The cost model that leaves to the interpreter what compiled code would
not speed up (restrain/costmodel.py: work_mix, WorkMix.favours_compiling), on functions
the interpreter has specialised: typed loops compile; loops of Python calls
and loops of object work (attributes, dict lookups, C method calls) do not."""
import contextlib
import json

from restrain.costmodel import interpreter_quickened, work_mix


@contextlib.contextmanager
def windows_mode():
    """The runtime's configuration with the evaluator on only in windows
    (the default when enabled), where the cost model has its say."""
    from restrain import runtime

    config = runtime._state.config
    saved = (config.sample, config.windows)
    config.sample, config.windows = True, True
    try:
        yield
    finally:
        config.sample, config.windows = saved


def float_loop(xs):
    total = 0.0
    for i in range(len(xs)):
        total += xs[i] * 0.5 - 1.0
    return total


def helper(x):
    return x + 1


def calls_loop(n):
    total = 0
    for i in range(n):
        total = helper(total) + helper(i)
    return total


class Item:
    def __init__(self, ident, tag):
        self.ident = ident
        self.tag = tag


def object_loop(items, index, me):
    found = []
    for other in items:
        bucket = index.get(other.tag)
        if bucket is not None and other.ident > me.ident:
            found.append(bucket)
    return found


def warm(func, *args):
    for _ in range(200):        # past the interpreter's specialisation thresholds
        func(*args)
    return work_mix(func.__code__)


def test_typed_loop_compiles():
    mix = warm(float_loop, [1.0, 2.0, 3.0] * 10)
    assert mix.typed_ops >= 4 and mix.object_ops == 0
    assert mix.favours_compiling()


def test_loop_of_python_calls_stays_interpreted():
    mix = warm(calls_loop, 30)
    assert mix.python_calls == 2
    assert not mix.favours_compiling()


def test_loop_of_object_work_stays_interpreted():
    items = [Item(i, i % 5) for i in range(30)]
    mix = warm(object_loop, items, {0: "a", 2: "b"}, Item(10, 0))
    assert mix.python_calls == 0 and mix.object_ops > mix.typed_ops
    assert not mix.favours_compiling() and not mix.favours_compiling(sampled=True)


def escape(cr, limit):
    z = 0.0
    for i in range(limit):
        z = z * z + cr
        if z > 2.0:
            return i
    return limit


def row_of_calls(width):
    row = []
    for x in range(width):
        cr = -2.1 + 3.0 * x / width          # int and float mixed: not specialised
        row.append(escape(cr, 20))
    return row


def test_calls_of_compiled_functions_count_as_gains():
    warm(row_of_calls, 30)
    alone = work_mix(row_of_calls.__code__)
    assert alone.python_calls == 1 and not alone.favours_compiling(sampled=True)
    # escape compiled: from compiled code its calls are direct C calls
    known = work_mix(row_of_calls.__code__, compiled_callees=frozenset({"escape"}))
    assert known.python_calls == 0 and known.typed_ops == alone.typed_ops + 1
    assert known.favours_compiling(sampled=True)
    # another compiled function's name changes nothing
    assert work_mix(row_of_calls.__code__, compiled_callees=frozenset({"other"})) == alone


MASK = (1 << 62) - 1


def bits_loop(n):
    acc = 0
    x = 12345
    for _ in range(n):
        x = (x * 5 + 1) & MASK
        acc = (acc + (x & 0xFFFF)) ^ (x >> 7)
    return acc


def test_bit_operations_count_as_typed_work():
    # 3.11 leaves &, ^, >> unspecialised (BINARY_OP); the type pass guesses ints there
    mix = warm(bits_loop, 30)
    assert mix.typed_ops >= 5 and mix.object_ops == 0
    assert mix.favours_compiling()


def bench_function(program, name):
    """A function of one of bench/programs/ (the module loaded by path)."""
    import importlib.util
    from conftest import ROOT
    path = ROOT / "bench" / "programs" / f"{program}.py"
    spec = importlib.util.spec_from_file_location(f"cost_model_{program}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def test_division_and_list_append_are_neutral():
    # `/`, `//`, `%` and `**` are never specialised by 3.11, whatever the
    # operands, and `xs.append(v)` is as cheap compiled as interpreted:
    # neither counts as work on objects (matmul's make_matrix, 4.9x faster
    # compiled, was left to the interpreter: 4 typed sites against 9)
    mix = warm(bench_function("matmul", "make_matrix"), 3, 4, 1)
    assert mix.typed_ops == 4          # two loop steps, an int multiply, a float subtract
    assert mix.object_ops == 2         # `row = []` and the call of range() for the inner loop
    assert mix.favours_compiling(sampled=True)


def formats(items):
    out = []
    for item in items:
        out.append("%s=%r" % (item.tag, item.ident))
    return out


def test_neutral_sites_do_not_make_object_work_compile():
    # a loop of string formatting and attributes has no typed work to gain
    mix = warm(formats, [Item(i, "t") for i in range(5)])
    assert mix.typed_ops == 1 and mix.object_ops >= 2
    assert not mix.favours_compiling(sampled=True)


def test_as_much_typed_work_as_object_work_is_not_enough():
    # entering compiled code costs more than the interpreter's inlined call:
    # examples/particles.py's Grid.neighbours (6 typed sites, 6 object ones)
    # ran 1% slower compiled
    from restrain.costmodel import WorkMix
    assert not WorkMix(0, 6, 6).favours_compiling(sampled=True)
    assert WorkMix(0, 7, 6).favours_compiling(sampled=True)
    assert WorkMix(0, 4, 0).favours_compiling() and not WorkMix(0, 2, 0).favours_compiling()


def test_after_a_deoptimisation_a_tie_is_enough():
    # the generic version of a loop that deoptimised (bench/programs/
    # int_overflow.py): a range step and one big-integer operation ran
    # 1.35-1.6x faster compiled, a step and two 0.96x
    from restrain.costmodel import WorkMix
    assert WorkMix(0, 1, 1).favours_generic_version()
    assert not WorkMix(0, 1, 2).favours_generic_version()
    assert not WorkMix(1, 3, 0).favours_generic_version()
    assert not WorkMix(0, 1, 1).favours_compiling(sampled=True)


class Node:
    def __init__(self, value, next_node):
        self.value = value
        self.next = next_node

    def weight(self):
        return self.value


def walk(node):
    """A `while cond:` loop of method calls and attributes: 3.11 closes it
    with a conditional backward jump, which does not warm the code up."""
    total = 0
    while node is not None:
        total += node.weight()
        node = node.next
    return total


def chain(n):
    node = None
    for i in range(n):
        node = Node(i, node)
    return node


def test_a_loop_the_interpreter_never_quickened_compiles():
    """Called once, `walk` runs its loop on generic instructions for good
    (costmodel.interpreter_quickened): compiled code's caches beat that,
    whatever its mix of calls and object work; called a few more times,
    the interpreter quickens and specialises it, and the usual rule (a loop
    of calls and attributes stays interpreted) applies."""
    from restrain import runtime

    code = walk.__code__.replace()          # a fresh code object: never run yet
    fresh = type(walk)(code, walk.__globals__)
    head = chain(2000)
    assert fresh(head) == sum(range(2000))
    assert not interpreter_quickened(code)
    with windows_mode():
        assert runtime._cost_model_reason(code, sampled=True) is None
    for _ in range(10):
        fresh(head)
    assert interpreter_quickened(code)
    assert not work_mix(code).favours_compiling(sampled=True)
    with windows_mode():
        assert runtime._cost_model_reason(code, sampled=True) == runtime.LOOPLESS_REASON


def test_a_generator_with_a_generic_loop_is_not_taken_for_a_function():
    from restrain.costmodel import runs_generic_loops

    def gen(node):
        total = 0
        while node is not None:
            total += node.weight()
            node = node.next
        yield total

    assert sum(gen(chain(500))) == sum(range(500))
    assert not interpreter_quickened(gen.__code__)
    assert not runs_generic_loops(gen.__code__)

    fresh = type(walk)(walk.__code__.replace(), walk.__globals__)
    fresh(chain(10))
    assert runs_generic_loops(fresh.__code__)


# -- loops of calls that compiled code makes without frames -------------------------------

class Link:
    def __init__(self, value, target):
        self.value = value
        self.target = target
        self.forward = True

    def source(self):
        return self.value if self.forward else self.target

    def run(self):
        self.target.value = self.source().value if self.forward else 0


class Boxed(Link):
    def run(self):
        self.target.value = Link(1, None)          # a class call: not frameless

    def extends(self):
        self.value.extend((1,))        # (append and pop have frameless forms; extend not)

    def checked(self):
        try:
            return self.value
        except AttributeError:
            return None

    def rooted(self):
        import math
        return math.sqrt(self.value)


def run_all(plan):
    for c in plan:
        c.run()


FUNCTIONS = frozenset({"source", "run", "__init__", "run_all"})


def test_which_functions_compiled_code_would_call_without_a_frame():
    from restrain.costmodel import frameless_shaped
    # (run_all: a for loop, over a list or a tuple when it runs)
    for f in (Link.source, Link.run, Link.__init__, run_all):
        assert frameless_shaped(f.__code__, FUNCTIONS), f.__qualname__
    # a call of a class (not among the Python functions known), of a method
    # of a built-in type, an import, a handler
    for f in (Boxed.run, Boxed.extends, Boxed.rooted, Boxed.checked):
        assert not frameless_shaped(f.__code__, FUNCTIONS), f.__qualname__
    # Link.run calls `source`: only if it is known for a Python function
    assert not frameless_shaped(Link.run.__code__, frozenset({"__init__"}))


def test_calls_of_frameless_methods_count_as_gains():
    plan = [Link(Link(1, None), Link(0, None)) for _ in range(20)]
    warm(run_all, plan)
    alone = work_mix(run_all.__code__)
    assert alone.python_calls == 1 and not alone.favours_compiling(sampled=True)
    known = work_mix(run_all.__code__, frameless_methods=frozenset({"run"}))
    assert known.python_calls == 0 and known.typed_ops == alone.typed_ops + 1
    assert known.favours_compiling(sampled=True)
    assert work_mix(run_all.__code__, frameless_methods=frozenset({"other"})) == alone


PLAN_PROGRAM = """
import json, sys, time
import restrain
from restrain import _hook

class Var:
    def __init__(self, value):
        self.value = value

class Equal:
    def __init__(self, a, b):
        self.a, self.b, self.forward = a, b, True
    def source(self):
        return self.a if self.forward else self.b
    def dest(self):
        return self.b if self.forward else self.a
    def execute(self):
        self.dest().value = self.source().value

def execute(plan):
    for c in plan:
        c.execute()

def chain(n):
    vs = [Var(i) for i in range(n)]
    return vs, [Equal(vs[i], vs[i + 1]) for i in range(n - 1)]
{other}
restrain.enable()
{warm}
total = 0
for k in range(1500):
    _hook.set_counting(True)        # the evaluator's window open: every call of execute counted
    vs, plan = chain(60)
    vs[0].value = k
    execute(plan)
    total += vs[-1].value
restrain.wait()
for k in range(200):
    # open too: a compile that finished after the loop above is entered
    # through the evaluator the first time (it swaps the function objects)
    _hook.set_counting(True)
    vs, plan = chain(60)
    vs[0].value = k
    execute(plan)
    total += vs[-1].value
status = {{f["qualname"]: f["status"] for f in restrain.stats()["functions"]}}
print("RESULT " + json.dumps({{"total": total, "status": status, "frameless": _hook.frameless_calls()}}))
"""

# another class with an `execute` that compiled code could not call
# without a frame, in every plan
NOT_FRAMELESS = """
class Logger:
    log = []
    def execute(self):
        self.log.extend((1,))

_chain = chain
def chain(n):
    vs, plan = _chain(n)
    return vs, plan + [Logger()]
"""


def plan_program(other="", warm=""):
    import os
    import subprocess
    import sys
    source = PLAN_PROGRAM.format(other=other, warm=warm)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTRAIN")}
    plain = subprocess.run([sys.executable, "-c", source.replace("restrain.enable()", "")
                            .replace("restrain.wait()", "")], capture_output=True, text=True, env=env)
    jit = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, env=env, timeout=300)
    assert jit.returncode == 0, jit.stderr[-2000:]
    line = [l for l in jit.stdout.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):]), plain


def plain_total(proc):
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])["total"]


def test_a_loop_of_methods_that_run_without_frames_is_compiled_with_them():
    out, plain = plan_program()
    assert out["status"]["execute"] == "compiled"
    for method in ("Equal.execute", "Equal.source", "Equal.dest"):
        assert out["status"][method] == "compiled", out["status"]
    assert out["frameless"] > 0
    assert out["total"] == plain_total(plain) == sum(range(1500)) + sum(range(200))   # vs[0] carried to the end


def test_a_loop_calling_a_method_some_class_runs_with_a_frame_stays_interpreted():
    # hot before the loop is: the cost model knows it when it judges the loop
    out, plain = plan_program(NOT_FRAMELESS, warm="for _ in range(3000): Logger().execute()")
    assert out["status"]["Logger.execute"] == "interpreted", out["status"]
    assert out["status"]["execute"] == "interpreted", out["status"]
    assert out["total"] == plain_total(plain)
