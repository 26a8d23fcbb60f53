"""The errors a user can cause, and the exit status the command line gives each.

Every mistake a user can make (a flag, a file, a model folder, a run directory) raises one of
these with a message that names the flag, file or value and says what to do; the command line
prints it as one ``error:`` line and exits with :attr:`TransencoderError.exit_code`. Anything
else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class TransencoderError(Exception):
    """Base of the errors a user can cause; ``exit_code`` is the command line's exit status."""

    exit_code = 1


class UsageError(TransencoderError, ValueError):
    """A flag or setting has a value that is not allowed (exit status 2, as argparse's)."""

    exit_code = 2


class InputError(TransencoderError):
    """A data file, model folder or run directory cannot be used as it is (exit status 1)."""

    exit_code = 1
