"""User-facing failures: one line naming the cause and the fix, never a traceback."""

import sys
from collections.abc import Callable


class UserError(Exception):
    """A mistake a user can make and fix (bad params, unreadable input, missing GPU)."""


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's main(); a UserError ends it with one line on stderr and exit status 2.

    Internal bugs are not caught: their traceback is what a developer needs.
    """
    try:
        main()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
