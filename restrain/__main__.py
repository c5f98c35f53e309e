"""Command line of restrain.

    python -m restrain [options] script.py [args ...]
    python -m restrain [options] -m module [args ...]
    python -m restrain [options] -c code [args ...]
    python -m restrain [options] - [args ...]          (program on stdin)
    python -m restrain [options] COMMAND [command args ...]

A program runs exactly as under plain `python` (sys.argv, sys.path[0], the
`__main__` module, exit codes, the text of an uncaught exception's traceback,
the exit by SIGINT after an uncaught KeyboardInterrupt), with the JIT
enabled.  Options are only read before the program: everything after the
script, `-m module` or `-c code` belongs to the program.

Commands are registered with the `command` decorator below; each gets its own
argparse parser, so adding one (`cache info`, `warm`, ...) is one function.
"""

import argparse
import os
import sys

# Frames whose globals are this dict are restrain's own; they are cut from the
# front of an uncaught exception's traceback before it is shown.
_OWN_GLOBALS = globals()
# The program replaces sys.modules["__main__"] (which is this module under
# `python -m restrain`); keep this module alive for the functions below.
_OWN_MODULE = sys.modules.get(__name__)
# What Python put at sys.path[0] for us (the current directory under
# `python -m restrain`, the scripts directory for the `restrain` script).
_STARTUP_PATH0 = sys.path[0] if sys.path and not sys.flags.safe_path else None


class CommandLineError(Exception):
    """A message for the user; main() prints it and exits with `status`.

    The message is printed as "restrain: error: MESSAGE" unless `bare`.
    """

    def __init__(self, message, status=1, bare=False):
        super().__init__(message)
        self.status = status
        self.bare = bare


# --------------------------------------------------------------------------
# Options (given before the program or the command)

def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


# (flags, argparse keyword arguments).  An option that takes a value has no
# "action" (or action "store"): the argument splitter relies on that.
OPTIONS = [
    (("--threshold",), dict(type=_positive_int, metavar="N", default=None,
                            help="compile a function once it has been called more "
                                 "than N times (default: the runtime's, or "
                                 "RESTRAIN_THRESHOLD)")),
    (("--sync",), dict(action="store_true",
                       help="compile hot functions at once, in the calling thread, "
                            "instead of in the background")),
    (("--stats",), dict(action="store_true",
                        help="print a report of compiled, failed and unsupported "
                             "functions on stderr when the program exits")),
    (("--no-sample",), dict(action="store_true",
                            help="find hot functions by counting calls only, not also by "
                                 "sampling where the program spends its time")),
    (("--no-cache",), dict(action="store_true",
                           help="neither read nor write the on-disk cache of "
                                "compiled functions")),
    (("--cache-dir",), dict(metavar="DIR", default=None,
                            help="keep the on-disk cache of compiled functions in DIR")),
]


def _takes_value(kwargs):
    return kwargs.get("action", "store") in ("store", "append")


_VALUE_OPTIONS = frozenset(
    flag for flags, kwargs in OPTIONS if _takes_value(kwargs) for flag in flags)


def _prog_name():
    if os.path.basename(sys.argv[0] if sys.argv else "") in ("__main__.py", "-m", "-c", ""):
        return "python -m restrain"
    return os.path.basename(sys.argv[0])


class _VersionAction(argparse.Action):
    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="print restrain's version and exit"):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            from importlib.metadata import version
            text = version("restrain")
        except Exception:
            text = "unknown"
        print(f"restrain {text} (Python {sys.version.split()[0]})")
        parser.exit()


def _option_parser(prog):
    lines = [f"{prog} [options] script.py [args ...]",
             f"{prog} [options] -m module [args ...]",
             f"{prog} [options] -c code [args ...]"]
    for name, cmd in COMMANDS.items():
        lines.append(f"{prog} [options] {name} {cmd.usage}".rstrip())
    usage = ("\n" + " " * len("usage: ")).join(lines)
    commands = "\n".join(f"  {name:<12} {cmd.help}" for name, cmd in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog=prog, usage=usage, allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run a Python program with the restrain JIT enabled: functions "
                    "called often are compiled (bytecode -> Cython -> C) and run in "
                    "place of the interpreter. The program sees the same sys.argv, "
                    "sys.path and __main__ as under plain python.",
        epilog=f"commands:\n{commands}\n\n"
               "Options go before the program; everything after the script, "
               "-m module or -c code is passed to the program.\n"
               "Set RESTRAIN=1 in the environment to enable the JIT in every Python "
               "process that has restrain installed.")
    for flags, kwargs in OPTIONS:
        parser.add_argument(*flags, **kwargs)
    parser.add_argument("--version", action=_VersionAction)
    return parser


