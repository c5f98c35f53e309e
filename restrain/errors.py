"""Exceptions shared by the pipeline stages.

A stage that meets something it cannot compile raises `Unsupported` with a
short human reason ("opcode YIELD_VALUE", "generator"); the runtime records the
reason and leaves the function to the interpreter.  Any other exception from a
stage is a compile *failure* (a bug or an environment problem such as a
missing C compiler) and is recorded the same way, with its type and message.
"""


class Unsupported(Exception):
    """The function uses something this version of restrain does not compile."""

    @property
    def reason(self) -> str:
        return str(self)


class BuildError(Exception):
    """Cython, the C compiler or the loader failed; the message says which."""


class FrontEndFailed(Exception):
    """A front-end stage failed in the compile server (remote.py); the
    message names the stage, as the in-process pipeline's reason does."""
