"""Errors about target modules: which layers an adapter wraps (workbench.core.model.modules, params)."""

MESSAGES = {
    "targets.no_match_close": ("{what} {target!r} matches no module; closest: {close}",
                               "{what} {target!r} 没有匹配到任何模块；最接近的有：{close}"),
    "targets.no_match": ("{what} {target!r} matches no module; layers LoRA can wrap here: {layers}",
                         "{what} {target!r} 没有匹配到任何模块；这里 LoRA 可以包装的层有：{layers}"),
    "targets.word_target": ("target", "目标"),
    "targets.word_modules_to_save": ("modules_to_save entry", "modules_to_save 条目"),
    "targets.no_default": ("PEFT has no default {method} target modules for model type {model_type!r}; choose them, "
                           "e.g. 'all-linear' or some of: {layers}",
                           "PEFT 没有为模型类型 {model_type!r} 提供默认的 {method} 目标模块；请自行选择，例如 'all-linear' "
                           "或以下的一些：{layers}"),
    "targets.no_default_ff": ("PEFT has no default IA3 feedforward modules for model type {model_type!r}; set "
                              "feedforward_modules",
                              "PEFT 没有为模型类型 {model_type!r} 提供默认的 IA3 前馈模块；请设置 feedforward_modules"),
    "targets.bad_regex": ("target regex {regex!r} is not a valid regular expression: {detail}",
                          "目标正则 {regex!r} 不是合法的正则表达式：{detail}"),
    "targets.regex_no_match": ("target regex {regex!r} matches no module name (PEFT full-matches the whole name, "
                               "e.g. {example!r}); layers LoRA can wrap here: {layers}",
                               "目标正则 {regex!r} 没有匹配到任何模块名（PEFT 要求完整匹配整个名称，例如 {example!r}）；"
                               "这里 LoRA 可以包装的层有：{layers}"),
    "targets.only_saved": ("targets {targets!r} match only modules listed in modules_to_save {saved!r}",
                           "目标 {targets!r} 只匹配到 modules_to_save {saved!r} 中列出的模块"),
    "targets.cannot_wrap": ("target matches {name!r} ({kind}), which {method} cannot wrap; it wraps {wraps}{hint}",
                            "目标匹配到 {name!r}（{kind}），{method} 无法包装它；它只能包装 {wraps}{hint}"),
    "targets.pick_inside": ("; pick layers inside it: {layers}", "；请选择它内部的层：{layers}"),
    "targets.wraps_linear": ("Linear and Conv1D layers", "Linear 和 Conv1D 层"),
    "targets.wraps_ia3": ("Linear and Conv1D layers", "Linear 和 Conv1D 层"),
    "targets.wraps_lora": ("Linear, Conv1D and Embedding layers", "Linear、Conv1D 和 Embedding 层"),
    # the target grammar (workbench.spec.targets): CLI --targets, the Train form, the Inspect tab, YAML
    "targets.empty_regex": ("target regex is empty: write re: followed by a regular expression, e.g. re:.*proj",
                            "目标正则为空：请在 re: 后面写正则表达式，例如 re:.*proj"),
    "targets.name_looks_like_regex": ("target {name!r} looks like a regular expression; write {prefix}{name} to use "
                                      "it as one (names are matched as whole names or dotted suffixes)",
                                      "目标 {name!r} 看起来像正则表达式；如要按正则使用，请写成 {prefix}{name}"
                                      "（名称按完整名称或以点分隔的后缀匹配）"),
    "targets.pick_one": ("Pick at least one target module (tick a box, type a regex, or choose all-linear).",
                         "请至少选择一个目标模块（勾选、输入正则，或选择 all-linear）。"),
}
