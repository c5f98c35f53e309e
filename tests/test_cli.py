"""`python -m restrain` end to end: a program must behave exactly as under python.

Each test runs the same program twice in a temporary directory, once as
`python ARGS` and once as `python -m restrain [options] ARGS`, and compares
what the two print and return.  The options are `--threshold 2 --sync`, so
any function called three times or more is compiled before its next call
and the comparison covers compiled code, not just the interpreter.
"""

import signal
import textwrap

import pytest

from conftest import clean_env, needs_install

JIT = ("-m", "restrain", "--threshold", "2", "--sync")


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def compare(run_python, *args, options=JIT, **kwargs):
    plain = run_python(*args, **kwargs)
    jit = run_python(*options, *args, **kwargs)
    assert jit.stdout == plain.stdout
    assert jit.stderr == plain.stderr
    assert jit.returncode == plain.returncode
    return plain


# Only modules Python imports at start-up anyway: with --threshold 2 every
# function of a freshly imported module that runs twice would be compiled.
SHOW_CONTEXT = """
    import os, sys, __main__

    class Point:
        def __init__(self, x):
            self.x = x

    def twice(value):
        return value * 2

    total = 0
    for i in range(10):
        total += twice(i)
    print("total", total)
    print("argv", sys.argv)
    print("path0", repr(sys.path[0]))
    print("file", __file__ if "__file__" in globals() else None)
    print("name", __name__, "package", __package__, "spec", __spec__ and __spec__.name)
    print("main is this module", __main__.__dict__ is globals())
    print("dunders", sorted(k for k in globals() if k.startswith("__")))
    print("loader", type(__loader__).__name__ if not isinstance(__loader__, type) else __loader__.__name__)
    print("builtins", type(__builtins__).__name__)
"""


def test_script_context_is_the_same(run_python, tmp_path):
    write(tmp_path / "sub" / "prog.py", SHOW_CONTEXT)
    plain = compare(run_python, "sub/prog.py", "a", "--stats", "-c", "x y")
    assert "argv ['sub/prog.py', 'a', '--stats', '-c', 'x y']" in plain.stdout
    assert f"path0 {str(tmp_path / 'sub')!r}" in plain.stdout


def test_main_module_is_the_script(run_python, tmp_path):
    """Classes of the script pickle by reference to __main__, as usual."""
    write(tmp_path / "prog.py", """
        import pickle, sys

        class Point:
            def __init__(self, x):
                self.x = x

        print(pickle.loads(pickle.dumps(Point(3))).x, sys.modules["__main__"].Point is Point)
    """)
    plain = compare(run_python, "prog.py", options=("-m", "restrain"))
    assert plain.stdout == "3 True\n"


def test_script_given_by_absolute_path(run_python, tmp_path):
    script = write(tmp_path / "deep" / "er" / "prog.py", SHOW_CONTEXT)
    compare(run_python, script, "1", cwd=tmp_path / "deep")


def test_script_through_symlink(run_python, tmp_path):
    write(tmp_path / "real" / "prog.py", SHOW_CONTEXT)
    (tmp_path / "link.py").symlink_to(tmp_path / "real" / "prog.py")
    plain = compare(run_python, "link.py")
    assert f"path0 {str(tmp_path / 'real')!r}" in plain.stdout


@pytest.mark.parametrize("body, status", [
    ("print('fine')", 0),
    ("import sys\nprint('out')\nsys.exit(3)", 3),
    ("import sys\nsys.exit(None)", 0),
    ("import sys\nsys.exit('something went wrong')", 1),
    ("def f(n):\n    return 10 // n\nfor i in range(5, -1, -1):\n    print(f(i))", 1),
    ("raise SystemExit(7)", 7),
], ids=["ok", "exit-3", "exit-none", "exit-message", "uncaught", "systemexit-7"])
def test_exit_status_and_output(run_python, tmp_path, body, status):
    write(tmp_path / "prog.py", body + "\n")
    plain = compare(run_python, "prog.py")
    assert plain.returncode == status


HOT_TRACEBACK = """
    def leaf(values, i):
        return values[i] * 2 + values[i + 1]

    def middle(values, i):
        total = 0
        for j in range(3):
            total += leaf(values, i + j)
        return total

    def run():
        values = list(range(12))
        acc = 0
        for i in range(20):
            acc += middle(values, i)
            print(i, acc)
        return acc

    run()
"""

