"""restrain's logger, `logging.getLogger("restrain")`, imported on first use.

With RESTRAIN=1 every process imports restrain at start-up, and a warm start
loads compiled modules from the cache; most of those processes never log,
and importing logging (with traceback, string formatting ...) was a large
part of what restrain cost them.
"""


class _Logger:
    def __getattr__(self, name):
        import logging
        try:
            return getattr(logging.getLogger("restrain"), name)
        except AttributeError:     # the program is importing logging right now
            return lambda *args, **kwargs: None


logger = _Logger()