def split_argv(argv):
    """Split argv into (restrain's options, the rest, forced).

    The rest starts with the program (`script.py`, `-m`, `-c`, `-`) or a
    command name.  After `--` the next word is always a program path
    (forced=True), even if it is named like a command.
    """
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return argv[:i], argv[i + 1:], True
        if arg == "-" or not arg.startswith("-"):
            break
        if not arg.startswith("--") and arg[1:2] in ("m", "c"):
            break
        if arg in _VALUE_OPTIONS:
            i += 2
        else:
            i += 1
    return argv[:i], argv[i:], False


# --------------------------------------------------------------------------
# Commands

class Command:
    def __init__(self, name, help, func, arguments, usage):
        self.name, self.help, self.func = name, help, func
        self.arguments, self.usage = arguments, usage

    def parser(self, prog):
        parser = argparse.ArgumentParser(prog=f"{prog} {self.name}", description=self.help,
                                         allow_abbrev=False)
        for flags, kwargs in self.arguments:
            parser.add_argument(*flags, **kwargs)
        return parser


COMMANDS = {}


def command(name, help, arguments=(), usage=""):
    """Register `func(ns, opts) -> exit status` as `python -m restrain NAME`.

    `arguments` is a list of (flags, argparse keyword arguments) for the
    command's own parser; `opts` holds the global options given before NAME.
    """
    def register(func):
        COMMANDS[name] = Command(name, help, func, list(arguments), usage)
        return func
    return register


def _configure(restrain, opts):
    kwargs = {}
    if opts.threshold is not None:
        kwargs["threshold"] = opts.threshold
    if opts.sync:
        kwargs["sync"] = True
    if opts.no_cache:
        kwargs["cache"] = False
    if opts.no_sample:
        kwargs["sample"] = False
    if opts.cache_dir is not None:
        kwargs["cache_dir"] = os.path.abspath(os.path.expanduser(opts.cache_dir))
    if kwargs:
        restrain.configure(**kwargs)


def resolve_function(target):
    """The function named by `module:attr.path` or `path/to/file.py:attr.path`."""
    import importlib
    import importlib.util

    where, sep, attr_path = target.rpartition(":")
    if not sep or not where or not attr_path:
        raise CommandLineError(
            f"expected MODULE:FUNCTION or path/to/file.py:FUNCTION, got {target!r}", 2)
    if where.endswith(".py") or os.sep in where or os.path.isfile(where):
        path = os.path.abspath(where)
        if not os.path.isfile(path):
            raise CommandLineError(f"no such file: {where!r}", 2)
        stem = os.path.splitext(os.path.basename(path))[0]
        name = stem if stem.isidentifier() and stem not in sys.modules else "__restrain_explain__"
        _set_path0(os.path.dirname(os.path.realpath(path)))
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        loader = spec.loader.exec_module
        what = f"file {where!r}"
    else:
        _set_path0(os.getcwd())
        module = None
        loader = None
        what = f"module {where!r}"
    try:
        if loader is None:
            module = importlib.import_module(where)
        else:
            loader(module)
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        import traceback
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        raise CommandLineError(f"cannot import {what}: {detail}")
    obj = module
    done = []
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise CommandLineError(
                f"{'.'.join([where] + done) if done else where} has no attribute {part!r}")
        done.append(part)
    import types
    func = getattr(obj, "__func__", obj)  # bound methods, classmethods
    if not isinstance(func, types.FunctionType):
        import inspect
        func = inspect.unwrap(func) if callable(func) else func
    if not isinstance(func, types.FunctionType):
        raise CommandLineError(
            f"{target} is a {type(obj).__name__}, not a Python function")
    return func


EXPLAIN_TYPES = ("int", "float", "object")


def parse_types(text):
    """--types int,float,object: one per argument, as the evaluator would see them."""
    names = tuple(t.strip() for t in text.split(",")) if text.strip() else ()
    for name in names:
        if name not in EXPLAIN_TYPES:
            raise CommandLineError(f"--types: {name!r} is not one of {', '.join(EXPLAIN_TYPES)}", 2)
    return names


@command("explain", usage="[--types T,...] MODULE:FUNCTION",
         help="show what every pipeline stage makes of one function",
         arguments=[(("target",), dict(
             metavar="MODULE:FUNCTION",
             help="a function, as importable.module:name or path/to/file.py:name; "
                  "name may be dotted (Class.method)")),
                    (("--types",), dict(
             metavar="T,...", default=None,
             help="argument types to specialise for, one per argument: int, float or object "
                  "(default: none, as if the function had not been called yet)"))])
def _explain_command(ns, opts):
    import restrain
    _configure(restrain, opts)
    arg_types = parse_types(ns.types) if ns.types is not None else None
    func = resolve_function(ns.target)
    text = restrain.explain(func, arg_types)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()
    return 0