HOT_CHAINED = """
    def lookup(table, key):
        try:
            return table[key]
        except KeyError as exc:
            raise ValueError(f"no entry for {key!r}") from exc

    def scaled(table, key, factor):
        return lookup(table, key) * factor

    table = {n: n * n for n in range(8)}
    for n in range(10):
        print(n, scaled(table, n, 3))
"""

HOT_CONTEXT = """
    class Account:
        def __init__(self, balance):
            self.balance = balance

        def withdraw(self, amount):
            if amount > self.balance:
                raise RuntimeError(f"balance {self.balance} < {amount}")
            self.balance -= amount
            return self.balance

    def spend(account, amounts):
        for amount in amounts:
            try:
                account.withdraw(amount)
            except RuntimeError:
                print("refused", amount)
                return account.missing_attribute
        return account.balance

    for start in (100, 90, 80, 70):
        print(spend(Account(start), [10, 20, 5]))
    print(spend(Account(10), [5, 20]))
"""


@pytest.mark.parametrize("program", [HOT_TRACEBACK, HOT_CHAINED, HOT_CONTEXT],
                         ids=["nested", "chained", "during-handling"])
def test_traceback_from_hot_function_is_identical(run_python, tmp_path, program):
    write(tmp_path / "prog.py", program)
    plain = compare(run_python, "prog.py", timeout=180)
    assert plain.returncode == 1
    assert "Traceback (most recent call last):" in plain.stderr
    assert "^" in plain.stderr or "~" in plain.stderr


# The default options (nothing compiles in so short a program) matter: an
# import of subprocess at exit made CPython exit with 1 instead of SIGINT.
@pytest.mark.parametrize("options", [JIT, ("-m", "restrain")], ids=["sync", "default"])
def test_keyboard_interrupt_exits_by_sigint(run_python, tmp_path, options):
    write(tmp_path / "prog.py", """
        def stop(n):
            if n == 4:
                raise KeyboardInterrupt
            return n

        for i in range(6):
            print(stop(i))
    """)
    plain = compare(run_python, "prog.py", options=options)
    assert plain.returncode == -signal.SIGINT
    assert plain.stderr.rstrip().endswith("KeyboardInterrupt")


@needs_install
def test_keyboard_interrupt_exits_by_sigint_with_restrain_in_the_environment(tmp_path):
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-c", "raise KeyboardInterrupt"], capture_output=True,
                          text=True, timeout=120, env=clean_env(RESTRAIN="1"), cwd=tmp_path)
    assert proc.returncode == -signal.SIGINT, proc.stderr


def test_function_hot_while_the_program_imports_what_restrain_needs(run_python):
    # importing dis runs opcode's module body, which calls def_op() hundreds
    # of times: it turns hot while dis is half-initialised, and the cost
    # model, importing dis from there, failed; the error reached stderr
    # (seen in CPython's test_inspect under RESTRAIN=1)
    proc = run_python("-c", "import restrain; restrain.enable(threshold=50); import dis; print('ok')")
    assert proc.stdout == "ok\n"
    assert proc.stderr == ""


def test_syntax_error(run_python, tmp_path):
    write(tmp_path / "prog.py", "print('a')\ndef broken(:\n    pass\n")
    plain = compare(run_python, "prog.py")
    assert plain.returncode == 1
    assert "SyntaxError" in plain.stderr


def test_missing_script(run_python, tmp_path):
    plain = compare(run_python, "no_such_script.py")
    assert plain.returncode == 2


def test_directory_with_main(run_python, tmp_path):
    write(tmp_path / "app" / "__main__.py", SHOW_CONTEXT + "\nraise ValueError('from app')\n")
    plain = compare(run_python, "app", "arg")
    assert plain.returncode == 1


def test_module_in_a_package(run_python, tmp_path):
    write(tmp_path / "pkg" / "__init__.py", "")
    write(tmp_path / "pkg" / "tool.py", SHOW_CONTEXT)
    plain = compare(run_python, "-m", "pkg.tool", "x", "--sync")
    assert f"argv [{str(tmp_path / 'pkg' / 'tool.py')!r}, 'x', '--sync']" in plain.stdout
    assert f"path0 {str(tmp_path)!r}" in plain.stdout
    assert "spec pkg.tool" in plain.stdout


