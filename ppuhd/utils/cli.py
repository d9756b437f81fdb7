"""Shared plumbing of the thin tools/ CLIs."""
import sys
from typing import Callable, List, Optional

# Errors that mean "bad input": shown as one clear line instead of a stack trace.
USER_ERRORS = (FileNotFoundError, NotADirectoryError, KeyError, ValueError, OSError, ImportError,
               FloatingPointError)


def run(main: Callable[[Optional[List[str]]], int]) -> None:
    """Run a tool's ``main`` and exit with its status; user errors exit 2 with their message."""
    try:
        sys.exit(main(None))
    except USER_ERRORS as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f'error: {message}', file=sys.stderr)
        sys.exit(2)
