"""Continuous batched greedy decoding: one KV cache that rows join and leave between decoding steps.

``batching.run_batch`` hands a batch to ``model.generate``: every row of it computes until the longest is done, and
a request that arrives meanwhile waits for the whole batch. ``RunningBatch`` runs the decoding loop itself, one
forward pass per step over the rows still going:

- **rows leave** as soon as they end (end-of-turn token, their own ``max_new_tokens``, or cancelled): their rows
  are dropped from the KV cache, so finished answers cost nothing more, and cache columns that only padding
  still uses are cut off;
- **rows join** between steps (``admit``): they are prefilled on their own and their cache is appended to the
  running one (left padding to the longer of the two), so a request never waits for a running batch to drain;
- **shared prompt prefixes are prefilled once** per variant: the chat template's system prompt and a dataset's
  instruction are the first 37-42 of the shipped datasets' 54-60 prompt tokens. The prefix's KV cache is kept
  (the latest prefix, per variant) and later rows that start with it reuse it.

- **reference answers are scored in the prefill** (``Row.score_ids``, for held-out evaluation): the answer's tokens
  follow the prompt in the same forward pass, their negative log-likelihood comes from the final hidden states
  (the vocabulary head only at those positions), the first generated token from the prompt's last position, and
  the answer's columns stay in the cache masked out. Perplexity then needs no second pass over the prompts.

Each row's positions count only its own tokens (``position_ids``: the padding between a shared prefix and a row's
own tokens, or before a short row, is masked and not counted), so every row computes what it would alone, up to
the rounding of batched matmuls (tests/core/test_decoding.py compares the tokens with one-by-one ``generate``).

Scope: greedy decoding (with ``repetition_penalty``, over each row's own tokens) of decoder-only models whose cache
is made of full-attention ``DynamicLayer`` s (``supported``), for the base and for adapters that are not prompt
learning. Sampling, prompt-learning adapters and other caches go through ``batching.run_batch``.
The base and LoRA adapters share a batch through PEFT's mixed-adapter forward (``adapter_names``), as in
``batching``. The VariantModel's lock is held per step, not per batch, so a long-running batch never shuts
other users' work on the same model out.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from workbench.core.kernels import mixed_lora as fast_mixed
from workbench.core.generation.batching import BASE, MIXED_BASE, Row, RowProgress, batch_kind, eos_ids, mixing_group, pad_id, pad_left

SCORE_LOGITS_MB = 256
"""Float32 logits one vocabulary-head call for scored positions may make (1365 positions of a 49k vocabulary)."""
PREFIX_MIN = 8
"""Shortest shared prompt prefix worth prefilling once (shorter ones are prefilled with each row)."""

_PLAIN_GREEDY_DEFAULTS = {
    "no_repeat_ngram_size": (None, 0), "bad_words_ids": (None,), "min_length": (None, 0), "min_new_tokens": (None, 0),
    "suppress_tokens": (None,), "begin_suppress_tokens": (None,), "forced_bos_token_id": (None,),
    "forced_eos_token_id": (None,), "sequence_bias": (None,), "exponential_decay_length_penalty": (None,),
    "encoder_repetition_penalty": (None, 1.0), "renormalize_logits": (None, False), "num_beams": (None, 1),
    "guidance_scale": (None, 1.0), "watermarking_config": (None,), "constraints": (None,),
}
"""Generation-config settings that would make ``generate`` differ from plain argmax; a model that sets any of them
goes through ``generate``."""


def supported(vm, variant: str, settings) -> bool:
    """Whether ``RunningBatch`` decodes this variant exactly as ``generate`` does (see the module doc)."""
    if settings.do_sample:
        return False
    model = vm.base_models()[0]
    if getattr(model.config, "is_encoder_decoder", False):
        return False
    if variant != BASE:
        group, name = vm._slot(variant)
        if getattr(group.model.peft_config.get(name), "is_prompt_learning", False):
            return False
    cached = vm.__dict__.get("_continuous_ok")
    if cached is None:
        cached = vm.__dict__["_continuous_ok"] = _plain_greedy(model) and _full_dynamic_cache(model)
    return cached


def _plain_greedy(model) -> bool:
    cfg = getattr(model, "generation_config", None)
    if cfg is None:
        return True
    return all(getattr(cfg, k, None) in ok for k, ok in _PLAIN_GREEDY_DEFAULTS.items())


def _full_dynamic_cache(model) -> bool:
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer
    try:
        cache = DynamicCache(config=model.config)
    except Exception:
        return False
    return bool(cache.layers) and all(type(layer) is DynamicLayer for layer in cache.layers)


@dataclass
class _Live:
    progress: RowProgress
    name: str | None
    """The adapter name of this row in a mixed batch (``__base__`` for the base); None in other batches."""


class RunningBatch:
    """The rows of one batch kind (``batching.batch_kind``) decoding together; see the module doc.

    ``admit(rows)`` prefills new rows and adds them; ``step()`` generates one token for every row; ``live`` is how
    many rows are still going. Rows report through their ``on_text`` / ``on_done`` callbacks."""

    def __init__(self, vm, variant: str, settings):
        self.vm, self.settings = vm, settings
        self.kind = batch_kind(vm, variant)
        self.variant = variant
        """For a 'solo' batch: its one variant."""
        self.eos = eos_ids(vm)
        self.rows: list[_Live] = []
        self.cache = None
        self.mask = None
        """[rows, cache length] 1 where a cached position is a real token of that row."""
        self.last = None
        """[rows, 1] the newest token of each row, not yet in the cache."""
        self.pos = None
        """[rows] the position of that token."""
        self._prefix: dict[str, tuple[tuple[int, ...], list]] = {}
        """name -> (prefix ids, [(keys, values) per layer] of one row): the shared prefix's cache, per variant."""
        self.prefilled_tokens = 0
        """Prompt tokens run through the model (a shared prefix counts once per variant)."""

    @property
    def live(self) -> int:
        return len(self.rows)

    # ------------------------------------------------------------------ the model

    def _name(self, variant: str) -> str | None:
        if self.kind[0] != "mixed":
            return None
        return MIXED_BASE if variant == BASE else self.vm._slot(variant)[1]

    def _forward(self, ids, mask, pos, cache, names, hidden: list | None = None):
        """Logits of each row's last position (float32) and the grown cache. ``hidden``: a list that gets the final
        hidden states of every position ([rows, positions, width]) and the model's vocabulary head."""
        import torch
        kw = dict(input_ids=ids, attention_mask=mask, position_ids=pos, cache=cache, use_cache=True,
                  logits_to_keep=1)
        with torch.no_grad():
            if self.kind[0] == "mixed" and len(set(names)) > 1:  # per-row adapters (PEFT's mixed batches)
                with self.vm.mixed(mixing_group(self.vm)) as model, _capture(model, hidden):
                    out = fast_mixed.forward_rows(model, names, **kw)
            else:  # one variant: as generate runs it (no per-row routing in every adapted layer)
                variant = self.variant if self.kind[0] != "mixed" else BASE if names[0] == MIXED_BASE else names[0]
                with self.vm.activate(variant) as model, _capture(model, hidden):
                    out = model(**kw)
        return out.logits[:, -1, :].float(), out.cache

    def _new_cache(self, layers=None):
        from transformers import DynamicCache
        return DynamicCache(ddp_cache_data=layers) if layers else DynamicCache(config=self.vm.base_models()[0].config)

    # ------------------------------------------------------------------ joining

    def admit(self, rows: list[Row]) -> None:
        """Prefill ``rows`` (sharing their common prompt prefix where that saves work) and add the ones that go on."""
        import torch
        if not rows:
            return
        dev = self.vm.device
        names = [self._name(r.variant) for r in rows]
        prefix = self._shared_prefix(rows, names)
        if prefix:
            p = len(prefix)
            layers = self._prefix_layers(prefix, names)
            tails = [r.ids[p:] for r in rows]
        else:
            p, layers, tails = 0, None, [r.ids for r in rows]
        scores = [list(r.score_ids or ()) for r in rows] if self._scorable() else [[] for _ in rows]
        enc = pad_left([t + sc for t, sc in zip(tails, scores)], pad_id(self.vm.tokenizer), dev)
        ids, own = enc["input_ids"], enc["attention_mask"]
        mask = torch.cat([torch.ones(len(rows), p, dtype=own.dtype, device=dev), own], 1)
        pos = (p + own.cumsum(-1) - 1).masked_fill(own == 0, 0)
        hidden = [] if any(scores) else None
        logits, cache = self._forward(ids, mask, pos, self._new_cache(layers), names, hidden)
        self.prefilled_tokens += int(own.sum())
        lives = [_Live(RowProgress(self.vm.tokenizer, r, self.eos), n) for r, n in zip(rows, names)]
        if hidden:  # the answer's first token comes from the prompt's last position, before the scored tokens
            logits = self._score(hidden, scores, lives)
            for i, sc in enumerate(scores):
                if sc:  # the scored tokens stay in the cache, masked: later steps do not see them
                    mask[i, mask.shape[1] - len(sc):] = 0
        tokens = self._pick(logits, lives)
        going = [i for i, (lv, t) in enumerate(zip(lives, tokens)) if not lv.progress.add(t)]
        if not going:
            return
        keep = torch.tensor(going, device=dev)
        if len(going) < len(rows):
            cache.batch_select_indices(keep)
        self._join(cache, mask[keep], torch.tensor([[tokens[i]] for i in going], device=dev),
                   torch.tensor([len(rows[i].ids) for i in going], device=dev), [lives[i] for i in going])

    def _scorable(self) -> bool:
        """Whether reference answers can be scored in the prefill: a plain vocabulary head, as for the fast loss."""
        ok = self.vm.__dict__.get("_scorable")
        if ok is None:
            from workbench.core.kernels.selected_loss import unsupported_reason
            ok = self.vm.__dict__["_scorable"] = unsupported_reason(self.vm.base_models()[0]) is None
        return ok

    def _score(self, hidden: list, scores: list[list[int]], lives: list[_Live]):
        """Each row's next-token logits from its prompt's last position, and the NLL of its scored tokens (into its
        progress): the same float32 log-softmax as the held-out perplexity (``selected_loss``)."""
        import torch
        import torch.nn.functional as F
        states, head = hidden
        width = states.shape[1]
        rows = torch.arange(len(scores), device=states.device)
        last = torch.tensor([width - 1 - len(sc) for sc in scores], device=states.device)
        picks = [(i, width - 1 - len(sc) + k, t) for i, sc in enumerate(scores) for k, t in enumerate(sc)]
        sums = torch.zeros(len(scores), dtype=torch.float64)
        chunk = max(1, SCORE_LOGITS_MB * 2**20 // (4 * head.weight.shape[0]))  # positions per head call
        with torch.no_grad():  # the inference copies' weights may require grad; nothing here needs it
            logits = head(states[rows, last]).float()
            for start in range(0, len(picks), chunk):
                part = torch.tensor(picks[start:start + chunk], device=states.device)
                nll = F.cross_entropy(head(states[part[:, 0], part[:, 1]]).float(), part[:, 2], reduction="none")
                sums.index_add_(0, part[:, 0].cpu(), nll.double().cpu())
        for i, sc in enumerate(scores):
            if sc:
                lives[i].progress.nll = (float(sums[i]), len(sc))
        return logits

    def _shared_prefix(self, rows: list[Row], names: list) -> tuple[int, ...]:
        """The prompt prefix these rows share and that is worth prefilling once ((): none)."""
        shortest = min(len(r.ids) for r in rows)
        for ids, _ in self._prefix.values():  # a kept prefix first: the cache of its variants is ready
            if len(ids) < shortest and all(tuple(r.ids[:len(ids)]) == ids for r in rows):
                return ids
        n = 0
        first = rows[0].ids
        while n < shortest - 1 and all(r.ids[n] == first[n] for r in rows):
            n += 1
        if n < PREFIX_MIN or len(rows) <= len(set(names)):  # nothing shared between rows of one variant
            return ()
        return tuple(first[:n])

    def _prefix_layers(self, prefix: tuple[int, ...], names: list) -> list:
        """[(keys, values) per layer] of the prefix for each row (prefilled once per variant and kept)."""
        import torch
        variants = list(dict.fromkeys(names))
        todo = [n for n in variants if self._prefix.get(n, ((),))[0] != prefix]
        if todo:
            dev = self.vm.device
            ids = torch.tensor([list(prefix)] * len(todo), device=dev)
            ones = torch.ones_like(ids)
            pos = torch.arange(len(prefix), device=dev).expand(len(todo), -1)
            _, cache = self._forward(ids, ones, pos, self._new_cache(), todo)
            self.prefilled_tokens += len(prefix) * len(todo)
            self._prefix = {n: v for n, v in self._prefix.items() if v[0] == prefix}  # keep the latest prefix only
            for j, n in enumerate(todo):
                self._prefix[n] = (prefix, [(l.keys[j:j + 1], l.values[j:j + 1]) for l in cache.layers])
        per_row = [self._prefix[n][1] for n in names]
        return [(torch.cat([r[i][0] for r in per_row]), torch.cat([r[i][1] for r in per_row]))
                for i in range(len(per_row[0]))]

    def _join(self, cache, mask, last, pos, lives: list[_Live]) -> None:
        import torch
        if self.cache is None:
            self.cache, self.mask, self.last, self.pos, self.rows = cache, mask, last, pos, lives
            return
        width = max(self.mask.shape[1], mask.shape[1])
        a, b = _pad_left(self.cache, width), _pad_left(cache, width)
        self.cache = self._new_cache([(torch.cat([ka, kb]), torch.cat([va, vb])) for (ka, va), (kb, vb) in zip(a, b)])
        self.mask = torch.cat([_pad_mask(self.mask, width), _pad_mask(mask, width)])
        self.last = torch.cat([self.last, last])
        self.pos = torch.cat([self.pos, pos])
        self.rows = self.rows + lives

    # ------------------------------------------------------------------ decoding

    def step(self) -> None:
        """One new token for every row; rows that end (or were cancelled) leave the batch."""
        import torch
        if not self.rows:
            return
        ended = [i for i, lv in enumerate(self.rows) if lv.progress.cancelled()]
        if len(ended) < len(self.rows):
            self.mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], 1)
            logits, self.cache = self._forward(self.last, self.mask, self.pos[:, None], self.cache,
                                               [lv.name for lv in self.rows])
            tokens = self._pick(logits, self.rows)
            for i, (lv, t) in enumerate(zip(self.rows, tokens)):
                if i not in ended and lv.progress.add(t):
                    ended.append(i)
            self.last = torch.tensor([[t] for t in tokens], device=self.last.device)
            self.pos = self.pos + 1
        for i in ended:
            self.rows[i].progress.finish()
        if ended:
            self._drop(sorted(set(ended)))

    def _drop(self, ended: list[int]) -> None:
        import torch
        ended = set(ended)
        going = [i for i in range(len(self.rows)) if i not in ended]
        if not going:
            self.rows, self.cache, self.mask, self.last, self.pos = [], None, None, None, None
            return
        keep = torch.tensor(going, device=self.mask.device)
        self.cache.batch_select_indices(keep)
        self.mask, self.last, self.pos = self.mask[keep], self.last[keep], self.pos[keep]
        self.rows = [self.rows[i] for i in going]
        unused = int((self.mask.cumsum(1) == 0).sum(1).min())  # leading columns that are padding in every row
        if unused:
            self.mask = self.mask[:, unused:]
            for layer in self.cache.layers:
                layer.keys, layer.values = layer.keys[:, :, unused:], layer.values[:, :, unused:]

    def _pick(self, logits, lives: list[_Live]) -> list[int]:
        """Greedy choice, after the repetition penalty over each row's own prompt and answer tokens."""
        import torch
        penalty = float(self.settings.repetition_penalty)
        if penalty != 1.0:
            for i, lv in enumerate(lives):  # the row's prompt and the answer so far
                seen = torch.tensor(sorted(set(lv.progress.row.ids) | set(lv.progress.ids)), device=logits.device)
                s = logits[i, seen]
                logits[i, seen] = torch.where(s < 0, s * penalty, s / penalty)
        return logits.argmax(-1).tolist()


@contextmanager
def _capture(model, hidden: list | None):
    """While set, ``hidden`` gets [final hidden states, vocabulary head] of ``model``'s next forward."""
    if hidden is None:
        yield
        return
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    handle = base.get_decoder().register_forward_hook(
        lambda _m, _a, out: hidden.extend([out[0] if isinstance(out, tuple) else out.last_hidden_state, base.lm_head]))
    try:
        yield
    finally:
        handle.remove()


def _pad_left(cache, width: int) -> list:
    import torch
    out = []
    for layer in cache.layers:
        k, v = layer.keys, layer.values
        extra = width - k.shape[2]
        if extra:
            k = torch.cat([k.new_zeros(k.shape[0], k.shape[1], extra, k.shape[3]), k], 2)
            v = torch.cat([v.new_zeros(v.shape[0], v.shape[1], extra, v.shape[3]), v], 2)
        out.append((k, v))
    return out


def _pad_mask(mask, width: int):
    import torch
    extra = width - mask.shape[1]
    return torch.cat([mask.new_zeros(mask.shape[0], extra), mask], 1) if extra else mask