def test_package_main_and_traceback(run_python, tmp_path):
    write(tmp_path / "pkg" / "__init__.py", "")
    write(tmp_path / "pkg" / "__main__.py", HOT_TRACEBACK)
    plain = compare(run_python, "-m", "pkg")
    assert "<frozen runpy>" in plain.stderr


def test_missing_module(run_python):
    plain = compare(run_python, "-m", "no_such_module_here")
    assert plain.returncode == 1


def test_command(run_python):
    code = ("import sys\n"
            "def sq(x):\n    return x * x\n"
            "print(sys.argv, repr(sys.path[0]), __name__, [sq(i) for i in range(5)])\n"
            "print(sorted(globals()))")
    plain = compare(run_python, "-c", code, "one", "-m", "two")
    assert "['-c', 'one', '-m', 'two'] ''" in plain.stdout


def test_command_raising(run_python):
    compare(run_python, "-c", "def f(x):\n    return 1 / x\nfor i in (3, 2, 1, 0):\n    f(i)")


def test_program_on_stdin(run_python):
    source = "import sys\nprint(sys.argv, repr(sys.path[0]), __file__)\n"
    compare(run_python, "-", "arg", input=source)


def test_options_after_the_program_belong_to_it(run_python, tmp_path):
    write(tmp_path / "prog.py", "import sys\nprint(sys.argv)\n")
    result = run_python("-m", "restrain", "prog.py", "--threshold", "5", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "['prog.py', '--threshold', '5', '--help']\n"


def test_help_and_bad_options(run_python):
    helped = run_python("-m", "restrain", "--help")
    assert helped.returncode == 0
    assert "explain" in helped.stdout and "--threshold" in helped.stdout
    assert run_python("-m", "restrain").returncode == 2
    assert run_python("-m", "restrain", "--bogus", "x.py").returncode == 2
    assert run_python("-m", "restrain", "--threshold", "0", "x.py").returncode == 2
    assert run_python("-m", "restrain", "-m").returncode == 2


@needs_install
def test_restrain_env_enables_in_plain_python(run_python):
    code = "import restrain; print(restrain.is_enabled())"
    on = run_python("-c", code, env=clean_env(RESTRAIN="1"))
    assert (on.stdout, on.stderr, on.returncode) == ("True\n", "", 0)
    off = run_python("-c", code)
    assert (off.stdout, off.stderr, off.returncode) == ("False\n", "", 0)
    zero = run_python("-c", code, env=clean_env(RESTRAIN="0"))
    assert (zero.stdout, zero.stderr, zero.returncode) == ("False\n", "", 0)


@needs_install
def test_restrain_env_without_restrain_imports_nothing(run_python):
    result = run_python("-c", "import sys; print('restrain' in sys.modules)")
    assert result.stdout == "False\n"


def test_enabling_restrain_imports_little(run_python):
    # RESTRAIN=1 puts restrain into every process: its start-up must stay
    # small (logging, dataclasses/inspect and pathlib were most of it).
    # -S: no site, so no .pth file of another package imports them first.
    # A function turning hot that the cost model leaves to the interpreter
    # (no loop) needs none of the compiler either (restrain/costmodel.py).
    code = ("import sys, sysconfig; sys.path.append(sysconfig.get_paths()['purelib']); "
            "import restrain; assert restrain.enable(threshold=100); "
            "exec('def small(x):\\n    return x + 1'); "
            "[small(i) for i in range(1000)]; "
            "print([f['status'] for f in restrain.stats()['functions'] if f['name'] == 'small'], "
            "sorted(m for m in ('logging', 'dataclasses', 'inspect', 'pathlib', 'subprocess', "
            "'restrain.decode', 'restrain.feedback', 'restrain.build') if m in sys.modules))")
    result = run_python("-S", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "['interpreted'] []\n"


# a function with a typed loop: compiled once it is hot
SQUARES = """
def total(n):
    s = 0
    for i in range(n):
        s += i * i
    return s
"""

WARM_START_PROGRAM = """
import sys, sysconfig
sys.path.append(sysconfig.get_paths()['purelib'])
import restrain
""" + SQUARES + """
restrain.enable(threshold=5)
before = set(sys.modules)
for _ in range(20):
    total(1000)
restrain.wait(30)
loaded = [f['from_cache'] for f in restrain.stats()['functions'] if f['name'] == 'total']
print(loaded, sorted(m for m in ('logging', 'dataclasses', 'inspect', 'hashlib', 'json', 'subprocess',
                                 'restrain.decode', 'restrain.pipeline', 'restrain.remote')
                     if m in sys.modules and m not in before))
"""


def test_a_warm_start_imports_little(run_python, tmp_path):
    # A process that only loads compiled functions from the cache pays for
    # every module it imports for that: not logging, dataclasses/inspect
    # (4-5 ms), hashlib (OpenSSL, 2-3 ms), json or the compiler.  -S as above.
    write(tmp_path / "prog.py", WARM_START_PROGRAM)
    env = clean_env(RESTRAIN_CACHE_DIR=tmp_path / "cache")
    cold = run_python("-S", "prog.py", env=env)
    assert cold.returncode == 0, cold.stderr
    assert cold.stdout.startswith("[False] "), cold.stdout      # compiled by this run
    warm = run_python("-S", "prog.py", env=env)
    assert warm.returncode == 0, warm.stderr
    assert warm.stdout == "[True] []\n"


def test_debug_records_reach_a_program_that_configured_logging(run_python, tmp_path):
    # restrain drops its debug and info records while logging is not
    # imported (nothing could handle them); once the program has set up
    # logging they reach its handlers.
    write(tmp_path / "prog.py", """
        import logging, sys
        logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="%(name)s %(levelname)s %(message)s")
        import restrain
        def total(n):
            s = 0
            for i in range(n):
                s += i * i
            return s
        print(restrain.compile(total).ok)
    """)
    result = run_python("prog.py", env=clean_env(RESTRAIN_CACHE_DIR=tmp_path / "cache"))
    assert result.returncode == 0, result.stderr
    assert "restrain DEBUG restrain: compiled total (" in result.stdout
    assert result.stdout.endswith("True\n")


@needs_install
def test_restrain_env_and_cli_enable_once(run_python, tmp_path):
    write(tmp_path / "prog.py", """
        import restrain
        def f(x):
            return x + 1
        print(sum(f(i) for i in range(10)), restrain.is_enabled())
    """)
    result = run_python(*JIT, "prog.py", env=clean_env(RESTRAIN="1"))
    assert (result.stdout, result.stderr, result.returncode) == ("55 True\n", "", 0)


HOT_LITTLE_PROGRAM = """
    def hot_little_function(x):
        return x * 3 + 1

    total = 0
    for i in range(3000):
        total += hot_little_function(i)
    print(total)
"""


def test_stats_report_names_hot_function(run_python, tmp_path):
    write(tmp_path / "prog.py", HOT_LITTLE_PROGRAM)
    plain = run_python("prog.py")
    jit = run_python(*JIT, "--stats", "prog.py")
    assert jit.returncode == 0, jit.stderr
    assert jit.stdout == plain.stdout
    assert "hot_little_function" in jit.stderr


@needs_install
def test_restrain_stats_env_reports_functions_left_to_the_interpreter(run_python, tmp_path):
    # RESTRAIN_STATS=1 printed nothing when nothing had compiled
    write(tmp_path / "prog.py", HOT_LITTLE_PROGRAM)
    result = run_python("prog.py", env=clean_env(RESTRAIN="1", RESTRAIN_STATS="1", RESTRAIN_CACHE_DIR=tmp_path / "c"))
    assert result.returncode == 0, result.stderr
    assert "0 compiled" in result.stderr
    assert "interpreted hot_little_function" in result.stderr


def test_stats_printed_after_failure(run_python, tmp_path):
    write(tmp_path / "prog.py", """
        import sys
        def hot_then_exit(x):
            return x - 1
        for i in range(10):
            hot_then_exit(i)
        sys.exit(5)
    """)
    result = run_python(*JIT, "--stats", "prog.py")
    assert result.returncode == 5
    assert "hot_then_exit" in result.stderr


def test_explain(run_python, tmp_path):
    write(tmp_path / "mymod.py", """
        def add_squares(a, b):
            return a * a + b * b

        class Shape:
            def area(self, w, h):
                return w * h
    """)
    by_module = run_python("-m", "restrain", "explain", "mymod:add_squares")
    assert by_module.returncode == 0, by_module.stderr
    assert by_module.stdout.strip()
    by_path = run_python("-m", "restrain", "explain", "mymod.py:add_squares")
    assert by_path.returncode == 0, by_path.stderr
    assert by_path.stdout.strip()
    method = run_python("-m", "restrain", "explain", "mymod:Shape.area")
    assert method.returncode == 0, method.stderr
    assert method.stdout.strip()


@pytest.mark.parametrize("target", ["mymod:nothing", "nosuchmodule:f", "mymod", "mymod:VALUE"])
def test_explain_errors(run_python, tmp_path, target):
    write(tmp_path / "mymod.py", "VALUE = 3\n")
    result = run_python("-m", "restrain", "explain", target)
    assert result.returncode != 0
    assert result.stderr.startswith("restrain: error:")
    assert "Traceback" not in result.stderr


def test_explain_with_argument_types(run_python, tmp_path):
    write(tmp_path / "mymod.py", """
        def scale(x, k):
            t = 0.0
            for i in range(k):
                t += x * i
            return t
    """)
    typed = run_python("-m", "restrain", "explain", "--types", "float,int", "mymod:scale")
    assert typed.returncode == 0, typed.stderr
    assert "arguments: float, int" in typed.stdout
    assert "cdef double" in typed.stdout and "rs_unbox_float" in typed.stdout
    untyped = run_python("-m", "restrain", "explain", "mymod:scale")
    assert "rs_unbox_float" not in untyped.stdout
    bad = run_python("-m", "restrain", "explain", "--types", "str", "mymod:scale")
    assert bad.returncode == 2 and bad.stderr.startswith("restrain: error: --types")


@needs_install
def test_subinterpreters_run_without_the_jit(tmp_path):
    """RESTRAIN=1 reaches subinterpreters too (site runs there): they must
    not install the evaluator or start the sampling thread, which would be
    alive at Py_EndInterpreter (a fatal error, as in CPython's test_threading)."""
    import subprocess
    import sys
    code = ("import _testcapi, restrain\n"
            "assert restrain.is_enabled()\n"
            "r = _testcapi.run_in_subinterp('import restrain, time; time.sleep(0.05); "
            "assert not restrain.enable(); print(\"sub ok\")')\n"
            "print('main', r, restrain.is_enabled())\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=clean_env(RESTRAIN="1"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["sub", "ok", "main", "0", "True"]



def test_exit_while_restrain_imports_its_build_module(run_python):
    # a thread of restrain's (the sampler, queueing a compile) may be
    # importing restrain.build when the program exits: the exit handler
    # then finds it half initialised and must leave it alone
    code = ("import sys, types\n"
            "sys.modules['restrain.build'] = types.ModuleType('restrain.build')  # as if half imported\n"
            "print('done')\n")
    proc = run_python("-m", "restrain", "-c", code)
    assert proc.returncode == 0 and proc.stdout == "done\n"
    assert proc.stderr == ""


THREAD_IMPORTS_PROGRAM = """
import sys, threading
imports = []

def audit(event, args):
    if event == "import" and threading.current_thread() is not threading.main_thread():
        imports.append(args[0])

sys.addaudithook(audit)
import restrain
""" + SQUARES + """
restrain.enable(threshold=20)
for _ in range(100):
    total(100)
assert restrain.wait(120)
status = [f["status"] for f in restrain.stats()["functions"] if f["name"] == "total"]
print(status, sorted(m for m in set(imports) if m in sys.modules and not m.startswith("rsjit_")))
"""


def test_restrains_threads_import_no_module_of_their_own(run_python, tmp_path):
    # An import adds to sys.modules: one on restrain's worker thread while
    # the program iterates over sys.modules ("for m in sys.modules.values()",
    # as CPython's regrtest does at start-up) made the program fail with
    # "dictionary changed size during iteration".  A compile from scratch
    # (an empty cache) imports what it needs on the thread that queues it.
    # Still left: the worker loads the module it built, and Cython's module
    # initialisation puts it into sys.modules (rsjit_<key>).
    write(tmp_path / "prog.py", THREAD_IMPORTS_PROGRAM)
    result = run_python("prog.py", env=clean_env(RESTRAIN_CACHE_DIR=tmp_path / "empty-cache"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "['compiled'] []\n"
