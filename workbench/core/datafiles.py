"""Reading and validating dataset files (.jsonl, .json, .csv, .tsv) into ``Example`` rows.

Bad input is refused, never silently trained on: every problem is collected with its 1-based
file line and reported at once in one ``DataError``, grouped by kind, e.g.
``lines 3, 7: empty "response"; line 9: not valid JSON (Expecting ',' delimiter at column 12)``.
The public entry points are re-exported by ``workbench.core.data``.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import WorkbenchError

MAX_CHARS = 20_000
"""Rows longer than this (all text fields together) are refused: almost surely not a training pair."""
PROMPT_NAMES = ("prompt", "instruction", "question", "input")
RESPONSE_NAMES = ("response", "output", "answer", "completion")
MESSAGE_NAMES = ("messages", "conversations")
SUFFIXES = (".jsonl", ".json", ".csv", ".tsv")
_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                   "system": "system", "model": "assistant", "bot": "assistant"}
_MAX_LINES_SHOWN = 8


class DataError(WorkbenchError):
    """The data cannot be used; the message names the file, the bad lines and what is wrong."""


@dataclass
class Example:
    """One training example. Exactly one form is set: prompt+response, messages, or text.

    ``line`` is where the row starts in its file (1-based), or its row number for hub data.
    """
    prompt: str | None = None
    response: str | None = None
    text: str | None = None
    messages: list[dict[str, str]] | None = None
    line: int = 0

    def chat(self) -> list[dict[str, str]] | None:
        """The example as chat turns (None for plain ``text`` examples)."""
        if self.messages is not None:
            return self.messages
        if self.prompt is None:
            return None
        turns = [{"role": "user", "content": self.prompt}]
        if self.response is not None:
            turns.append({"role": "assistant", "content": self.response})
        return turns


@dataclass
class RawRow:
    """A parsed row before validation: its line and its fields."""
    line: int
    values: dict[str, Any]


@dataclass
class Problems:
    """Collects (line, kind, detail) problems and raises one grouped DataError."""
    source: str
    unit: str = "line"
    items: list[tuple[int, str, str | None]] = field(default_factory=list)

    def add(self, line: int, kind: str, detail: str | None = None) -> None:
        self.items.append((line, kind, detail))

    def __bool__(self) -> bool:
        return bool(self.items)

    def message(self) -> str:
        groups: dict[str, list[tuple[int, str | None]]] = {}
        for line, kind, detail in sorted(self.items, key=lambda t: t[0]):
            groups.setdefault(kind, []).append((line, detail))
        parts = []
        for kind, hits in sorted(groups.items(), key=lambda kv: kv[1][0][0]):
            nums = sorted({line for line, _ in hits})
            shown = ", ".join(str(n) for n in nums[:_MAX_LINES_SHOWN])
            more = f" and {len(nums) - _MAX_LINES_SHOWN} more" if len(nums) > _MAX_LINES_SHOWN else ""
            label = self.unit if len(nums) == 1 else self.unit + "s"
            first = next((d for _, d in hits if d), None)
            detail = ""
            if first:
                detail = f" ({first})" if len(nums) == 1 else f" ({self.unit} {hits[0][0]}: {first})"
            parts.append(f"{label} {shown}{more}: {kind}{detail}")
        n = len({line for line, _, _ in self.items})
        return (f"{self.source}: {n} bad {self.unit}{'s' if n != 1 else ''}, so nothing was loaded. "
                + "; ".join(parts) + f". Fix or remove these {self.unit}s and load it again.")

    def raise_if_any(self) -> None:
        if self.items:
            raise DataError(self.message())


# --------------------------------------------------------------------------- decoding

def _decode(data: bytes, problems: Problems) -> list[str]:
    """Split into lines and decode each as UTF-8, reporting lines that are not."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = []
    for i, raw in enumerate(data.split(b"\n"), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            problems.add(i, "not valid UTF-8 text", f"byte 0x{raw[e.start]:02x} at column {e.start + 1}; "
                                                    "save the file as UTF-8")
            lines.append(raw.decode("utf-8", errors="replace"))
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def _json_error(e: json.JSONDecodeError) -> str:
    return f"{e.msg} at column {e.colno}"


def _object_or_problem(obj: Any, line: int, problems: Problems) -> RawRow | None:
    if isinstance(obj, dict):
        return RawRow(line, obj)
    problems.add(line, "not a JSON object", f"got {_type_name(obj)}; each row must be {{\"prompt\": ..., ...}}")
    return None


def _read_jsonl(lines: list[str], problems: Problems) -> list[RawRow]:
    rows = []
    for i, text in enumerate(lines, start=1):
        if not text.strip():
            continue  # blank lines (e.g. the trailing newline) are allowed
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            problems.add(i, "not valid JSON", _json_error(e))
            continue
        row = _object_or_problem(obj, i, problems)
        if row:
            rows.append(row)
    return rows


def _read_json_array(text: str, problems: Problems) -> list[RawRow]:
    """A JSON array of objects, keeping the line each element starts on."""
    dec = json.JSONDecoder()
    rows: list[RawRow] = []

    def skip(i: int) -> int:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        return i

    def line_of(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    i = skip(0) + 1  # past "["
    while True:
        i = skip(i)
        if i >= len(text):
            problems.add(line_of(len(text) - 1), "not valid JSON", "the array is never closed with ]")
            return rows
        if text[i] == "]":
            break
        try:
            obj, end = dec.raw_decode(text, i)
        except json.JSONDecodeError as e:
            problems.add(e.lineno, "not valid JSON", _json_error(e))
            return rows  # cannot find where the next element starts
        row = _object_or_problem(obj, line_of(i), problems)
        if row:
            rows.append(row)
        i = skip(end)
        if i < len(text) and text[i] == ",":
            i += 1
        elif i < len(text) and text[i] != "]":
            problems.add(line_of(i), "not valid JSON", "expected ',' or ']' between rows")
            return rows
    if skip(i + 1) < len(text):
        problems.add(line_of(skip(i + 1)), "not valid JSON", "extra text after the closing ]")
    return rows


def _read_delimited(lines: list[str], delimiter: str, problems: Problems) -> list[RawRow]:
    """CSV/TSV with a header row; each row remembers the line it starts on."""
    reader = csv.reader(io.StringIO("\n".join(lines), newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows = []
    prev = 0
    try:
        for cells in reader:
            start, prev = prev + 1, reader.line_num
            if not cells or all(not c.strip() for c in cells) and header is None:
                continue
            if header is None:
                header = [c.strip() for c in cells]
                continue
            if len(cells) > len(header):
                problems.add(start, "more values than the header has columns",
                             f"{len(cells)} values, {len(header)} columns; quote fields that contain "
                             f"'{delimiter}'")
                continue
            values = {h: (cells[k] if k < len(cells) else None) for k, h in enumerate(header)}
            rows.append(RawRow(start, values))
    except csv.Error as e:
        problems.add(reader.line_num, "not valid CSV", str(e))
    return rows


def read_rows(path: str | Path, problems: Problems | None = None) -> list[RawRow]:
    """Parse a .jsonl/.json/.csv/.tsv file into rows.

    Bad lines raise one DataError, or, when ``problems`` is given, are added to it so the caller
    can report them together with the problems it finds in the rows' fields.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"{p.name}: unsupported file type {suffix or '(none)'!r}; use one of "
                        f"{', '.join(SUFFIXES)} (JSON Lines is the usual choice).")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise DataError(f"Cannot read {p}: {e.strerror or e}") from None
    if not data.strip():
        raise DataError(f"{p.name} is empty: it has no rows.")
    collect = problems is not None
    problems = problems if collect else Problems(p.name)
    lines = _decode(data, problems)
    if suffix == ".jsonl" or suffix == ".json" and not "\n".join(lines).lstrip().startswith("["):
        rows = _read_jsonl(lines, problems)
    elif suffix == ".json":
        rows = _read_json_array("\n".join(lines), problems)
    else:
        rows = _read_delimited(lines, "\t" if suffix == ".tsv" else ",", problems)
    if not collect or not rows:
        problems.raise_if_any()
    if not rows:
        raise DataError(f"{p.name} has no rows (only a header or blank lines).")
    return rows


# --------------------------------------------------------------------------- rows -> examples

def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list",
            dict: "an object"}.get(type(v), type(v).__name__)


def _pick(keys: list[str], candidates: tuple[str, ...]) -> str | None:
    lowered = {k.lower(): k for k in reversed(keys)}
    return next((lowered[c] for c in candidates if c in lowered), None)


def _missing_columns(source: str, keys: list[str], wanted: list[str] | None = None) -> DataError:
    found = ", ".join(repr(k) for k in keys) or "none"
    if wanted:
        return DataError(f"{source}: column {' and '.join(repr(w) for w in wanted)} not found. "
                         f"Columns found: {found}.")
    return DataError(
        f"{source}: no usable columns. Columns found: {found}. Expected a prompt column "
        f"({'/'.join(PROMPT_NAMES)}) and a response column ({'/'.join(RESPONSE_NAMES)}), or a 'messages' "
        "column of chat turns, or a 'text' column. If yours are named differently, set "
        "data.prompt_column and data.response_column.")


def _text_field(row: RawRow, col: str, problems: Problems, allow_empty: bool = False) -> str | None:
    v = row.values.get(col)
    if v is None:
        problems.add(row.line, f"missing {col!r}")
        return None
    if not isinstance(v, str):
        problems.add(row.line, f"{col!r} is {_type_name(v)}, expected text")
        return None
    if not v.strip() and not allow_empty:
        problems.add(row.line, f"empty {col!r}")
        return None
    return v


def _messages_field(row: RawRow, col: str, problems: Problems) -> list[dict[str, str]] | None:
    v = row.values.get(col)
    if not isinstance(v, list) or not v:
        problems.add(row.line, f"{col!r} must be a non-empty list of {{role, content}} turns",
                     f"got {_type_name(v)}" if not isinstance(v, list) else "got an empty list")
        return None
    turns = []
    for t in v:
        if not isinstance(t, dict):
            problems.add(row.line, f"{col!r} holds a turn that is not an object")
            return None
        role = t.get("role", t.get("from"))
        content = t.get("content", t.get("value"))
        if not isinstance(role, str) or _SHAREGPT_ROLES.get(role.lower()) is None:
            problems.add(row.line, f"{col!r} has a turn with an unknown role",
                         f"got {role!r}; use system, user or assistant")
            return None
        if not isinstance(content, str):
            problems.add(row.line, f"{col!r} has a turn whose content is not text")
            return None
        if not content.strip():
            problems.add(row.line, f"{col!r} has an empty turn")
            return None
        turns.append({"role": _SHAREGPT_ROLES[role.lower()], "content": content})
    if not any(t["role"] == "assistant" for t in turns):
        problems.add(row.line, f"{col!r} has no assistant turn to learn from")
        return None
    return turns


def rows_to_examples(rows: list[RawRow], source: str, prompt_column: str | None = None,
                     response_column: str | None = None, unit: str = "line",
                     problems: Problems | None = None) -> list[Example]:
    """Detect the columns (or use the given ones), validate every row, and build Examples.

    Raises one DataError listing every bad row (plus any ``problems`` found earlier, e.g. while parsing).
    """
    problems = problems if problems is not None else Problems(source, unit)
    keys: list[str] = []
    for r in rows:
        keys.extend(k for k in r.values if k not in keys)
    for given in (prompt_column, response_column):
        if given and given not in keys:
            problems.raise_if_any()
            raise _missing_columns(source, keys, [given])
    pc = prompt_column or (None if response_column is None else _pick(keys, PROMPT_NAMES))
    rc = response_column or (None if prompt_column is None else _pick(keys, RESPONSE_NAMES))
    mc = tc = None
    if pc is None and rc is None:
        mc = _pick(keys, MESSAGE_NAMES)
        if mc is None:
            pc, rc = _pick(keys, PROMPT_NAMES), _pick(keys, RESPONSE_NAMES)
            if pc is None or rc is None:
                pc = rc = None
                tc = _pick(keys, ("text",))
    if mc is None and tc is None and (pc is None or rc is None):
        problems.raise_if_any()
        raise _missing_columns(source, keys)
    extra = _pick(keys, ("input",)) if pc is not None and pc.lower() == "instruction" else None

    out = []
    for row in rows:
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in row.values.values()):
            problems.add(row.line, "empty row")
            continue
        ex = Example(line=row.line)
        if mc:
            ex.messages = _messages_field(row, mc, problems)
            size = sum(len(t["content"]) for t in ex.messages or [])
        elif tc:
            ex.text = _text_field(row, tc, problems)
            size = len(ex.text or "")
        else:
            ex.prompt = _text_field(row, pc, problems)
            ex.response = _text_field(row, rc, problems)
            more = row.values.get(extra) if extra else None
            if ex.prompt is not None and isinstance(more, str) and more.strip():
                ex.prompt = f"{ex.prompt}\n\n{more}"  # Alpaca style: instruction + input
            size = len(ex.prompt or "") + len(ex.response or "")
        if size > MAX_CHARS:
            problems.add(row.line, f"too long (over {MAX_CHARS:,} characters)", f"{size:,} characters")
            continue
        if ex.messages is not None or ex.text is not None or (ex.prompt is not None and ex.response is not None):
            out.append(ex)
    problems.raise_if_any()
    return out
