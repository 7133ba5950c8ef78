"""The errors that are a user's mistake, not the oracle's: each becomes one line and exit code 2."""


class UsageError(Exception):
    """Something the user asked for cannot be done as asked (unknown target, op, dtype, option)."""


class TargetError(UsageError):
    """A target that names no plugin, module or file, or one that cannot be loaded."""


class SpecError(UsageError, ValueError):
    """A spec that cannot be used as written, or an op name the catalogue does not have."""
