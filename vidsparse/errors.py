"""User-facing errors: the CLI prints these as one line and exits with code 2."""

from __future__ import annotations

import difflib


class UserError(ValueError):
    """Bad input the user can fix (wrong name, missing file, value out of range).

    The message must name the problem and the fix on one line; the CLI prints it without a
    traceback. Library code raises it so callers from Python get an ordinary ValueError.
    """


def did_you_mean(name: str, choices: list[str] | tuple[str, ...], what: str) -> UserError:
    """Build an 'unknown X' error that lists close matches (or all valid names)."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"valid: {', '.join(sorted(choices))}"
    return UserError(f"unknown {what} {name!r}; {hint}")


def first_line(err: BaseException) -> str:
    """The first line of an error's message, or its type name when it has none."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def one_line(err: BaseException) -> str:
    """``Type: first line of the message`` (or just the type): an error fit for a one-line report."""
    return f"{type(err).__name__}: {first_line(err)}" if str(err).strip() else type(err).__name__
