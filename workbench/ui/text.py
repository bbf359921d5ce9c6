"""UI strings. Every label goes through ``t`` so a translation table can be added in one place."""
from __future__ import annotations


def t(text: str) -> str:
    """The display text for an English UI string (English for now; see issue on languages)."""
    return text