@command("cache", usage="info|clear",
         help="show (info) or empty (clear) the cache of compiled functions",
         arguments=[(("action",), dict(choices=["info", "clear"]))])
def _cache_command(ns, opts):
    from restrain import cache
    directory = (os.path.abspath(os.path.expanduser(opts.cache_dir)) if opts.cache_dir
                 else os.environ.get("RESTRAIN_CACHE_DIR") or cache.default_cache_dir())
    directory = cache.Path(directory)
    if ns.action == "clear":
        removed = cache.clear(directory)
        print(f"removed {removed} compiled functions from {directory}")
        return 0
    i = cache.info(directory)
    rate = "n/a" if i["hit_rate"] is None else f"{i['hit_rate']:.0%}"
    print(f"location:  {i['location']}{'' if i['exists'] else ' (does not exist yet)'}")
    if i["safe"] is False:
        print(f"warning:   {cache.unsafe_reason(directory)}: restrain will not use it")
    print(f"entries:   {i['entries']}")
    print(f"size:      {i['bytes'] / 1e6:.1f} MB")
    print(f"last runs: {i['runs']} (hits {i['hits']}, misses {i['misses']}, hit rate {rate})")
    return 0


# --------------------------------------------------------------------------
# Running a program like python does

def _set_path0(value, always=False):
    """Put `value` where Python put sys.path[0] (nothing under -P / -I)."""
    if sys.flags.safe_path and not always:
        return
    if sys.path and _STARTUP_PATH0 is not None and sys.path[0] == _STARTUP_PATH0:
        sys.path[0] = value
    else:
        sys.path.insert(0, value)


def _fresh_main(**extra):
    """Install a new `__main__` module like the one Python starts with."""
    import builtins
    import types
    from importlib.machinery import BuiltinImporter

    module = types.ModuleType("__main__")
    namespace = module.__dict__
    namespace["__annotations__"] = {}
    namespace["__builtins__"] = builtins
    namespace["__loader__"] = BuiltinImporter
    namespace.update(extra)
    sys.modules["__main__"] = module
    return module


def _is_pyc(path, head):
    from importlib.util import MAGIC_NUMBER
    return path.endswith(".pyc") or head[:2] == MAGIC_NUMBER[:2]


def _prepare_path(path, args):
    """Return a callable running the script, directory or zip file `path`.

    Errors Python reports before running anything (a missing file) are
    raised as CommandLineError here, before the JIT is enabled.
    """
    abs_path = path if os.path.isabs(path) else os.path.join(os.getcwd(), path)
    if os.path.isdir(abs_path) or _is_zip(abs_path):
        def run_importable():
            _fresh_main()
            sys.argv[:] = [path, *args]
            _set_path0(abs_path, always=True)
            import runpy
            runpy._run_module_as_main("__main__", alter_argv=False)
        return run_importable

    try:
        with open(abs_path, "rb") as f:
            data = f.read()
    except OSError as exc:
        program = sys.orig_argv[0] if getattr(sys, "orig_argv", None) else sys.executable
        raise CommandLineError(f"{program}: can't open file {abs_path!r}: "
                               f"[Errno {exc.errno}] {exc.strerror}", 2, bare=True)

    def run_file():
        from importlib.machinery import SourceFileLoader, SourcelessFileLoader
        if _is_pyc(abs_path, data):
            from importlib.util import MAGIC_NUMBER
            import marshal
            if data[:4] != MAGIC_NUMBER:
                raise RuntimeError("Bad magic number in .pyc file")
            loader = SourcelessFileLoader("__main__", abs_path)
        else:
            loader = SourceFileLoader("__main__", abs_path)
        main = _fresh_main(__file__=abs_path, __cached__=None, __loader__=loader)
        sys.argv[:] = [path, *args]
        _set_path0(os.path.dirname(os.path.realpath(abs_path)))
        if isinstance(loader, SourcelessFileLoader):
            code = marshal.loads(data[16:])
        else:
            code = compile(data, abs_path, "exec", dont_inherit=True)
        exec(code, main.__dict__)
    return run_file


def _is_zip(path):
    if not os.path.isfile(path) or path.endswith((".py", ".pyw")):
        return False
    import zipfile
    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def _prepare_source(source, filename, argv0, args, extra):
    def run_source():
        main = _fresh_main(**extra)
        sys.argv[:] = [argv0, *args]
        _set_path0("")
        code = compile(source, filename, "exec", dont_inherit=True)
        exec(code, main.__dict__)
    return run_source


def _prepare_module(name, args):
    def run_module():
        _fresh_main()
        sys.argv[:] = ["-m", *args]
        _set_path0(os.getcwd())
        import runpy
        # What `python -m` itself calls: same argv[0], same __main__, and
        # the same runpy frames in tracebacks.
        runpy._run_module_as_main(name, alter_argv=True)
    return run_module


