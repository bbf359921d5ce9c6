"""Reading and validating dataset files (.jsonl, .json, .csv, .tsv) into ``Example`` rows.

Bad input is refused, never silently trained on: every problem is collected with its 1-based
file line and reported at once in one ``DataError``, grouped by kind, e.g.
``lines 3, 7: empty "response"; line 9: not valid JSON (Expecting ',' delimiter at column 12)``.
The public entry points are re-exported by ``workbench.core.data.datasets``.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.messages import Message, joined

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
    """Collects (line, kind, detail) problems and raises one grouped DataError. ``kind`` is a Message
    (data.problem.*); ``detail`` a Message, a text (e.g. the csv module's) or None."""
    source: str
    unit: str = "line"
    items: list[tuple[int, Message, Message | str | None]] = field(default_factory=list)

    def add(self, line: int, kind: Message, detail: Message | str | None = None) -> None:
        self.items.append((line, kind, detail))

    def __bool__(self) -> bool:
        return bool(self.items)

    def _unit(self, plural: bool) -> Message:
        return Message(f"data.unit_{self.unit}{'s' if plural else ''}")

    def _params(self) -> dict[str, Any]:
        """The parameters of the grouped data.bad_lines message: each kind of problem with its lines."""
        groups: dict[str, tuple[Message, list[tuple[int, Message | str | None]]]] = {}
        for line, kind, detail in sorted(self.items, key=lambda t: t[0]):
            groups.setdefault(kind.render(), (kind, []))[1].append((line, detail))
        parts = []
        for kind, hits in sorted(groups.values(), key=lambda g: g[1][0][0]):
            nums = sorted({line for line, _ in hits})
            more = Message("data.and_more", {"n": len(nums) - _MAX_LINES_SHOWN}) if len(nums) > _MAX_LINES_SHOWN else ""
            first = next((d for _, d in hits if d), None)
            detail: Message | str = ""
            if first:
                detail = (Message("data.detail", {"detail": first}) if len(nums) == 1 else
                          Message("data.detail_at", {"unit": self._unit(False), "line": hits[0][0], "detail": first}))
            parts.append(Message("data.problem_at", {
                "unit": self._unit(len(nums) != 1), "lines": ", ".join(str(n) for n in nums[:_MAX_LINES_SHOWN]),
                "more": more, "kind": kind, "detail": detail}))
        n = len({line for line, _, _ in self.items})
        return {"source": self.source, "n": n, "unit": self._unit(n != 1), "problems": joined(parts),
                "units": self._unit(True)}

    def message(self) -> Message:
        """The grouped message: every kind of problem with the lines that have it."""
        return Message("data.bad_lines", self._params())

    def raise_if_any(self) -> None:
        if self.items:
            raise DataError("data.bad_lines", **self._params())


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
            problems.add(i, Message("data.problem.utf8"),
                         Message("data.problem.utf8_detail", {"byte": f"{raw[e.start]:02x}", "column": e.start + 1}))
            lines.append(raw.decode("utf-8", errors="replace"))
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


_JSON_REASONS = {
    "Expecting value": "data.json.expecting_value", "Extra data": "data.json.extra_data",
    "Expecting ',' delimiter": "data.json.expecting_comma", "Expecting ':' delimiter": "data.json.expecting_colon",
    "Unterminated string starting at": "data.json.unterminated_string",
    "Expecting property name enclosed in double quotes": "data.json.property_name",
    "Invalid control character at": "data.json.control_character", "Invalid \\escape": "data.json.escape",
}
"""Python's json parser messages -> catalogue ids (others are shown as the parser words them)."""


def _json_error(e: json.JSONDecodeError) -> Message:
    reason = Message(_JSON_REASONS[e.msg]) if e.msg in _JSON_REASONS else e.msg
    return Message("data.problem.json_detail", {"reason": reason, "column": e.colno})


def _object_or_problem(obj: Any, line: int, problems: Problems) -> RawRow | None:
    if isinstance(obj, dict):
        return RawRow(line, obj)
    problems.add(line, Message("data.problem.not_object"),
                 Message("data.problem.not_object_detail", {"type": _type_name(obj)}))
    return None


def _read_jsonl(lines: list[str], problems: Problems) -> list[RawRow]:
    rows = []
    for i, text in enumerate(lines, start=1):
        if not text.strip():
            continue  # blank lines (e.g. the trailing newline) are allowed
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            problems.add(i, Message("data.problem.json"), _json_error(e))
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
            problems.add(line_of(len(text) - 1), Message("data.problem.json"), Message("data.problem.array_unclosed"))
            return rows
        if text[i] == "]":
            break
        try:
            obj, end = dec.raw_decode(text, i)
        except json.JSONDecodeError as e:
            problems.add(e.lineno, Message("data.problem.json"), _json_error(e))
            return rows  # cannot find where the next element starts
        row = _object_or_problem(obj, line_of(i), problems)
        if row:
            rows.append(row)
        i = skip(end)
        if i < len(text) and text[i] == ",":
            i += 1
        elif i < len(text) and text[i] != "]":
            problems.add(line_of(i), Message("data.problem.json"), Message("data.problem.array_separator"))
            return rows
    if skip(i + 1) < len(text):
        problems.add(line_of(skip(i + 1)), Message("data.problem.json"), Message("data.problem.array_extra"))
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
                problems.add(start, Message("data.problem.too_many_values"), Message(
                    "data.problem.too_many_values_detail",
                    {"values": len(cells), "columns": len(header), "delimiter": delimiter}))
                continue
            values = {h: (cells[k] if k < len(cells) else None) for k, h in enumerate(header)}
            rows.append(RawRow(start, values))
    except csv.Error as e:
        problems.add(reader.line_num, Message("data.problem.csv"), str(e))
    return rows


def read_rows(path: str | Path, problems: Problems | None = None) -> list[RawRow]:
    """Parse a .jsonl/.json/.csv/.tsv file into rows.

    Bad lines raise one DataError, or, when ``problems`` is given, are added to it so the caller
    can report them together with the problems it finds in the rows' fields.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError("data.unsupported_type", name=p.name, suffix=suffix or "(none)", choices=", ".join(SUFFIXES))
    try:
        data = p.read_bytes()
    except OSError as e:
        raise DataError("data.cannot_read", path=str(p), detail=str(e.strerror or e)) from None
    if not data.strip():
        raise DataError("data.empty_file", name=p.name)
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
        raise DataError("data.no_rows", name=p.name)
    return rows


# --------------------------------------------------------------------------- rows -> examples

def _type_name(v: Any) -> Message | str:
    if v is None:
        return Message("data.type.null")
    key = {bool: "bool", int: "number", float: "number", str: "text", list: "list", dict: "object"}.get(type(v))
    return Message(f"data.type.{key}") if key else type(v).__name__


def _pick(keys: list[str], candidates: tuple[str, ...]) -> str | None:
    lowered = {k.lower(): k for k in reversed(keys)}
    return next((lowered[c] for c in candidates if c in lowered), None)


def _missing_columns(source: str, keys: list[str], wanted: list[str] | None = None) -> DataError:
    found = ", ".join(repr(k) for k in keys) or Message("data.none")
    if wanted:
        return DataError("data.column_not_found", source=source, columns=" and ".join(repr(w) for w in wanted),
                         found=found)
    return DataError("data.no_usable_columns", source=source, found=found, prompts="/".join(PROMPT_NAMES),
                     responses="/".join(RESPONSE_NAMES))


def _text_field(row: RawRow, col: str, problems: Problems, allow_empty: bool = False) -> str | None:
    v = row.values.get(col)
    if v is None:
        problems.add(row.line, Message("data.problem.missing", {"column": col}))
        return None
    if not isinstance(v, str):
        problems.add(row.line, Message("data.problem.not_text", {"column": col, "type": _type_name(v)}))
        return None
    if not v.strip() and not allow_empty:
        problems.add(row.line, Message("data.problem.empty_field", {"column": col}))
        return None
    return v


def _messages_field(row: RawRow, col: str, problems: Problems) -> list[dict[str, str]] | None:
    v = row.values.get(col)
    if not isinstance(v, list) or not v:
        problems.add(row.line, Message("data.problem.turns", {"column": col}),
                     Message("data.problem.got", {"type": _type_name(v)}) if not isinstance(v, list)
                     else Message("data.problem.got_empty_list"))
        return None
    turns = []
    for t in v:
        if not isinstance(t, dict):
            problems.add(row.line, Message("data.problem.turn_not_object", {"column": col}))
            return None
        role = t.get("role", t.get("from"))
        content = t.get("content", t.get("value"))
        if not isinstance(role, str) or _SHAREGPT_ROLES.get(role.lower()) is None:
            problems.add(row.line, Message("data.problem.unknown_role", {"column": col}),
                         Message("data.problem.unknown_role_detail", {"role": role}))
            return None
        if not isinstance(content, str):
            problems.add(row.line, Message("data.problem.content_not_text", {"column": col}))
            return None
        if not content.strip():
            problems.add(row.line, Message("data.problem.empty_turn", {"column": col}))
            return None
        turns.append({"role": _SHAREGPT_ROLES[role.lower()], "content": content})
    if not any(t["role"] == "assistant" for t in turns):
        problems.add(row.line, Message("data.problem.no_assistant", {"column": col}))
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
            problems.add(row.line, Message("data.problem.empty_row"))
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
            problems.add(row.line, Message("data.problem.too_long", {"limit": MAX_CHARS}),
                         Message("data.problem.size", {"size": size}))
            continue
        if ex.messages is not None or ex.text is not None or (ex.prompt is not None and ex.response is not None):
            out.append(ex)
    problems.raise_if_any()
    return out
