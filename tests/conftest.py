"""Shared set-up: the tests run against the *installed* restrain.

`pip install .` puts restrain (with its compiled `_hook` extension) into
site-packages.  Run from the repository root, `python -m pytest` puts the
root on sys.path first, where the checkout's `restrain/` directory would
shadow the installed package.  So before any test imports restrain, this file
drops the checkout from sys.path; test modules and subprocesses (which run in
temporary directories, without PYTHONPATH) then import the installed copy.
An editable install (`pip install -e .`) is found through its own import hook
and works as well.  The pytest header says which restrain is under test, and
warns when the installed copy's Python files differ from the checkout's
(run `pip install .` again to test a change).

With no installed restrain at all, a checkout whose `_hook` extension is built
in place (`python setup.py build_ext --inplace`) is tested instead, through
sys.path and PYTHONPATH; tests that need the installation itself (the .pth
start-up file) are skipped then.  With neither, the run stops with a message.

Every subprocess gets RESTRAIN_CACHE_DIR pointing at one temporary directory
for the session, so tests never touch the user's cache.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CHECKOUT_PACKAGE = ROOT / "restrain"


def _is_checkout(entry):
    try:
        return Path(entry or os.curdir).resolve() == ROOT
    except OSError:
        return False


sys.path[:] = [entry for entry in sys.path if not _is_checkout(entry)]

_spec = importlib.util.find_spec("restrain")
if _spec is not None and _spec.origin is not None:
    INSTALLED_AT = Path(_spec.origin).resolve().parent
    MODE = "editable" if INSTALLED_AT == CHECKOUT_PACKAGE else "installed"
elif list(CHECKOUT_PACKAGE.glob("_hook.*")):
    sys.path.insert(0, str(ROOT))
    INSTALLED_AT = CHECKOUT_PACKAGE
    MODE = "checkout"
else:
    pytest.exit("restrain is not installed: run `pip install '.[test]'` from the "
                "repository root first (see README.md)", returncode=4)

needs_install = pytest.mark.skipif(
    MODE == "checkout", reason="needs restrain installed with pip (the .pth file)")


def _differing_files():
    if MODE != "installed":
        return []
    differ = []
    for source in sorted(CHECKOUT_PACKAGE.rglob("*.py")):
        relative = source.relative_to(CHECKOUT_PACKAGE)
        installed = INSTALLED_AT / relative
        try:
            same = installed.read_bytes() == source.read_bytes()
        except OSError:
            same = False
        if not same:
            differ.append(str(relative))
    return differ


def pytest_report_header(config):
    lines = [f"restrain under test: {INSTALLED_AT} ({MODE})"]
    differ = _differing_files()
    if differ:
        lines.append(f"WARNING: the installed restrain differs from the checkout in "
                     f"{', '.join(differ)}: run `pip install .` to test the checkout")
    return lines


def clean_env(**extra):
    """os.environ without RESTRAIN* and PYTHON* variables, plus `extra`."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("RESTRAIN", "PYTHON"))}
    env["PYTHONIOENCODING"] = "utf-8"
    if MODE == "checkout":
        env["PYTHONPATH"] = str(ROOT)
    env.update({key: str(value) for key, value in extra.items()})
    return env


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("restrain-cache")


@pytest.fixture
def run_python(tmp_path, cache_dir):
    """run_python(*args, cwd=tmp_path, env=None, input=None) -> CompletedProcess.

    Runs `sys.executable *args` with text output captured.
    """
    def run(*args, cwd=None, env=None, input=None, timeout=600):
        if env is None:
            env = clean_env()
        env.setdefault("RESTRAIN_CACHE_DIR", str(cache_dir))
        return subprocess.run(
            [sys.executable, *map(str, args)],
            cwd=str(cwd or tmp_path), env=env, input=input,
            capture_output=True, text=True, encoding="utf-8", timeout=timeout)
    return run
