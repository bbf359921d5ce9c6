"""AdapterSpec -> the real PEFT config object. One place, used by counting, training and 'show code'."""
from __future__ import annotations

from typing import Any

from workbench.spec.settings import AdapterSpec
from workbench.spec import methods
from workbench.core.model.loading import is_seq2seq


def task_type_for(config) -> str:
    return "SEQ_2_SEQ_LM" if is_seq2seq(config) else "CAUSAL_LM"


def peft_config_kwargs(spec: AdapterSpec, config) -> tuple[str, dict[str, Any]]:
    """(PEFT config class name, kwargs) for a spec: the data behind both the object and 'show code'.

    The method's registry record names its builder (it lives in the method's family file, core/methods/)."""
    method = methods.get(spec.method)
    return method.peft_config, method.peft_kwargs(spec, config, task_type_for(config))


def build_peft_config(spec: AdapterSpec, config, tokenizer_name_or_path: str | None = None):
    """The PEFT config object for ``spec`` on a model with transformers config ``config``."""
    import peft
    cls_name, kw = peft_config_kwargs(spec, config)
    if tokenizer_name_or_path and "tokenizer_name_or_path" in kw:
        kw["tokenizer_name_or_path"] = tokenizer_name_or_path
    return getattr(peft, cls_name)(**kw)
