"""Datasets: shipped presets, upload validation with line numbers, encoding and the loss mask."""
from __future__ import annotations

import json

import pytest

from workbench.core.data import datasets as data
from workbench.core.data.datasets import DataError, Example
from workbench.core.data.task_metrics import metric_for
from workbench.spec.settings import DataSpec

WRONG = {"json_match": '{"name": "Nobody", "age": 1, "city": "Nowhere"}', "label_match": "banana",
         "exact_match": "1900-01-01"}


def _jsonl(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _error(path, **kw) -> str:
    with pytest.raises(DataError) as e:
        data.load_examples(DataSpec(name=str(path), **kw))
    return str(e.value)


# --------------------------------------------------------------------------- shipped datasets

def test_shipped_datasets_load_and_score():
    infos = data.list_datasets()
    names = {d.name for d in infos}
    assert {"json-format", "sentiment-label", "date-normalize"} <= names
    assert DataSpec().name in names
    for info in infos:
        assert info.description and info.task and info.metric
        train = data.load_examples(DataSpec(name=info.name), "train")
        test = data.load_examples(DataSpec(name=info.name), "test")
        assert len(train) == info.n_train >= 300 and len(test) == info.n_test >= 40
        assert not {e.prompt for e in train} & {e.prompt for e in test}
        metric = metric_for(info.name)
        assert metric.name == info.metric
        for ex in test:
            assert metric.score(ex.response, ex.response) == 1.0
            assert metric.score(WRONG[metric.name], ex.response) == 0.0
        assert len(data.load_examples(DataSpec(name=info.name), "all")) == len(train) + len(test)


def test_unknown_name_offline_is_clear():
    msg = str(pytest.raises(DataError, data.load_examples, DataSpec(name="json-fromat")).value)
    assert "offline" in msg and "json-format" in msg
    assert "not found" in str(pytest.raises(DataError, data.load_examples, DataSpec(name="missing.jsonl")).value)


# --------------------------------------------------------------------------- bad files name their lines

def test_empty_fields_and_malformed_json_grouped(tmp_path):
    ok = {"prompt": "p", "response": "r"}
    f = _jsonl(tmp_path / "d.jsonl", [ok, ok, {"prompt": "p", "response": " "}, ok, ok, ok,
                                      {"prompt": "p", "response": ""}, ok, '{"prompt": "p", "response": "r"'])
    msg = _error(f)
    assert "lines 3, 7: empty 'response'" in msg
    assert "line 9: not valid JSON" in msg
    assert "d.jsonl" in msg


def test_wrong_types(tmp_path):
    f = _jsonl(tmp_path / "d.jsonl", [{"prompt": "p", "response": "r"}, {"prompt": "p", "response": 5},
                                      ["p", "r"], {"prompt": ["p"], "response": "r"}])
    msg = _error(f)
    assert "line 2: 'response' is a number, expected text" in msg
    assert "line 3: not a JSON object" in msg
    assert "line 4: 'prompt' is a list, expected text" in msg


def test_non_utf8_line(tmp_path):
    f = tmp_path / "d.jsonl"
    good = json.dumps({"prompt": "p", "response": "r"}).encode()
    bad = '{"prompt": "caf\u00e9", "response": "r"}'.encode("latin-1")
    f.write_bytes(b"\n".join([good, good, good, bad, good]) + b"\n")
    msg = _error(f)
    assert "line 4: not valid UTF-8" in msg and "0xe9" in msg


def test_too_long_row(tmp_path):
    f = _jsonl(tmp_path / "d.jsonl", [{"prompt": "p", "response": "r"}, {"prompt": "x" * (data.MAX_CHARS + 1), "response": "r"}])
    assert "line 2: too long" in _error(f)


def test_missing_columns_name_found_and_expected(tmp_path):
    f = _jsonl(tmp_path / "d.jsonl", [{"query": "p", "reply": "r"}])
    msg = _error(f)
    assert "'query'" in msg and "'reply'" in msg and "response" in msg and "prompt_column" in msg
    msg = _error(f, prompt_column="question", response_column="reply")
    assert "'question' not found" in msg and "'query'" in msg


def test_empty_file(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text("\n  \n", encoding="utf-8")
    assert "empty" in _error(f)
    (tmp_path / "e.csv").write_text("", encoding="utf-8")
    assert "empty" in _error(tmp_path / "e.csv")


def test_empty_rows_and_csv_line_numbers(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text('question,answer\nq1,a1\n"multi\nline q",a2\nq3,\n,\n', encoding="utf-8")
    msg = _error(f)
    assert "line 5: empty 'answer'" in msg and "line 6: empty row" in msg


# --------------------------------------------------------------------------- formats and mapping

def test_csv_and_column_detection(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text('Question,Answer\n"Hi, you",hello\n"multi\nline",two\n', encoding="utf-8")
    exs = data.load_examples(DataSpec(name=str(f)), "all")
    assert [(e.prompt, e.response, e.line) for e in exs] == [("Hi, you", "hello", 2), ("multi\nline", "two", 3)]


def test_messages_text_alpaca_and_json_array(tmp_path):
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    exs = data.load_examples(DataSpec(name=str(_jsonl(tmp_path / "m.jsonl", [{"messages": msgs}] * 3))), "all")
    assert exs[0].messages == msgs and exs[0].prompt is None
    bad = _jsonl(tmp_path / "b.jsonl", [{"messages": msgs}, {"messages": [{"role": "user", "content": "x"}]}])
    assert "line 2: 'messages' has no assistant turn" in _error(bad)
    exs = data.load_examples(DataSpec(name=str(_jsonl(tmp_path / "t.jsonl", [{"text": "abc"}]))), "all")
    assert exs[0].text == "abc"
    alp = _jsonl(tmp_path / "a.jsonl", [{"instruction": "Add", "input": "1 2", "output": "3"}])
    assert data.load_examples(DataSpec(name=str(alp)), "all")[0].prompt == "Add\n\n1 2"
    arr = tmp_path / "x.json"
    arr.write_text('[\n  {"prompt": "a", "response": "b"},\n  {"prompt": "c",\n   "response": ""}\n]', encoding="utf-8")
    assert "line 3: empty 'response'" in _error(arr)


def test_column_mapping(tmp_path):
    f = _jsonl(tmp_path / "d.jsonl", [{"q": f"p{i}", "a": f"r{i}", "prompt": "ignored"} for i in range(20)])
    exs = data.load_examples(DataSpec(name=str(f), prompt_column="q", response_column="a"), "all")
    assert exs[0].prompt == "p0" and exs[0].response == "r0" and len(exs) == 20


def test_upload_holdout_is_deterministic(tmp_path, tokenizer):
    f = _jsonl(tmp_path / "d.jsonl", [{"prompt": f"p{i}", "response": f"r{i}"} for i in range(25)])
    spec = DataSpec(name=str(f))
    train, test = data.load_examples(spec, "train"), data.load_examples(spec, "test")
    assert len(test) == 2 and len(train) == 23 and not {e.prompt for e in train} & {e.prompt for e in test}
    assert [e.prompt for e in data.load_examples(spec, "test")] == [e.prompt for e in test]
    bundle = data.build_datasets(DataSpec(name=str(f), limit=10), tokenizer)
    assert bundle.n_train == 10 and bundle.n_eval == 2
    assert set(bundle.train.column_names) >= {"input_ids", "attention_mask", "labels", "length"}


# --------------------------------------------------------------------------- encoding

def test_encode_masks_exactly_the_prompt(tokenizer):
    ex = Example(prompt="Rewrite this date as YYYY-MM-DD: March 3, 2021", response="2021-03-03")
    enc = data.encode(ex, tokenizer, max_length=256)
    ids, labels = enc["input_ids"], enc["labels"]
    prefix = tokenizer(data.render_prompt(ex, tokenizer), add_special_tokens=False)["input_ids"]
    assert ids[:len(prefix)] == prefix == data.prompt_ids(ex, tokenizer)
    assert all(lab == -100 for lab in labels[:len(prefix)])
    assert labels[len(prefix):] == ids[len(prefix):]
    answer = tokenizer.decode(ids[len(prefix):])
    assert answer.startswith("2021-03-03") and tokenizer.eos_token in answer
    assert enc["attention_mask"] == [1] * len(ids)
    everything = data.encode(ex, tokenizer, 256, train_on_prompt=True)["labels"]
    assert everything == ids
    short = data.encode(ex, tokenizer, max_length=10)
    assert len(short["input_ids"]) == len(short["labels"]) == 10


def test_encode_plain_and_multiturn(tokenizer):
    ex = Example(prompt="Say hi", response="hi")
    enc = data.encode(ex, tokenizer, 64, use_chat_template=False)
    assert tokenizer.decode(enc["input_ids"]) == "Say hi\nhi" + tokenizer.eos_token
    loss = [i for i, lab in zip(enc["input_ids"], enc["labels"]) if lab != -100]
    assert tokenizer.decode(loss) == "hi" + tokenizer.eos_token
    assert data.render_prompt(ex, tokenizer, use_chat_template=False) == "Say hi\n"
    msgs = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "ONE"},
            {"role": "user", "content": "b"}, {"role": "assistant", "content": "TWO"}]
    enc = data.encode(Example(messages=msgs), tokenizer, 256)
    loss_text = tokenizer.decode([i for i, lab in zip(enc["input_ids"], enc["labels"]) if lab != -100])
    assert "ONE" in loss_text and "TWO" in loss_text and "user" not in loss_text
    assert data.render_prompt(Example(messages=msgs), tokenizer).endswith("b<|im_end|>\n<|im_start|>assistant\n")


def test_collator_pads(tokenizer):
    collate = data.make_collator(tokenizer)
    feats = [{"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": [-100, 6, 7]},
             {"input_ids": [8], "attention_mask": [1], "labels": [8], "length": 1}]
    b = collate(feats)
    pad = tokenizer.pad_token_id
    assert b["input_ids"].tolist() == [[5, 6, 7], [8, pad, pad]]
    assert b["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert b["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert set(b) == {"input_ids", "attention_mask", "labels"}
    assert data.make_collator(tokenizer, pad_to_multiple_of=8)(feats)["input_ids"].shape == (2, 8)


def test_preview_marks_loss_tokens(tokenizer):
    rows = data.preview(DataSpec(name="date-normalize"), tokenizer, n=2)
    assert len(rows) == 2
    for pieces, ex in zip(rows, data.load_examples(DataSpec(name="date-normalize"))):
        assert "".join(p for p, _ in pieces) == tokenizer.decode(data.encode(ex, tokenizer, 256)["input_ids"])
        assert "".join(p for p, loss in pieces if loss).startswith(ex.response)
        assert not pieces[0][1] and pieces[-2][1]
        assert ex.prompt.split(": ")[1] in "".join(p for p, loss in pieces if not loss)
