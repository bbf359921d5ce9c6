"""Answers of one variant of a ``VariantModel``, called directly (the scheduler batches many users' requests):
the generation settings and result, a list of rendered texts in batches, one prompt (whole or streamed token by
token), and teacher-forced log-probabilities of a given answer.

``generate_texts`` runs its rows through ``batching.run_batch`` (left padding, per-row stop); ``stream`` runs
``generate`` in a thread with transformers' ``TextIteratorStreamer``. A sampled answer is seeded with
``GenSettings.seed`` (``batching.seed_sampling``), so it can be repeated.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Iterator

from workbench.errors import SpecError
from workbench.core.generation import batching
from workbench.core.generation.batching import BASE, Row, run_batch
from workbench.core.generation.variants import VariantModel


@dataclass
class GenSettings:
    max_new_tokens: int = 64
    """Most tokens to generate."""
    do_sample: bool = False
    """False = greedy (deterministic, best for comparing variants); True = sample with temperature/top_p."""
    temperature: float = 0.7
    """Sampling temperature (only with do_sample): lower is more conservative."""
    top_p: float = 0.9
    """Nucleus sampling: keep the smallest set of tokens whose probability adds up to top_p (only with do_sample)."""
    repetition_penalty: float = 1.0
    """> 1 discourages repeating tokens already in the text (1 = off)."""
    seed: int = 0
    """Random seed used when sampling, so a sampled comparison can be repeated."""
    use_chat_template: bool = True
    """Wrap the prompt in the model's chat template (user turn + assistant generation prompt)."""

    def __post_init__(self):
        def need(ok: bool, name: str, msg_id: str, **params):
            if not ok:
                raise SpecError(f"generate.{name}", msg_id, **params)
        need(isinstance(self.max_new_tokens, int) and 1 <= self.max_new_tokens <= 4096, "max_new_tokens",
             "settings.int_range", lo=1, hi=4096, value=self.max_new_tokens)
        need(isinstance(self.temperature, (int, float)) and 0 < self.temperature <= 10, "temperature",
             "settings.in_range", range="(0, 10]", value=self.temperature)
        need(isinstance(self.top_p, (int, float)) and 0 < self.top_p <= 1, "top_p",
             "settings.in_range", range="(0, 1]", value=self.top_p)
        need(isinstance(self.repetition_penalty, (int, float)) and 0 < self.repetition_penalty <= 10,
             "repetition_penalty", "settings.in_range", range="(0, 10]", value=self.repetition_penalty)
        need(isinstance(self.seed, int) and self.seed >= 0, "seed", "settings.int_min", lo=0, value=self.seed)

    def generate_kwargs(self, tokenizer) -> dict:
        """Keyword arguments for ``model.generate`` (sampling knobs only when sampling)."""
        kw = dict(max_new_tokens=self.max_new_tokens, do_sample=self.do_sample,
                  repetition_penalty=float(self.repetition_penalty), pad_token_id=tokenizer.pad_token_id)
        if self.do_sample:
            kw.update(temperature=float(self.temperature), top_p=float(self.top_p))
        else:  # override sampling defaults a checkpoint's generation_config may carry
            kw.update(temperature=None, top_p=None, top_k=None)
        return kw


@dataclass
class GenResult:
    variant: str
    """"base" or the adapter folder."""
    text: str
    """The generated continuation (special tokens removed)."""
    tokens: int
    """How many tokens were generated."""
    nll: float | None = None
    """Summed negative log-likelihood of the request's ``score_ids`` (``requests.Request``), when scored."""
    nll_tokens: int = 0


# --------------------------------------------------------------------------- answers

def generate_texts(vm: VariantModel, texts: list[str], variant: str, settings: GenSettings | None = None,
                   batch_size: int = 1) -> list[GenResult]:
    """Generate for already-rendered texts, ``batch_size`` at a time (1 = one by one, exactly as the Generate tab;
    more = left padding, each row stopping at its own end of turn: faster, and padded matmuls round differently,
    which can in principle flip a greedy near-tie)."""
    settings = settings or GenSettings()
    rows = [Row(vm.encode_ids(t, settings.use_chat_template), variant, settings.max_new_tokens) for t in texts]
    step = max(1, batch_size)
    results: list[GenResult] = []
    for start in range(0, len(rows), step):
        results += [GenResult(variant, r.text, len(r.ids)) for r in run_batch(vm, rows[start:start + step], settings)]
    return results


def generate(vm: VariantModel, prompt: str, variant: str = BASE, settings: GenSettings | None = None) -> GenResult:
    """One answer from one variant (greedy by default)."""
    settings = settings or GenSettings()
    return generate_texts(vm, [vm.render(prompt, settings.use_chat_template)], variant, settings)[0]


def stream(vm: VariantModel, prompt: str, variant: str = BASE, settings: GenSettings | None = None) -> Iterator[str]:
    """Yield the growing answer as tokens arrive (generation runs in a thread; closing the iterator stops it)."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer
    settings = settings or GenSettings()
    enc = vm.encode([vm.render(prompt, settings.use_chat_template)], settings.use_chat_template)
    streamer = TextIteratorStreamer(vm.tokenizer, skip_prompt=True, skip_special_tokens=True)
    stop = threading.Event()
    errors: list[BaseException] = []

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool, device=input_ids.device)

    def work():
        try:
            with vm.activate(variant) as model, torch.no_grad():
                batching.seed_sampling(settings)
                batching.generate(model, enc, dict(settings.generate_kwargs(vm.tokenizer), streamer=streamer,
                                                   stopping_criteria=StoppingCriteriaList([_Stop()])))
        except BaseException as e:  # surface it in the consumer instead of hanging it
            errors.append(e)
            streamer.end()

    thread = threading.Thread(target=work, name="workbench-stream", daemon=True)
    thread.start()
    text = ""
    try:
        for piece in streamer:
            if piece:
                text += piece
                yield text
    finally:
        stop.set()
    thread.join()
    if errors:
        raise errors[0]


# --------------------------------------------------------------------------- teacher forcing

def sequence_logprobs(model, input_ids, attention_mask=None):
    """Log-probability of each token given the ones before it: shape (batch, seq-1).

    Prompt-tuning models return logits for their virtual tokens too; only the last ``seq`` positions are kept.
    """
    import torch
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, -input_ids.shape[1]:]
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    return logp.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)


def token_logprob_diff(vm: VariantModel, prompt: str, response: str, variant: str,
                       settings: GenSettings | None = None) -> list[tuple[str, float]]:
    """For each token of ``response`` after ``prompt``: (token text, log p_adapter - log p_base), teacher forced."""
    import torch
    settings = settings or GenSettings()
    p_ids = vm.encode([vm.render(prompt, settings.use_chat_template)], settings.use_chat_template)["input_ids"][0]
    r_ids = vm.tokenizer(response, add_special_tokens=False, return_tensors="pt")["input_ids"][0].to(p_ids.device)
    if len(r_ids) == 0:
        return []
    ids = torch.cat([p_ids, r_ids])[None]
    n = len(p_ids)
    with torch.no_grad():
        with vm.activate(variant) as model:
            adapted = sequence_logprobs(model, ids)[0, n - 1:]
        with vm.activate(BASE) as model:
            base = sequence_logprobs(model, ids)[0, n - 1:]
    diff = (adapted - base).tolist()
    return [(vm.tokenizer.decode([t]), float(d)) for t, d in zip(r_ids.tolist(), diff)]
