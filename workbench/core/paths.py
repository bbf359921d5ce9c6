"""The one answer to "does this name look like a file-system path?" (models, datasets, workspace policy).

Names the workbench takes (``model.name``, ``data.name``) are a preset / shipped name, a Hugging Face Hub id
(``org/name``) or a path. A name is a path when it starts like one (``/``, ``./``, ``../``, ``~``, ``\\``), is
``.`` or ``..``, ends with a file suffix the workbench reads (``.json``, ``.jsonl``, ``.csv``, ``.tsv``), or names
something that exists on this machine. Everything else is left to the Hub.
"""
from __future__ import annotations

import os

PATH_PREFIXES = ("/", "./", "../", "~", "\\", ".\\", "..\\")
FILE_SUFFIXES = (".json", ".jsonl", ".csv", ".tsv")


def looks_like_path(name: str | None) -> bool:
    """True if ``name`` is meant as a file or folder on this machine (see the module docstring)."""
    name = (name or "").strip()
    if not name:
        return False
    if name in (".", "..") or name.startswith(PATH_PREFIXES):
        return True
    if os.path.splitext(name)[1].lower() in FILE_SUFFIXES:
        return True
    return os.path.exists(os.path.expanduser(name))
