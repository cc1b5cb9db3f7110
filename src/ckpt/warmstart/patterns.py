"""Glob and regex patterns in assignment maps, expanded against a checkpoint's tensor names.

A glob key uses ``*`` (any characters within one ``/``-separated component) and ``**`` (one
or more whole components); the target names the captured parts with ``*``/``**`` in the
same order. As in shell globs, a wildcard does not match a component starting with ``.``
(``.ATTRIBUTES``, ``.OPTIMIZER_SLOT``) unless the pattern spells the dot (``.OPT*``). A
compiled :func:`re.compile` key matches whole names, dots included; its target is a
replacement template (``\\1``, ``\\g<name>``).
"""

from __future__ import annotations

import re
from typing import Any

from ckpt.errors import AssignmentMapError

__all__ = ["Pattern", "compile_pattern", "is_pattern"]

_WILDCARD = re.compile(r"\*\*|\*")


def is_pattern(key: Any) -> bool:
    """Whether an assignment-map key is a pattern rather than a name or a scope."""
    return isinstance(key, re.Pattern) or (isinstance(key, str) and "*" in key)


class Pattern:
    """One pattern key with its target template."""

    def __init__(self, key: str | re.Pattern[str], template: str) -> None:
        self.key = key
        self.template = template
        if isinstance(key, re.Pattern):
            self._regex = key
            self._glob_slots: list[str] | None = None
        else:
            self._regex, self._glob_slots = _glob_to_regex(key)
            wanted = _WILDCARD.findall(template)
            if wanted and wanted != self._glob_slots:
                raise AssignmentMapError(
                    f"assignment map pattern {key!r} -> {template!r}: the target's wildcards "
                    f"{wanted} must repeat the pattern's {self._glob_slots} in order"
                )

    @property
    def text(self) -> str:
        return self.key.pattern if isinstance(self.key, re.Pattern) else self.key

    def target_for(self, name: str) -> str | None:
        """The target name for checkpoint tensor ``name``, or ``None`` if it does not match."""
        match = self._regex.fullmatch(name)
        if match is None:
            return None
        if self._glob_slots is None:
            return match.expand(self.template)
        if any(_hides_dot(name, match, i + 1) for i in range(len(self._glob_slots))):
            return None
        captures = iter(match.groups())
        return _WILDCARD.sub(lambda _: next(captures), self.template)


def compile_pattern(key: str | re.Pattern[str], template: Any) -> Pattern:
    if not isinstance(template, str):
        raise AssignmentMapError(
            f"assignment map pattern {getattr(key, 'pattern', key)!r} must map to a name "
            f"template (a str), got {type(template).__name__}"
        )
    return Pattern(key, template)


def _glob_to_regex(glob: str) -> tuple[re.Pattern[str], list[str]]:
    out = []
    slots = []
    pos = 0
    for match in _WILDCARD.finditer(glob):
        out.append(re.escape(glob[pos : match.start()]))
        token = match.group()
        if token == "**" and not (
            (match.start() == 0 or glob[match.start() - 1] == "/")
            and (match.end() == len(glob) or glob[match.end()] == "/")
        ):
            raise AssignmentMapError(
                f"in assignment map pattern {glob!r}, '**' stands for whole components and "
                "must be one by itself (a/**/kernel); use '*' within a component (a/b*)"
            )
        slots.append(token)
        out.append("(.+)" if token == "**" else "([^/]*)")
        pos = match.end()
    out.append(re.escape(glob[pos:]))
    return re.compile("".join(out), re.DOTALL), slots


def _hides_dot(name: str, match: re.Match[str], group: int) -> bool:
    """Whether wildcard ``group`` matched the leading ``.`` of a component."""
    start, stop = match.span(group)
    text = name[start:stop]
    at_component_start = start == 0 or name[start - 1] == "/"
    return (at_component_start and text.startswith(".")) or "/." in text
