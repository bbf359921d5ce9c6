"""Datasets: shipped presets, uploaded files and hub datasets; chat templates and the loss mask.

- ``load_examples(spec, split)`` reads a shipped dataset (presets/datasets/<name>), a .jsonl/.json/
  .csv/.tsv file (or a folder with train.* and test.*), or a hub dataset id when online. Bad rows are
  refused with a ``DataError`` naming their line numbers (see ``dataset_files.py``).
- ``encode`` renders one example with the tokenizer's chat template and sets ``labels`` to -100
  on every token that carries no loss (by default: everything before the assistant's answer).
- ``build_datasets`` turns a DataSpec into ``datasets.Dataset`` objects ready for the Trainer; ``make_collator`` pads
  batches; ``render_prompt`` gives the text ``generate`` is fed; ``preview`` shows which tokens carry loss.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from workbench.messages import Message
from workbench.spec.settings import DataSpec
from workbench.core.data.dataset_files import (MAX_CHARS, SUFFIXES, DataError, Example, Problems, RawRow,  # noqa: F401 (re-exported)
                        read_rows, rows_to_examples)
from workbench.core.env import is_public
from workbench.core.paths import REPO_ROOT, looks_like_hub_id, looks_like_path

DATASETS_DIR = REPO_ROOT / "presets" / "datasets"
HOLDOUT_FRACTION = 0.1
"""Share of an uploaded file held out for evaluation when it has no test split (at least 1 row)."""
IGNORE_INDEX = -100
SPLITS = ("train", "test", "all")


@dataclass
class DatasetInfo:
    """A shipped dataset as listed in the UI."""
    name: str
    description: str
    task: str
    metric: str
    n_train: int
    n_test: int
    description_zh: str = ""
    """The description in Chinese (meta.yaml ``description_zh``), shown on a 中文 page."""


@dataclass
class DataBundle:
    """Tokenized train/eval sets (columns input_ids, attention_mask, labels, length)."""
    train: Any  # datasets.Dataset
    eval: Any | None  # datasets.Dataset or None when there is nothing to hold out
    n_train: int
    n_eval: int
    dropped: int = 0
    """Examples left out because truncation to max_length removed every token that carries loss."""
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- shipped datasets

def _shipped_dir(name: str) -> Path | None:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    d = DATASETS_DIR / name
    return d if (d / "train.jsonl").is_file() else None


def _count_lines(path: Path) -> int:
    if not path.is_file():
        return 0
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def read_meta(name: str) -> dict[str, Any] | None:
    """meta.yaml of a shipped dataset (or of a dataset folder path); None when there is none."""
    d = _shipped_dir(name)
    if d is None:
        p = Path(os.path.expanduser(name))
        d = p if p.is_dir() else None
    if d is None or not (d / "meta.yaml").is_file():
        return None
    with open(d / "meta.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def list_datasets() -> list[DatasetInfo]:
    """The datasets shipped in presets/datasets, sorted by name."""
    out = []
    for d in sorted(DATASETS_DIR.iterdir()) if DATASETS_DIR.is_dir() else []:
        if not (d / "train.jsonl").is_file():
            continue
        meta = read_meta(d.name) or {}
        out.append(DatasetInfo(name=d.name, description=str(meta.get("description", "")),
                               task=str(meta.get("task", "")), metric=str(meta.get("metric", "exact_match")),
                               n_train=_count_lines(d / "train.jsonl"), n_test=_count_lines(d / "test.jsonl"),
                               description_zh=str(meta.get("description_zh", ""))))
    return out


# --------------------------------------------------------------------------- loading

def _split_file(folder: Path, split: str) -> Path | None:
    return next((folder / f"{split}{s}" for s in SUFFIXES if (folder / f"{split}{s}").is_file()), None)


def _file_examples(path: Path, spec: DataSpec, system: str | None = None) -> list[Example]:
    problems = Problems(path.name)
    rows = read_rows(path, problems)
    examples = rows_to_examples(rows, path.name, spec.prompt_column, spec.response_column, problems=problems)
    if system:
        for ex in examples:
            if ex.messages is None and ex.prompt is not None:
                ex.messages = [{"role": "system", "content": system}] + ex.chat()
            elif ex.messages is not None and ex.messages[0]["role"] != "system":
                ex.messages = [{"role": "system", "content": system}] + ex.messages
    return examples


def holdout_split(examples: list[Example], fraction: float = HOLDOUT_FRACTION,
                  seed: int = 0) -> tuple[list[Example], list[Example]]:
    """Deterministically hold out ``fraction`` of the examples (at least 1 when there are 2 or more)."""
    n = len(examples)
    k = 0 if n < 2 else max(1, round(n * fraction))
    held = set(random.Random(seed).sample(range(n), k))
    return ([e for i, e in enumerate(examples) if i not in held],
            [e for i, e in enumerate(examples) if i in held])


def _offline() -> bool:
    flags = (os.environ.get(v, "0").lower() for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    return any(f in ("1", "true", "yes") for f in flags)


def _hub_examples(spec: DataSpec) -> tuple[list[Example], list[Example] | None]:
    """Train and test examples of a hub dataset (test None when it has no test/validation split)."""
    name = spec.name.strip()
    import difflib
    close = difflib.get_close_matches(name, [d.name for d in list_datasets()], n=2)
    hint = Message("data.did_you_mean", {"close": " or ".join(close)}) if close else ""
    from workbench.core.model.loading import _hub_reachable
    if _offline() or not _hub_reachable():
        raise DataError("data.offline", name=name, hint=hint, shipped=", ".join(d.name for d in list_datasets()))
    try:
        import datasets
        splits = datasets.get_dataset_split_names(name)
        def rows(split: str) -> list[Example]:
            ds = datasets.load_dataset(name, split=split)
            raw = [RawRow(i, r) for i, r in enumerate(ds.to_list(), start=1)]
            return rows_to_examples(raw, f"{name} [{split}]", spec.prompt_column, spec.response_column, unit="row")
    except DataError:
        raise
    except Exception as e:  # not found, gated, network dropped
        raise DataError("data.hub_failed", name=name, detail=str(e), hint=hint) from None
    train_split = "train" if "train" in splits else splits[0]
    test_split = next((s for s in ("test", "validation") if s in splits and s != train_split), None)
    try:
        return rows(train_split), (rows(test_split) if test_split else None)
    except DataError:
        raise
    except Exception as e:
        raise DataError("data.hub_failed", name=name, detail=str(e), hint="") from None


def _load_splits(spec: DataSpec) -> tuple[list[Example], list[Example]]:
    """(train, test) for any source; sources without a test split get a deterministic holdout."""
    name = spec.name.strip()
    shipped = _shipped_dir(name)
    if shipped is not None:
        system = (read_meta(name) or {}).get("system")
        test = shipped / "test.jsonl"
        return (_file_examples(shipped / "train.jsonl", spec, system),
                _file_examples(test, spec, system) if test.is_file() else [])
    if not (is_public() and looks_like_hub_id(name)):  # a public server never reads its disk for a hub-shaped name
        local = _local_splits(Path(os.path.expanduser(name)), spec)
        if local is not None:
            return local
    train, test = _hub_examples(spec)
    return (train, test) if test is not None else holdout_split(train)


def _local_splits(path: Path, spec: DataSpec) -> tuple[list[Example], list[Example]] | None:
    """(train, test) of a local folder or file; None when ``spec.name`` is no path (a hub id)."""
    if path.is_dir():
        train_file, test_file = _split_file(path, "train"), _split_file(path, "test")
        if train_file is None:
            raise DataError("data.folder_without_train", path=str(path))
        system = (read_meta(str(path)) or {}).get("system")
        train = _file_examples(train_file, spec, system)
        if test_file is not None:
            return train, _file_examples(test_file, spec, system)
        return holdout_split(train)
    if path.is_file():
        return holdout_split(_file_examples(path, spec))
    if looks_like_path(spec.name):
        raise DataError("data.file_not_found", path=spec.name.strip())
    return None


def load_examples(spec: DataSpec, split: str = "train") -> list[Example]:
    """Examples of one split: "train", "test" or "all" (both).

    Shipped datasets have both files. For a single uploaded file "test" is a deterministic 10%
    holdout (at least one row) and "train" is the rest. Raises DataError on any bad row.
    """
    if split not in SPLITS:
        raise DataError("data.unknown_split", split=split, choices=", ".join(SPLITS))
    train, test = _load_splits(spec)
    return {"train": train, "test": test, "all": train + test}[split]


# --------------------------------------------------------------------------- encoding

def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def _ids(out) -> list[int]:
    """Token ids from a tokenizer/apply_chat_template result (list, dict or BatchEncoding)."""
    if isinstance(out, dict) or hasattr(out, "keys"):
        out = out["input_ids"]
    if hasattr(out, "tolist"):
        out = out.tolist()
    if out and isinstance(out[0], list):
        out = out[0]
    return list(out)


def _renderer(tokenizer, use_chat_template: bool) -> tuple[Callable[[list, bool], str], bool]:
    """A function (turns, add_generation_prompt) -> text, and whether tokenizing adds special tokens.

    With a chat template the rendered text already holds every special token. Without one, turns are
    joined with newlines ("prompt\\nresponse") and the tokenizer adds its usual BOS, if any.
    """
    if use_chat_template and has_chat_template(tokenizer):
        def chat(turns: list, gen: bool) -> str:
            text = tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=gen)
            return text[0] if isinstance(text, list) else text
        return chat, False

    def plain(turns: list, gen: bool) -> str:
        text = "\n".join(t["content"] for t in turns)
        return text + "\n" if gen and turns else text
    return plain, True


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def encode(example: Example, tokenizer, max_length: int, train_on_prompt: bool = False,
           use_chat_template: bool = True) -> dict[str, list[int]]:
    """Tokenize one example: input_ids, attention_mask and labels (-100 where no loss), truncated.

    Loss falls on every assistant turn (its text and end-of-turn token); the prompt, system text and
    chat markup get -100 unless ``train_on_prompt``. Each boundary is found by tokenizing the text up
    to it and checking it is a token prefix of the full sequence; where a token straddles the
    boundary, that token is left without loss.
    """
    eos = tokenizer.eos_token_id
    turns = example.chat()
    if turns is None:  # plain text: language modelling on every token
        ids = _ids(tokenizer(example.text or "", add_special_tokens=True))
        if eos is not None and (not ids or ids[-1] != eos):
            ids.append(eos)
        labels = list(ids)
    else:
        render, special = _renderer(tokenizer, use_chat_template)
        tok = lambda text: _ids(tokenizer(text, add_special_tokens=special))  # noqa: E731
        ids = tok(render(turns, False))
        if special and eos is not None and (not ids or ids[-1] != eos):
            ids.append(eos)  # plain format: "prompt\nresponse" + eos
        labels = list(ids) if train_on_prompt else [IGNORE_INDEX] * len(ids)
        if not train_on_prompt:
            for i, turn in enumerate(turns):
                if turn["role"] != "assistant":
                    continue
                start = _common_prefix(tok(render(turns[:i], True)), ids) if i else 0
                last = i == len(turns) - 1
                end = len(ids) if last else _common_prefix(tok(render(turns[:i + 1], False)), ids)
                labels[start:end] = ids[start:end]
    ids, labels = ids[:max_length], labels[:max_length]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}


def _prompt_turns(example: Example) -> list[dict[str, str]] | None:
    turns = example.chat()
    if turns and turns[-1]["role"] == "assistant":
        turns = turns[:-1]
    return turns


def render_prompt(example: Example, tokenizer, use_chat_template: bool = True) -> str:
    """The text ``generate`` is fed: every turn but the final answer, plus the generation prompt.

    With a chat template the text already holds its special tokens (tokenize it with
    ``add_special_tokens=False``); ``prompt_ids`` does exactly that.
    """
    turns = _prompt_turns(example)
    if turns is None:
        return example.text or ""
    render, _ = _renderer(tokenizer, use_chat_template)
    return render(turns, True)


def prompt_ids(example: Example, tokenizer, use_chat_template: bool = True) -> list[int]:
    """Token ids of ``render_prompt``, tokenized exactly as the training prefix was."""
    _, special = _renderer(tokenizer, use_chat_template)
    return _ids(tokenizer(render_prompt(example, tokenizer, use_chat_template), add_special_tokens=special))


# --------------------------------------------------------------------------- datasets and batches

def _tokenized(examples: list[Example], tokenizer, spec: DataSpec):
    import datasets
    cols: dict[str, list] = {"input_ids": [], "attention_mask": [], "labels": [], "length": []}
    dropped = 0
    for ex in examples:
        enc = encode(ex, tokenizer, spec.max_length, spec.train_on_prompt, spec.use_chat_template)
        if all(x == IGNORE_INDEX for x in enc["labels"]):
            dropped += 1
            continue
        for k in ("input_ids", "attention_mask", "labels"):
            cols[k].append(enc[k])
        cols["length"].append(len(enc["input_ids"]))
    return datasets.Dataset.from_dict(cols), dropped


def build_datasets(spec: DataSpec, tokenizer) -> DataBundle:
    """Load, validate and tokenize; the eval set is the test split (or a 10% holdout of an upload)."""
    train_ex, test_ex = _load_splits(spec)
    train_ex, test_ex = train_ex[:spec.limit or None], test_ex[:spec.heldout_limit or None] if test_ex else test_ex
    train, dropped = _tokenized(train_ex, tokenizer, spec)
    if len(train) == 0:
        raise DataError("data.all_truncated", n=spec.max_length)
    evals, dropped_eval = _tokenized(test_ex, tokenizer, spec) if test_ex else (None, 0)
    warnings = []
    if dropped or dropped_eval:
        warnings.append(f"{dropped + dropped_eval} examples were left out: truncated to max_length="
                        f"{spec.max_length} tokens, nothing of their response was left to learn from.")
    if evals is not None and len(evals) == 0:
        evals = None
    return DataBundle(train=train, eval=evals, n_train=len(train), n_eval=len(evals) if evals is not None else 0,
                      dropped=dropped + dropped_eval, warnings=warnings)


def make_collator(tokenizer, pad_to_multiple_of: int | None = None) -> Callable[[list[dict]], dict]:
    """A collate function: right-pad each batch to its longest row (labels with -100, attention 0)."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad_id is None:
        pad_id = 0

    def collate(features: list[dict]) -> dict:
        import torch
        longest = max(len(f["input_ids"]) for f in features)
        if pad_to_multiple_of:
            longest = -(-longest // pad_to_multiple_of) * pad_to_multiple_of
        batch: dict[str, list[list[int]]] = {"input_ids": [], "attention_mask": [], "labels": []}
        for f in features:
            ids = list(f["input_ids"])
            pad = longest - len(ids)
            batch["input_ids"].append(ids + [pad_id] * pad)
            batch["attention_mask"].append(list(f.get("attention_mask") or [1] * len(ids)) + [0] * pad)
            batch["labels"].append(list(f.get("labels") or ids) + [IGNORE_INDEX] * pad)
        return {k: torch.tensor(v, dtype=torch.long) for k, v in batch.items()}
    return collate


def _token_pieces(tokenizer, ids: list[int]) -> list[str]:
    """Readable text of each token; multi-byte characters split over tokens stay intact."""
    pieces, prev = [], ""
    for i in range(len(ids)):
        text = tokenizer.decode(ids[:i + 1], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if text.startswith(prev) and not text.endswith("\ufffd"):
            pieces.append(text[len(prev):])
            prev = text
        elif text.endswith("\ufffd"):
            pieces.append("")  # an incomplete character: shown with the token that completes it
        else:
            pieces.append(tokenizer.decode([ids[i]], skip_special_tokens=False))
            prev = text
    return pieces


def preview(spec: DataSpec, tokenizer, n: int = 3) -> list[list[tuple[str, bool]]]:
    """The first ``n`` training examples as (token text, carries loss) pieces."""
    out = []
    for ex in load_examples(spec, "train")[:n]:
        enc = encode(ex, tokenizer, spec.max_length, spec.train_on_prompt, spec.use_chat_template)
        pieces = _token_pieces(tokenizer, enc["input_ids"])
        out.append([(p, lab != IGNORE_INDEX) for p, lab in zip(pieces, enc["labels"])])
    return out
