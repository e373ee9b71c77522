"""The one base class for errors caused by the user's input (a setting, a file, a command line).

Entry points print such an error as one message and exit with status 2; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

BAD_INPUT_EXIT = 2  # the exit status of a run or tool refused for bad input


class UserError(Exception):
    """Bad input; the message names the setting or file at fault and how to fix it."""


class ConfigError(UserError, ValueError):
    """Settings that cannot work; nothing has run yet."""