def _enable(opts):
    import restrain
    try:
        _configure(restrain, opts)
        if not restrain.is_enabled():  # RESTRAIN=1 may have enabled it already
            restrain.enable()
    except Exception as exc:
        raise CommandLineError(
            f"could not enable the JIT: {type(exc).__name__}: {exc}")
    if opts.stats:
        import atexit
        # Registered before the program runs, so it runs after the program's
        # own exit handlers (and after the traceback of an uncaught exception).
        atexit.register(_print_stats, restrain)


def _print_stats(restrain):
    try:
        text = restrain.format_stats()
    except Exception as exc:
        text = f"restrain: could not format the statistics: {type(exc).__name__}: {exc}"
    stream = sys.stderr if sys.stderr is not None else sys.__stderr__
    if stream is None:
        return
    try:
        stream.write(text if text.endswith("\n") else text + "\n")
        stream.flush()
    except Exception:
        pass


def _silent_excepthook(exc_type, exc, tb):
    pass


def _show_uncaught(exc):
    """Report `exc` like Python's top level does, without restrain's frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_globals is _OWN_GLOBALS:
        tb = tb.tb_next
    exc.__traceback__ = tb
    sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, tb
    hook = getattr(sys, "excepthook", None)
    if hook is None:
        print("sys.excepthook is missing", file=sys.stderr)
        sys.__excepthook__(type(exc), exc, tb)
        return
    try:
        hook(type(exc), exc, tb)
    except BaseException as hook_exc:
        if isinstance(hook_exc, SystemExit):
            raise
        print("Error in sys.excepthook:", file=sys.stderr)
        sys.__excepthook__(type(hook_exc), hook_exc, hook_exc.__traceback__)
        print("\nOriginal exception was:", file=sys.stderr)
        sys.__excepthook__(type(exc), exc, tb)


def run_program(run, opts):
    """Enable the JIT and run the prepared program; return the exit status.
    With `warm`, wait afterwards for every compile the program queued."""
    try:
        return _run_program(run, opts)
    finally:
        if getattr(opts, "warm", False):
            import restrain
            restrain.wait()


def _run_program(run, opts):
    _enable(opts)
    try:
        run()
    except SystemExit:
        raise  # Python's top level prints the message / sets the status
    except BaseException as exc:
        _show_uncaught(exc)
        if isinstance(exc, KeyboardInterrupt):
            # Let Python's top level see the KeyboardInterrupt: after exit
            # handlers it kills the process with SIGINT, as for any program.
            sys.excepthook = _silent_excepthook
            raise
        return 1
    return 0


# --------------------------------------------------------------------------

def main(argv=None):
    """Entry point of `python -m restrain` and of the `restrain` script."""
    if argv is None:
        argv = sys.argv[1:]
    prog = _prog_name()
    parser = _option_parser(prog)
    head, rest, forced = split_argv(list(argv))
    opts = parser.parse_args(head)
    if not rest:
        parser.print_usage(sys.stderr)
        print(f"{prog}: error: no program given: a script, -m module, -c code, "
              f"or one of the commands {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    first, args = rest[0], rest[1:]
    opts.warm = False
    if not forced and first == "warm":
        # `warm PROGRAM...`: run it, then wait for every compile it queued,
        # so that later runs (production processes) start from the cache
        if not args:
            print(f"{prog}: error: warm needs a program: a script, -m module or -c code",
                  file=sys.stderr)
            return 2
        opts.warm = True
        first, args = args[0], args[1:]
    try:
        if not forced and first in COMMANDS:
            cmd = COMMANDS[first]
            return cmd.func(cmd.parser(prog).parse_args(args), opts)
        if not forced and first[:2] in ("-m", "-c"):
            option, value = first[:2], first[2:]
            if not value:
                if not args:
                    parser.print_usage(sys.stderr)
                    print(f"{prog}: error: argument expected for the {option} option",
                          file=sys.stderr)
                    return 2
                value, args = args[0], args[1:]
            if option == "-m":
                run = _prepare_module(value, args)
            else:
                run = _prepare_source(value, "<string>", "-c", args, {})
        elif not forced and first == "-":
            source = sys.stdin.buffer.read() if sys.stdin is not None else b""
            run = _prepare_source(source, "<stdin>", "-", args,
                                  {"__file__": "<stdin>", "__cached__": None})
        else:
            run = _prepare_path(first, args)
        return run_program(run, opts)
    except CommandLineError as exc:
        print(exc if exc.bare else f"restrain: error: {exc}", file=sys.stderr)
        return exc.status


if __name__ == "__main__":
    sys.exit(main())
