"""Batched generation on one ``VariantModel``: many (prompt, variant) rows in as few ``generate`` calls as PEFT allows.

- Left padding, KV cache, each row stops on its own: at an end-of-turn token (the model's generation-config
  eos ids) or at its own ``max_new_tokens``; a finished row's result is handed over at once (``on_done``), while
  the other rows of its batch keep going.
- Rows of different variants share one call when PEFT can mix them: the base and LoRA adapters (not DoRA) of one
  base copy, through PEFT's mixed-adapter batches (``generate(..., adapter_names=[...])``, ``"__base__"`` for the
  base). PEFT 0.21 refuses ``adapter_names`` with DoRA or merged adapters, and other PEFT types (IA3,
  prompt learning) have no mixed batches: their rows are batched per variant (``set_adapter``).
- A batch whose rows all use one variant runs exactly like one prompt at a time does (``VariantModel.activate``).

Nothing here imports ``variants`` or ``answers`` (which import this module): the VariantModel and GenSettings are
used by their attributes only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

BASE = "base"
MIXED_BASE = "__base__"
"""PEFT's name for 'no adapter' in a mixed-adapter batch."""


@dataclass
class Row:
    """One prompt for one variant, already tokenized."""
    ids: list[int]
    variant: str
    max_new_tokens: int
    on_text: Callable[[str], None] | None = None
    """Called with the growing answer after each new token (only when set: decoding costs a little)."""
    on_done: Callable[["RowResult"], None] | None = None
    """Called once when this row is finished, possibly before the rest of its batch."""
    cancelled: Callable[[], bool] | None = None
    """Polled after each step: True stops this row (its consumer has gone)."""
    score_ids: tuple[int, ...] | None = None
    """A reference answer's tokens to score: ``decoding`` runs them after the prompt in the same prefill and the
    result gets their negative log-likelihood (``RowResult.nll``); other paths ignore them."""


@dataclass
class RowResult:
    ids: list[int]
    """The generated token ids (ending with the end-of-turn token when the row stopped there)."""
    text: str
    """The decoded answer (special tokens removed)."""
    nll: float | None = None
    """Summed negative log-likelihood of the row's ``score_ids`` given its prompt (None: not scored)."""
    nll_tokens: int = 0
    """How many tokens ``nll`` sums over."""


def batch_kind(vm, variant: str) -> tuple:
    """Rows whose kinds are equal may share one ``generate`` call (raises for an unknown variant)."""
    if variant == BASE:
        if vm._plain is not None:
            return ("plain",)
        group = mixing_group(vm)
        return ("mixed", id(group)) if group is not None else ("solo", BASE)
    group, name = vm._slot(variant)
    if _mixable(group, name):
        return ("mixed", id(group))
    return ("solo", name)


def needs_equal_lengths(vm, variant: str) -> bool:
    """Prompt-learning adapters on a model without rotary positions: PEFT ignores ``position_ids`` for them, so a
    left-padded row would see shifted absolute positions; such rows only share a batch with prompts of their length.
    (Rotary attention depends on relative positions only, so the shift changes nothing there.)"""
    if variant == BASE:
        return False
    group, name = vm._slot(variant)
    if not getattr(group.model.peft_config.get(name), "is_prompt_learning", False):
        return False
    cfg = group.model.get_base_model().config
    return not (getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_theta", None))


def _mixable(group, name: str) -> bool:
    if group.peft_type != "LORA":
        return False
    cfg = group.model.peft_config.get(name)
    return cfg is not None and not getattr(cfg, "use_dora", False)


def mixing_group(vm):
    """The base copy whose LoRA adapters can share a batch with the base (None if there is none)."""
    return next((g for g in vm.groups if any(_mixable(g, n) for n in g.names)), None)


def eos_ids(vm) -> set[int]:
    """The ids that end a turn: the generation config's eos ids (what ``generate`` stops on) and the tokenizer's."""
    cfg = getattr(vm.base_models()[0], "generation_config", None)
    eos = getattr(cfg, "eos_token_id", None)
    out = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
    if vm.tokenizer.eos_token_id is not None:
        out.add(vm.tokenizer.eos_token_id)
    return out


class RowProgress:
    """One row's answer as its tokens arrive: stops it at an end-of-turn token or its ``max_new_tokens``, streams
    the growing text (``on_text``) and hands the result over once (``on_done``). ``run_batch``'s tracker and
    ``decoding.RunningBatch`` both report through it."""

    def __init__(self, tok, row: Row, eos: set[int]):
        self.tok, self.row, self.eos = tok, row, eos
        self.ids: list[int] = []
        self.text = ""
        self.result: RowResult | None = None
        self.nll: tuple[float, int] | None = None
        """(summed NLL, tokens) of the row's ``score_ids``, when they were scored."""

    @property
    def done(self) -> bool:
        return self.result is not None

    def cancelled(self) -> bool:
        return self.row.cancelled is not None and self.row.cancelled()

    def add(self, token: int) -> bool:
        """Take the next token; True when the row has ended (and has been finished)."""
        if self.done:
            return True
        self.ids.append(int(token))
        if token in self.eos or len(self.ids) >= self.row.max_new_tokens:
            self.finish()
            return True
        if self.row.on_text is not None:
            text = self.tok.decode(self.ids, skip_special_tokens=True)
            if text != self.text and not text.endswith("\ufffd"):  # wait for a whole character
                self.text = text
                self.row.on_text(text)
        return False

    def finish(self) -> None:
        if self.done:
            return
        nll, n = self.nll or (None, 0)
        self.result = RowResult(self.ids, self.tok.decode(self.ids, skip_special_tokens=True), nll, n)
        if self.row.on_text is not None and self.result.text != self.text:
            self.row.on_text(self.result.text)
        if self.row.on_done is not None:
            self.row.on_done(self.result)


def _tracker_classes():
    from transformers import StoppingCriteria
    from transformers.generation.streamers import BaseStreamer

    class Tracker(BaseStreamer, StoppingCriteria):
        """Streamer (sees every new token of every row) and stopping criterion (stops rows one by one)."""

        def __init__(self, tok, rows: list[Row], eos: set[int]):
            self.rows = [RowProgress(tok, r, eos) for r in rows]
            self._prompt_seen = False

        @property
        def results(self) -> list[RowResult]:
            return [r.result for r in self.rows]

        def put(self, value):
            if not self._prompt_seen:  # generate hands the prompt over first
                self._prompt_seen = True
                return
            for row, token in zip(self.rows, value.reshape(-1).tolist()):
                row.add(token)

        def end(self):
            for row in self.rows:
                row.finish()

        def __call__(self, input_ids, scores, **kwargs):
            import torch
            for row in self.rows:
                if not row.done and row.cancelled():
                    row.finish()
            return torch.tensor([r.done for r in self.rows], dtype=torch.bool, device=input_ids.device)

    return Tracker


def pad_id(tok) -> int:
    """The id padding positions get (masked, so any id would do): the tokenizer's pad token, else its eos."""
    return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id


def pad_left(seqs: list[list[int]], pad: int, device) -> dict:
    """Token id lists, left-padded to the longest: ``input_ids`` and ``attention_mask`` (0 on padding)."""
    import torch
    width = max(len(s) for s in seqs)
    ids = torch.tensor([[pad] * (width - len(s)) + list(s) for s in seqs], device=device)
    mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs], device=device)
    return {"input_ids": ids, "attention_mask": mask}


