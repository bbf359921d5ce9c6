"""Errors about adapters (reading, compatibility, upload, export), generation, evaluation and analysis."""

MESSAGES = {
    # reading an adapter folder
    "compare.adapter_not_found": ("Adapter folder not found: {path}", "找不到适配器文件夹：{path}"),
    "compare.no_adapter_config": ("{path} is not a PEFT adapter: it has no {config}.",
                                  "{path} 不是 PEFT 适配器：其中没有 {config}。"),
    "compare.bad_json": ("{path} is not valid JSON: {detail}", "{path} 不是合法的 JSON：{detail}"),
    "compare.no_peft_type": ("{path} is not a PEFT adapter: {config} has no 'peft_type'.",
                             "{path} 不是 PEFT 适配器：{config} 中没有 'peft_type'。"),
    "compare.unknown_peft_type": ("{path}: unknown peft_type {peft_type!r} in {config}.",
                                  "{path}：{config} 中的 peft_type {peft_type!r} 未知。"),
    "compare.no_weights": ("{path} is not a complete PEFT adapter: {weights} is missing.",
                           "{path} 不是完整的 PEFT 适配器：缺少 {weights}。"),
    "compare.bad_safetensors": ("{path} is not a readable safetensors file: {detail}",
                                "{path} 不是可读取的 safetensors 文件：{detail}"),
    # compatibility with the selected model
    "compare.wrong_architecture": ("adapter was trained for a different architecture ({detail}); adapter {path} "
                                   "records base {base!r}, the selected model is {model!r}.",
                                   "适配器是为另一种架构训练的（{detail}）；适配器 {path} 记录的基础模型是 {base!r}，"
                                   "而当前选择的模型是 {model!r}。"),
    "compare.unrecorded_base": ("an unrecorded base model", "未记录的基础模型"),
    "compare.whole_model": ("{path} holds a whole model (full fine-tuning), not a PEFT adapter: choose it as the "
                            "model instead (its path works wherever a model name does)",
                            "{path} 保存的是完整模型（全量微调），不是 PEFT 适配器：请把它选作模型"
                            "（凡是能填模型名的地方都可以填这个路径）"),
    "compare.token_size": ("virtual tokens have size {size}, the model's hidden size is {hidden}",
                           "虚拟 token 的维度为 {size}，而模型的隐藏层维度为 {hidden}"),
    "compare.layer_count": ("{adapter_layers} layers in the adapter, {model_layers} in the model",
                            "适配器有 {adapter_layers} 层，模型有 {model_layers} 层"),
    "compare.no_module": ("module {name!r} does not exist in the model", "模型中不存在模块 {name!r}"),
    "compare.size_differs": ("{name} has {what} size {got} in the adapter and {want} in the model",
                             "{name} 的{what}维度在适配器中为 {got}，在模型中为 {want}"),
    "compare.word_input": ("input", "输入"),
    "compare.word_output": ("output", "输出"),
    "compare.word_vocabulary": ("vocabulary", "词表"),
    "compare.word_embedding": ("embedding", "嵌入"),
    "compare.shapes_differ": ("weight shapes differ", "权重形状不一致"),
    "compare.load_failed": ("Could not load adapter {path} on {model!r}: {detail}",
                            "无法在 {model!r} 上加载适配器 {path}：{detail}"),
    # uploads
    "compare.upload_too_large": ("the upload is larger than the {limit} MiB limit", "上传内容超过了 {limit} MiB 的上限"),
    "compare.bad_zip": ("{name} is not a valid zip file (corrupt or truncated): {detail}",
                        "{name} 不是有效的 zip 文件（已损坏或不完整）：{detail}"),
    "compare.zip_too_many": ("{name} has {n} entries; an adapter zip needs only a few files",
                             "{name} 包含 {n} 个条目；适配器 zip 只需要几个文件"),
    "compare.zip_outside": ("{name} is unsafe: member {member!r} points outside the folder",
                            "{name} 不安全：成员 {member!r} 指向文件夹之外"),
    "compare.zip_link": ("{name} is unsafe: member {member!r} is a symbolic link", "{name} 不安全：成员 {member!r} 是符号链接"),
    "compare.zip_no_config": ("{name} is not a PEFT adapter: it contains no {config}.",
                              "{name} 不是 PEFT 适配器：其中不包含 {config}。"),
    "compare.zip_several": ("{name} holds several adapters ({members}); zip one adapter folder.",
                            "{name} 包含多个适配器（{members}）；请只打包一个适配器文件夹。"),
    "compare.zip_too_big": ("{name} unpacks to {size} MiB, over the {limit} MiB limit",
                            "{name} 解压后为 {size} MiB，超过了 {limit} MiB 的上限"),
    "compare.zip_corrupt": ("{name} is corrupt (could not read {member}): {detail}", "{name} 已损坏（无法读取 {member}）：{detail}"),
    "compare.upload_link": ("{name} is a symbolic link; upload the file itself.", "{name} 是符号链接；请上传文件本身。"),
    "compare.uploaded_not_found": ("Uploaded file not found: {path}", "找不到上传的文件：{path}"),
    "compare.file_too_large": ("{name} is over the {limit} MiB limit", "{name} 超过了 {limit} MiB 的上限"),
    "compare.upload_not_found": ("Upload not found: {path}", "找不到上传内容：{path}"),
    "compare.not_an_adapter": ("{name} is not an adapter: upload a .zip of the adapter folder, or both {config} and "
                               "{weights}.",
                               "{name} 不是适配器：请上传适配器文件夹的 .zip，或同时上传 {config} 和 {weights}。"),
    "compare.pickle_weights": ("only {weights} weights are accepted for uploads ({legacy} is a pickle, which can run "
                               "code when loaded); re-save the adapter with safetensors.",
                               "上传只接受 {weights} 格式的权重（{legacy} 是 pickle 格式，加载时可能执行代码）；请用 "
                               "safetensors 重新保存适配器。"),
    "compare.no_tensors": ("{weights} holds no tensors, so it is not a trained adapter.",
                           "{weights} 中没有任何张量，因此不是训练好的适配器。"),
    # export
    "compare.cannot_merge": ("{method} adapters cannot be merged: they add learned virtual tokens, not weight updates. "
                             "Export the adapter itself instead.",
                             "{method} 适配器无法合并：它们添加的是可学习的虚拟 token，而不是权重更新。请直接导出适配器本身。"),
    "compare.nothing_to_upload": ("Nothing to upload: {path} is not a folder.", "没有可上传的内容：{path} 不是文件夹。"),
    "compare.push_failed": ("Upload to {repo} failed: {detail}", "上传到 {repo} 失败：{detail}"),
    "compare.bad_repo_id": ("{repo!r} is not a Hub repo id like 'your-name/my-adapter'.",
                            "{repo!r} 不是 'your-name/my-adapter' 这样的 Hub 仓库 ID。"),
    "compare.push_needs_token": ("Pushing to the Hub needs a write token (set HF_TOKEN).",
                                 "推送到 Hub 需要有写权限的令牌（请设置 HF_TOKEN）。"),
    "compare.push_offline": ("Cannot push to the Hugging Face Hub: it is not reachable (offline, or HF_HUB_OFFLINE=1). "
                             "Zip the adapter and upload it later instead.",
                             "无法推送到 Hugging Face Hub：连接不上（离线，或 HF_HUB_OFFLINE=1）。请先把适配器打包为 zip，"
                             "稍后再上传。"),
    # generation
    "compare.unknown_variant": ("Unknown variant {variant!r}; choose one of: {choices}", "未知的变体 {variant!r}；可选：{choices}"),
    "compare.bad_prompt": ("The prompt must be text (got {kind}).", "提示必须是文本（收到的是 {kind}）。"),
    "compare.prompt_too_long": ("The prompt has {tokens:,} tokens; with {new:,} new tokens that is over the model's "
                                "{limit:,} positions. Shorten the prompt or ask for fewer new tokens.",
                                "提示有 {tokens:,} 个 token；加上 {new:,} 个新 token 超过了模型的 {limit:,} 个位置。"
                                "请缩短提示或减少新 token 数。"),
    "compare.cancelled": ("The generation was cancelled.", "生成已取消。"),
    # evaluation
    "compare.no_dataset": ("No dataset given: pick a shipped dataset or a .jsonl/.csv file.",
                           "未指定数据集：请选择内置数据集或 .jsonl/.csv 文件。"),
    "compare.positive_int": ("{name} must be a positive integer (got {value!r})", "{name} 必须是正整数（当前为 {value!r}）"),
    "compare.no_heldout": ("{name} has no held-out prompt/response examples to evaluate on.",
                           "{name} 没有可用于评估的验证集 prompt/response 样本。"),
    "compare.all_truncated": ("No answer tokens are left after truncation; raise max_length.",
                              "截断后没有剩下任何回答 token；请增大 max_length。"),
    # analysis
    "compare.unreadable_weights": ("Could not read the adapter weights {path}: {detail}", "无法读取适配器权重 {path}：{detail}"),
    "compare.needs_lora": ("Weight-update analysis needs a LoRA or DoRA adapter; {path} is {method}.",
                           "权重更新分析需要 LoRA 或 DoRA 适配器；{path} 是 {method}。"),
    "compare.no_lora_matrices": ("{path} holds no LoRA A/B matrices to analyse.", "{path} 中没有可分析的 LoRA A/B 矩阵。"),
    "compare.prefix_no_tokens": ("Prefix tuning learns keys and values for every layer, not input embeddings, so its "
                                 "virtual tokens have no nearest words. Use a prompt-tuning or P-tuning adapter.",
                                 "前缀微调为每一层学习键和值，而不是输入嵌入，所以它的虚拟 token 没有最近的词。请使用 prompt "
                                 "tuning 或 P-tuning 适配器。"),
    "compare.needs_prompt": ("Nearest-token analysis needs a prompt-tuning or P-tuning adapter; {path} is {method}.",
                             "最近 token 分析需要 prompt tuning 或 P-tuning 适配器；{path} 是 {method}。"),
    "compare.no_prompt_embeddings": ("{path} has no prompt_embeddings tensor.", "{path} 中没有 prompt_embeddings 张量。"),
    "compare.embedding_size": ("adapter was trained for a different architecture (virtual tokens have size {size}, "
                               "{model!r} has embeddings of size {model_size}).",
                               "适配器是为另一种架构训练的（虚拟 token 的维度为 {size}，{model!r} 的嵌入维度为 {model_size}）。"),
    "compare.too_many_adapters": ("Pick at most {n} adapters to compare at once.", "一次最多选择 {n} 个适配器进行对比。"),
    "compare.no_prompt": ("Type a prompt (or pick a held-out example) first.", "请先输入提示（或选择一个验证集样本）。"),
}
