"""restrain's logger, `logging.getLogger("restrain")`, imported on first use.

With RESTRAIN=1 every process imports restrain at start-up, and a warm start
loads compiled modules from the cache; most of those processes never log,
and importing logging (with traceback, string formatting ...) was a large
part of what restrain cost them.
"""
import sys


class _Logger:
    def debug(self, *args, **kwargs):
        self._below_warning("debug", args, kwargs)

    def info(self, *args, **kwargs):
        self._below_warning("info", args, kwargs)

    def _below_warning(self, level, args, kwargs):
        """Until the program imports logging no handler is set up, and a
        record with no handler goes to logging.lastResort, which prints
        WARNING and above only: a debug or info record then reaches no one."""
        if "logging" in sys.modules:
            self.__getattr__(level)(*args, **kwargs)

    def __getattr__(self, name):
        import logging
        try:
            return getattr(logging.getLogger("restrain"), name)
        except AttributeError:     # the program is importing logging right now
            return lambda *args, **kwargs: None


logger = _Logger()
