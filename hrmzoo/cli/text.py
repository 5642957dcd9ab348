"""Plain text for the terminal: docstrings are reST (for the docs site), help is not."""

from __future__ import annotations

import argparse
import re

# :mod:`x`, :class:`~a.b.C`, :func:`f` -> the name (a leading ~ shows the last part only)
_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")


def plain(text: str | None) -> str:
    """`text` without reST markup: roles become the name, double backticks go."""
    if not text:
        return ""

    def role(m: re.Match) -> str:
        name = m.group(1)
        return name.rsplit(".", 1)[-1] if m.group(0).startswith(":") and "`~" in m.group(0) else name

    text = _ROLE.sub(role, text)
    text = _LITERAL.sub(r"\1", text).replace("``", "")  # a stray half of a pair (a docstring cut short) too
    return text.replace("::\n", ":\n")


def description(doc: str | None) -> str | None:
    """A command module's docstring after its first paragraph (the usage line), as plain text."""
    if not doc or "\n\n" not in doc:
        return None
    return plain(doc.split("\n\n", 1)[1]).strip()


def usage_line(doc: str | None) -> str | None:
    """The usage in a command module's first docstring line: `hrmzoo build RECIPE ...`."""
    match = _LITERAL.match(doc.strip()) if doc else None
    return match.group(1) if match and match.group(1).startswith("hrmzoo ") else None


class PlainFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's paragraphs and line breaks, drops reST markup everywhere."""

    def _format_text(self, text: str) -> str:
        return super()._format_text(plain(text))

    def _expand_help(self, action: argparse.Action) -> str:
        return plain(super()._expand_help(action))

    def _format_usage(self, usage, actions, groups, prefix) -> str:
        return plain(super()._format_usage(usage, actions, groups, prefix))
