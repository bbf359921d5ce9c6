"""The one answer to "does this name look like a file-system path?" (models, datasets, workspace policy).

Names the workbench takes (``model.name``, ``data.name``) are a preset / shipped name, a Hugging Face Hub id
(``org/name``) or a path. A name is a path when it starts like one (``/``, ``./``, ``../``, ``~``, ``\\``), is
``.`` or ``..``, ends with a file suffix the workbench reads (``.json``, ``.jsonl``, ``.csv``, ``.tsv``), or names
something that exists on this machine. Everything else is left to the Hub.

On a public server (``env.is_public()``: WORKBENCH_PUBLIC=1 or SPACE_ID set) a name spelled like a hub id is always
a hub id: the server's disk is never consulted for it, so a visitor cannot probe which folders exist.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The checkout the package runs from: shipped presets, datasets and the default runs folder are found from it."""
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


_HUB_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def looks_like_hub_id(name: str | None) -> bool:
    """True if ``name`` is spelled like a Hugging Face Hub id (``name`` or ``org/name``), whatever is on disk."""
    name = (name or "").strip()
    if not name or name.startswith(PATH_PREFIXES) or "\\" in name or "://" in name:
        return False
    parts = name.split("/")
    if len(parts) > 2 or any(not _HUB_PART.match(p) or ".." in p for p in parts):
        return False
    return os.path.splitext(name)[1].lower() not in FILE_SUFFIXES
