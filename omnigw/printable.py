"""Which characters omnigw accepts in text from outside: what a screen can show.

Alert texts are broadcast to every phone in an area and CRM fields end up in logs,
exports and other systems' screens. Control characters (NUL, ESC, BEL, DEL, C1) and
the bidirectional overrides, which make a text display differently from what it says,
have no place there; line breaks and tabs do.
"""

from __future__ import annotations

import re

# C0 but tab, LF and CR; DEL and C1; the bidirectional embeddings, overrides and isolates.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def unprintable(text: str) -> str | None:
    """Why `text` is refused (naming the first bad character and where), or None."""
    found = _UNPRINTABLE.search(text)
    if found is None:
        return None
    return f"character U+{ord(found.group()):04X} at position {found.start()} is not allowed"