def run_batch(vm, rows: list[Row], settings) -> list[RowResult]:
    """Generate every row in ONE call (their ``batch_kind`` must be equal; sampling is seeded per call)."""
    import torch
    from transformers import StoppingCriteriaList
    if not rows:
        return []
    kinds = {batch_kind(vm, r.variant) for r in rows}
    if len(kinds) != 1:
        raise ValueError(f"rows of different kinds cannot share a batch: {sorted(map(str, kinds))}")
    tok = vm.tokenizer
    enc = pad_left([r.ids for r in rows], pad_id(tok), vm.device)
    tracker = _tracker_classes()(tok, rows, eos_ids(vm))
    kw = settings.generate_kwargs(tok)
    kw.update(max_new_tokens=max(r.max_new_tokens for r in rows), streamer=tracker, stopping_criteria=StoppingCriteriaList([tracker]))
    variants = {r.variant for r in rows}
    with torch.no_grad():
        if len(variants) == 1:
            with vm.activate(rows[0].variant) as model:
                seed_sampling(settings)
                generate(model, enc, kw)
        else:
            group = mixing_group(vm)
            names = [MIXED_BASE if r.variant == BASE else vm._slot(r.variant)[1] for r in rows]
            with vm.mixed(group) as model:
                seed_sampling(settings)
                model.generate(**enc, **kw, adapter_names=names)
    tracker.end()
    return list(tracker.results)


def generate(model, enc: dict, kw: dict):
    """``model.generate(**enc, **kw)``, except for prompt-learning adapters.

    With transformers 5.24 and PEFT 0.21, PEFT's own ``generate`` re-inserts the virtual tokens at every cached
    decoding step (prompt tuning, P-tuning: each step runs num_virtual_tokens + 1 positions and the answer differs
    from greedy decoding with the adapter's forward) or drops the learned prefix (prefix tuning, Cartridges: "Both
    ``past_key_values`` and ``cache`` are set ... ignoring"). Here the base model generates instead, with its KV
    cache: after the virtual-token embeddings (prompt / P-tuning: ``get_prompt`` prepended to the prompt's
    embeddings), or from the learned prefix as its cache (prefix tuning: placeholder ids stand for the prefix's
    positions, so the prompt continues at the positions the adapter's forward gives it). Left padding stays
    between the virtual tokens and the prompt, masked. tests/core/test_generate.py checks both against greedy
    decoding with PEFT's forward, one row and a padded batch."""
    import torch
    cfg = getattr(model, "active_peft_config", None)
    if not getattr(cfg, "is_prompt_learning", False):
        return model.generate(**enc, **kw)
    ids, mask = enc["input_ids"], enc["attention_mask"]
    rows, base = ids.shape[0], model.get_base_model()
    prompt = model.get_prompt(batch_size=rows)
    if hasattr(prompt, "get_seq_length"):  # a key/value cache (prefix tuning, Cartridges), not embeddings
        n = prompt.get_seq_length()
        ones = torch.ones(rows, n, dtype=mask.dtype, device=mask.device)
        return base.generate(input_ids=torch.cat([torch.zeros_like(ones, dtype=ids.dtype), ids], 1),
                             attention_mask=torch.cat([ones, mask], 1), past_key_values=prompt, **kw)
    embeds = base.get_input_embeddings()(ids)
    ones = torch.ones(rows, prompt.shape[1], dtype=mask.dtype, device=mask.device)
    return base.generate(inputs_embeds=torch.cat([prompt.to(embeds.dtype), embeds], 1),
                         attention_mask=torch.cat([ones, mask], 1), **kw)


def seed_sampling(settings) -> None:
    """Seed torch's generator with ``settings.seed`` when sampling, so that a sampled answer can be repeated."""
    if settings.do_sample:
        import torch
        torch.manual_seed(settings.seed)
