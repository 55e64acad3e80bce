"""The error the command line turns into one clear line and exit code 2.

Every part raises `UserError` (or a subclass) for bad input it can name: a missing file, a
tampered target, a version that goes backwards. Anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Bad input from the user or the outside world; the message names the problem."""

    exit_code = 2
