"""The filter language of the dashboard's ``/`` (and, later, ``joytui list``).

``web status:error provider:joy`` keeps the resources whose name, id, ip, place, account or
provider state contain ``web`` and whose status contains ``error`` and provider ``joy``.
Matching is case-insensitive and by substring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from joytui.model import Resource

FIELDS: dict[str, Callable[[Resource], str]] = {
    "provider": lambda r: r.provider,
    "account": lambda r: r.account,
    "kind": lambda r: r.kind,
    "status": lambda r: r.status.value,
    "name": lambda r: r.name,
    "ip": lambda r: r.ip or "",
    "state": lambda r: r.raw_status or "",
}
"""``field:value`` terms: the field's name -> how to read it from a resource."""


def _haystack(r: Resource) -> str:
    # Joy keeps the machine number searchable once the name is the VM's (detail["machine"]).
    machine = r.detail.get("machine")
    return " ".join(
        (
            r.name,
            r.id,
            r.ip or "",
            r.location or "",
            r.account,
            r.raw_status or "",
            str(machine or ""),
        )
    ).lower()


@dataclass(frozen=True)
class Query:
    """A parsed filter: plain words and ``field:value`` terms, all of which must match."""

    text: str = ""
    words: tuple[str, ...] = ()
    fields: tuple[tuple[str, str], ...] = ()
    unknown_fields: tuple[str, ...] = ()
    """``foo:bar`` terms whose field is not in :data:`FIELDS` (matched as plain words)."""

    @classmethod
    def parse(cls, text: str) -> Query:
        """Read a filter as typed."""
        words: list[str] = []
        fields: list[tuple[str, str]] = []
        unknown: list[str] = []
        for word in text.lower().split():
            key, colon, value = word.partition(":")
            if colon and key in FIELDS:
                fields.append((key, value))
            else:
                if colon and key and value:
                    unknown.append(key)
                words.append(word)
        return cls(text, tuple(words), tuple(fields), tuple(unknown))

    @property
    def empty(self) -> bool:
        """True when the filter keeps everything."""
        return not (self.words or self.fields)

    def matches(self, r: Resource) -> bool:
        """True when ``r`` passes every term of the filter."""
        for key, value in self.fields:
            if value not in FIELDS[key](r).lower():
                return False
        if self.words:
            hay = _haystack(r)
            return all(w in hay for w in self.words)
        return True
