"""The two ways a run ends early: raised where they are found, turned into exit statuses (2 and 1) by
the command line."""


class UsageError(Exception):
    """A bad argument, found before any scoring starts (exit status 2)."""


class RunStopped(Exception):
    """The run cannot go on (the endpoint unreachable, or refusing us); the rows written stay."""
