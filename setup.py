"""Build and install restrain.

`pip install .` builds the C extension `restrain._hook` (the PEP 523 frame
evaluator, from csrc/hook.c) and installs, besides the package, one file at
the top of site-packages: `restrain-autoenable.pth`.  Python runs the `import`
line of every .pth file in site-packages at start-up; ours only reads the
environment and imports `restrain._startup` (which enables the JIT) when
RESTRAIN is set to a true value, so an interpreter started without RESTRAIN
pays for one dictionary lookup.

Two build details:

* `build_py` copies the .pth file into the root of build_lib; everything in
  that root ends up in the root of the wheel, which pip unpacks into
  site-packages.
* `build_ext` also copies the built extension next to the sources in the
  checkout (like `build_ext --inplace`) when it builds inside a checkout, so
  that `python -m restrain ...` run from the repository root, where the
  checkout's `restrain/` directory comes first on sys.path, finds `_hook`
  too.  Set RESTRAIN_NO_INPLACE_COPY=1 to skip that copy.
"""

import os
import re
import shutil
import sys
from glob import glob

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PTH_FILE = "restrain-autoenable.pth"


def read_version():
    """`__version__` from restrain/__init__.py when it defines one."""
    try:
        with open(os.path.join(HERE, "restrain", "__init__.py"), encoding="utf-8") as f:
            match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", f.read(), re.M)
    except OSError:
        match = None
    return match.group(1) if match else "0.1.0.dev0"


def read_readme():
    try:
        with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


class BuildPyWithPth(build_py):
    """build_py that also puts the start-up .pth file at the root of build_lib."""

    def run(self):
        super().run()
        self.copy_file(os.path.join(HERE, PTH_FILE), self._pth_target(), preserve_mode=0)

    def _pth_target(self):
        target_dir = self.build_lib
        if getattr(self, "editable_mode", False):
            # `pip install -e .`: setuptools builds the editable wheel from
            # the directory the install command points at, not from build_lib.
            install = self.distribution.get_command_obj("install")
            target_dir = getattr(install, "install_lib", None) or target_dir
        return os.path.join(target_dir, PTH_FILE)

    def get_outputs(self, include_bytecode=1):
        return list(super().get_outputs(include_bytecode)) + [self._pth_target()]


class BuildExtAlsoInPlace(build_ext):
    """build_ext that also drops a copy of each built extension in the checkout."""

    def run(self):
        super().run()
        if self.inplace or os.environ.get("RESTRAIN_NO_INPLACE_COPY"):
            return
        for ext in self.extensions:
            built = self.get_ext_fullpath(ext.name)
            parts = ext.name.split(".")
            target_dir = os.path.join(HERE, *parts[:-1])
            target = os.path.join(target_dir, os.path.basename(built))
            if not os.path.isdir(target_dir) or not os.path.exists(built):
                continue
            try:
                if os.path.abspath(built) != os.path.abspath(target):
                    shutil.copyfile(built, target + ".tmp")
                    os.replace(target + ".tmp", target)
            except OSError as exc:  # a read-only checkout is fine
                print(f"note: could not copy {ext.name} into the checkout: {exc}",
                      file=sys.stderr)


hook = Extension(
    "restrain._hook",
    sources=["csrc/hook.c"],
    include_dirs=["restrain/include"],
    depends=sorted(glob("csrc/*.h") + glob("restrain/include/*.h")),
)

setup(
    name="restrain",
    version=read_version(),
    description="A whole-process JIT for CPython 3.11: hot functions are "
                "compiled bytecode -> Cython -> C and run in place of the interpreter",
    long_description=read_readme(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["restrain", "restrain.*"]),
    package_data={"restrain": ["include/*.h", "include/*.pxd"]},
    # The evaluator depends on CPython 3.11's frame layout: on other versions
    # restrain installs without it, and enable() warns and does nothing.
    ext_modules=[hook] if sys.version_info[:2] == (3, 11) else [],
    install_requires=["Cython>=3.1", "psutil"],
    extras_require={"test": ["pytest", "hypothesis"]},
    entry_points={"console_scripts": ["restrain = restrain.__main__:main"]},
    cmdclass={"build_py": BuildPyWithPth, "build_ext": BuildExtAlsoInPlace},
    zip_safe=False,
    classifiers=[
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: Implementation :: CPython",
        "Operating System :: POSIX :: Linux",
    ],
)
