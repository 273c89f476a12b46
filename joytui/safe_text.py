"""Text from outside (config names, anything a server sends) made safe to draw.

A terminal obeys control characters: ESC starts a sequence that can clear the screen or set
the window title, ``\\r`` and ``\\b`` overwrite what was drawn. Bidi overrides reorder what
follows them and zero-width characters hide inside names. :func:`printable` shows each of
them as a visible escape (``\\x1b``, ``\\u202e``) instead, so what is drawn is what was sent.
Rich markup is a separate matter: draw outside text as ``Text``/``Segment``, never as markup.
"""

from __future__ import annotations

import re

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_INVISIBLE = [
    *range(0x00, 0x20),
    0x7F,
    *range(0x80, 0xA0),
    0x061C,  # Arabic letter mark
    0x200B,  # zero-width space, non-joiner, joiner, LRM, RLM
    0x200C,
    0x200D,
    0x200E,
    0x200F,
    *range(0x202A, 0x202F),  # embeddings and overrides
    0x2060,  # word joiner
    *range(0x2066, 0x206A),  # isolates
    0xFEFF,  # zero-width no-break space
]


def _escape(code: int) -> str:
    char = chr(code)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_TABLE = {code: _escape(code) for code in _INVISIBLE}
_UNSAFE = re.compile("[" + "".join(re.escape(chr(c)) for c in _INVISIBLE) + "]")


def printable(text: str) -> str:
    """``text`` with every control, bidi and zero-width character shown as an escape."""
    if _UNSAFE.search(text) is None:  # the common case: nothing to replace, no copy
        return text
    return text.translate(_TABLE)


def is_printable(text: str) -> bool:
    """True when :func:`printable` would leave ``text`` as it is."""
    return _UNSAFE.search(text) is None
