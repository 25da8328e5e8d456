"""Asking at the terminal before a command does something that cannot be undone.

With `--yes` nothing is asked. Without it, the command shows what it will do and waits
for "yes"; when standard input is not a terminal (a script, cron, a pipe) nobody can
answer, so the command refuses instead of guessing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

YES = frozenset({"y", "yes", "是"})


class NotConfirmed(Exception):
    """The action was not confirmed; nothing was changed. `status` is the exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def confirm(
    what: Sequence[str],
    *,
    yes: bool,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> None:
    """Return when the action may go ahead; raise NotConfirmed otherwise."""
    if yes:
        return
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    if not _interactive(stdin):
        raise NotConfirmed(
            "this cannot be undone and standard input is not a terminal, so nobody can "
            "confirm it: run the command again with --yes. Nothing was changed",
            2,
        )
    for line in what:
        print(line, file=stdout)
    print("This cannot be undone. Type yes to go ahead: ", end="", file=stdout, flush=True)
    answer = stdin.readline()
    if answer.strip().lower() not in YES:
        if not answer:  # end of input: finish the prompt's line
            print(file=stdout)
        raise NotConfirmed("not confirmed; nothing was changed", 1)


def _interactive(stdin: TextIO) -> bool:
    try:
        return stdin.isatty()
    except (AttributeError, ValueError):  # closed, or a stand-in without isatty
        return False
