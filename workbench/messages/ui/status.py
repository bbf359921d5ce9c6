"""The page's own checks (handlers) and the status lines the server builds for it."""

MESSAGES = {
    # ---- errors raised by handlers
    "ui.unknown_recipe": ("Unknown recipe {name!r}; choose one of {choices}.", "未知的配方 {name!r}；可选：{choices}。"),
    "ui.no_file": ("No file was uploaded.", "没有上传文件。"),
    "ui.notebook_pick_adapter": ("Pick an adapter first (under \"Inside the adapter\").",
                                 "请先选择一个适配器（在“适配器内部”下）。"),
    "ui.notebook_no_run": ("{path} was uploaded, not trained here: there is no run to write a notebook for.",
                           "{path} 是上传的，不是在这里训练的：没有可生成笔记本的运行。"),
    "ui.int_list": ("{field}: expected whole numbers separated by commas, got {text!r}",
                    "{field}：应为用逗号分隔的整数，实际为 {text!r}"),
    "ui.positive_int_list": ("{field}: expected positive whole numbers, got {text!r}", "{field}：应为正整数，实际为 {text!r}"),
    "ui.whole_number": ("{field}: expected a whole number, got {value!r}", "{field}：应为整数，实际为 {value!r}"),
    "ui.whole_number_range": ("{field}: must be a whole number from 1 to {hi:,} (got {value!r})",
                              "{field}：必须是 1 到 {hi:,} 之间的整数（当前为 {value!r}）"),
    "ui.too_many_ranks": ("ranks: chart at most {n} ranks at once (got {got}).", "ranks：一次最多绘制 {n} 个秩（当前为 {got} 个）。"),
    "ui.no_target_set": ("Choose at least one target set to chart.", "请至少选择一个要绘制的目标集合。"),
    "ui.size_no_knob": ("**{method}** has no size knob: its count is set by its targets and settings alone, so the "
                        "chart shows one point.",
                        "**{method}** 没有规模参数：它的参数量只由目标模块和设置决定，所以图中只有一个点。"),
    "ui.size_knob_note": ("**{method}** is sized by `{knob}` (default {default}): {n} sizes counted exactly, as PEFT "
                          "counts them.",
                          "**{method}** 的规模由 `{knob}` 决定（默认 {default}）：已精确计算 {n} 个取值，与 PEFT 的计数一致。"),
    "ui.counting_size": ("counting {knob} = {size}", "正在计算 {knob} = {size}"),
    "ui.generate_first": ("Generate with at least one adapter first.", "请先用至少一个适配器生成。"),
    "ui.nothing_to_explain": ("No adapted answer to explain yet.", "还没有可以解释的适配器回答。"),
    "ui.pick_adapter": ("Pick an adapter to look inside.", "请选择要查看的适配器。"),
    "ui.push_needs_token": ("A Hugging Face token is needed to push (paste one, or set HF_TOKEN on the server).",
                            "推送需要 Hugging Face 令牌（粘贴一个，或在服务器上设置 HF_TOKEN）。"),
    # ---- Train tab: data
    "ui.dataset_summary": ("**{name}** ({task}): {description}  \n{n_train} training / {n_test} held-out examples; "
                           "metric: `{metric}`.",
                           "**{name}**（{task}）：{description}  \n训练样本 {n_train} 个 / 验证集样本 {n_test} 个；指标：`{metric}`。"),
    "ui.uploaded_data": ("Uploaded file `{name}`: 10% is held out for evaluation.", "上传的文件 `{name}`：其中 10% 留作评估。"),
    "ui.data_ok": ("`{name}`: {n_train} training rows, {n_test} held out. Looks good.",
                   "`{name}`：{n_train} 行用于训练，{n_test} 行留作验证。看起来没问题。"),
    "ui.loss_tokens": ("{green} tokens carry the loss (the model learns to produce them); grey ones are context only.",
                       "{green}的 token 计算损失（模型学习生成它们）；灰色的只是上下文。"),
    "ui.green": ("green", "绿色"),
    "ui.example_n": ("example {i}", "样本 {i}"),
    "ui.n_tokens": ("{n} tokens", "{n} 个 token"),
    # ---- Train tab: live status of a run
    "ui.no_run_yet": ("No run yet: choose a recipe or fill the form, then press **Start training**.",
                      "还没有运行：选择一个配方或填写表单，然后点击 **开始训练**。"),
    "ui.warning": ("⚠️ {error}", "⚠️ {error}"),
    "ui.run_header": ("**Run `{run_id}`** · status **{status}**", "**运行 `{run_id}`** · 状态 **{status}**"),
    "ui.queue_position": ("Waiting in the training queue: position **{position}** ({n} run(s) train at a time on this "
                          "server).",
                          "正在训练队列中等待：第 **{position}** 位（本服务器同时训练 {n} 个运行）。"),
    "ui.queue_eta": ("Estimated start in about **{wait}**: the steps still ahead of this run (single runs and the "
                     "remaining runs of experiments, in the order the sessions take turns) times the measured seconds "
                     "per step, plus each run's measured start and finish.",
                     "预计约 **{wait}** 后开始：排在本运行前面的步数（单个运行和实验剩余的运行，按各会话轮流的顺序）乘以实测的每步"
                     "秒数，再加上每个运行实测的启动和收尾时间。"),
    "ui.queue_eta_later": ("No start-time estimate: this server's queue does not hold the run (after a restart, "
                           "resume it to queue it again).",
                           "没有预计开始时间：本服务器的队列中没有这个运行（服务器重启后，请恢复它以重新排队）。"),
    "ui.run_setup": ("Training **{trainable:,}** of {total:,} parameters ({percent:.3f}%) · device **{device}** "
                     "({dtype}) · processes {processes}",
                     "训练 {total:,} 个参数中的 **{trainable:,}** 个（{percent:.3f}%）· 设备 **{device}**（{dtype}）· "
                     "进程数 {processes}"),
    "ui.run_step": ("step {step} · loss **{loss:.4f}** · {speed:.0f} tokens/s · elapsed {elapsed} · ETA {eta}",
                    "第 {step} 步 · 损失 **{loss:.4f}** · {speed:.0f} token/秒 · 已用时 {elapsed} · 预计剩余 {eta}"),
    "ui.heldout_loss": ("held-out loss **{loss:.4f}**", "验证损失 **{loss:.4f}**"),
    "ui.run_failed": ("❌ **Failed:** {error}  \nThe log and the last checkpoint are kept; press **Resume** to continue "
                      "from the checkpoint.",
                      "❌ **失败：** {error}  \n日志和最近的检查点都已保留；点击 **继续** 可从检查点接着训练。"),
    "ui.run_done": ("✅ Adapter saved in `{path}`. Open the **Compare** tab to try it.",
                    "✅ 适配器已保存到 `{path}`。打开 **对比** 页试试它。"),
    "ui.run_stopped": ("⏸ Stopped; the adapter at this step is saved. **Resume** continues from the last checkpoint.",
                       "⏸ 已停止；当前这一步的适配器已保存。**继续** 会从最近的检查点接着训练。"),
    "ui.loss_title": ("Loss - {name}", "损失 - {name}"),
    "ui.progress": ("step {step} / {total} ({percent:.0f}%) · {status}", "第 {step} / {total} 步（{percent:.0f}%）· {status}"),
    "ui.minutes_seconds": ("{minutes}m {seconds:02d}s", "{minutes} 分 {seconds:02d} 秒"),
    "ui.seconds": ("{seconds}s", "{seconds} 秒"),
    "ui.cpu_cores": ("CPU ({cores} cores)", "CPU（{cores} 核）"),
    "ui.precision_bf16_native": ("auto = bf16 mixed precision here: this machine runs bf16 natively",
                                 "auto = 本机使用 bf16 混合精度：本机原生支持 bf16"),
    "ui.precision_bf16_emulated": ("auto = fp32 here: this CPU has no native bf16, so bf16 would be emulated (a LoRA "
                                   "step took 74 s in bf16 vs 4 s in fp32 on such a CPU)",
                                   "auto = 本机使用 fp32：这颗 CPU 没有原生 bf16，bf16 只能模拟（在这样的 CPU 上一步 LoRA 训练 bf16 "
                                   "用了 74 秒，fp32 只要 4 秒）"),
    # ---- Compare tab
    "ui.uploaded_adapter": ("uploaded · {name}", "已上传 · {name}"),
    "ui.adapter_on": ("🟢 ADAPTER ON · {method}{params}", "🟢 适配器开启 · {method}{params}"),
    "ui.trainable_params": (" · {n:,} trainable params", " · {n:,} 个可训练参数"),
    "ui.params": (" · {n:,} params", " · {n:,} 个参数"),
    "ui.adapter_score": ("held-out {metric} {score:.2f}", "留出集 {metric} {score:.2f}"),
    "ui.adapter_forgetting": ("forgetting {value:+.3f} (rise of the loss on general text it never trained on, nats per "
                              "token; 0 = the base model, lower is better)",
                              "遗忘度 {value:+.3f}（在从未训练过的通用文本上损失的上升，每 token 奈特；0 = 基础模型，越低越好）"),
    "ui.adapter_size": ("{mb:.2f} MB", "{mb:.2f} MB"),
    "ui.updates_summary": ("**{n} updates** (rank r = {r}). The heatmap shows how big each learned change ΔW = B·A·(α/r) "
                           "is; the spectrum shows how many directions it really uses. Mean effective rank "
                           "**{mean:.2f}** of at most {r}: a low value means the task needed fewer directions than r "
                           "allows.",
                           "**{n} 个更新**（秩 r = {r}）。热力图显示每个学到的变化 ΔW = B·A·(α/r) 有多大；谱图显示它实际用了"
                           "多少个方向。平均有效秩 **{mean:.2f}**（最多 {r}）：数值低说明任务需要的方向比 r 允许的少。"),
    "ui.virtual_token": ("virtual token", "虚拟 token"),
    "ui.nearest_tokens": ("nearest vocabulary tokens (cosine)", "最近的词表 token（余弦相似度）"),
    "ui.virtual_tokens_note": ("Each learned virtual token is a vector in the embedding space. Its nearest real tokens "
                               "hint at what it 'means' (often little: learned prompts need not look like words).",
                               "每个学到的虚拟 token 都是嵌入空间中的一个向量。离它最近的真实 token 暗示了它的“含义”"
                               "（往往不多：学到的提示不一定像词）。"),
    "ui.no_weight_view": ("No weight view for {method} adapters yet: they scale activations per layer.",
                          "暂不支持查看 {method} 适配器的权重：它们按层缩放激活值。"),
    "ui.merged_saved": ("Merged model saved to `{path}` (safetensors + tokenizer); it loads with plain "
                        "`AutoModelForCausalLM`.",
                        "合并后的模型已保存到 `{path}`（safetensors + 分词器）；用普通的 `AutoModelForCausalLM` 即可加载。"),
    "ui.pushed": ("Pushed to {url}", "已推送到 {url}"),
    "ui.imported": ("Imported `{path}`.", "已导入 `{path}`。"),
    # ---- Inspect and Rank tabs
    "ui.real_weights": ("real weights ({dtype})", "真实权重（{dtype}）"),
    "ui.architecture_only": ("architecture only: built on the `meta` device, no weights downloaded, no memory used",
                             "仅架构：在 `meta` 设备上构建，不下载权重，不占内存"),
    "ui.model_summary": ("**{model_type}** ({cls}), {total:,} parameters ({human})",
                         "**{model_type}**（{cls}），{total:,} 个参数（{human}）"),
    "ui.module_summary": ("{n:,} named modules; {k} kinds of linear layer LoRA can wrap: `{leaves}`",
                          "{n:,} 个具名模块；LoRA 可以包装的线性层有 {k} 种：`{leaves}`"),
    "ui.default_targets": ("PEFT's default LoRA targets for {model_type}: **`{targets}`**",
                           "PEFT 对 {model_type} 默认的 LoRA 目标：**`{targets}`**"),
    "ui.match_summary": ("**{n} layers match** `{targets}`.  \nAt rank **{r}**: **{trainable:,}** trainable of {total:,} "
                         "parameters = **{percent:.4f}%** of the model; adapter file {fp32} (fp32) / {bf16} (bf16).",
                         "**匹配到 {n} 层** `{targets}`。  \n秩为 **{r}** 时：{total:,} 个参数中可训练 **{trainable:,}** 个 = "
                         "模型的 **{percent:.4f}%**；适配器文件 {fp32}（fp32）/ {bf16}（bf16）。"),
    "ui.memory_how": ("**How these estimates are made**: the peak of one training step = process baseline + weights + "
                      "gradients + Adam states + activations kept for the backward pass + logits and loss, for the "
                      "batch size, sequence length, precision and gradient checkpointing chosen above. Activations "
                      "and logits grow with batch x sequence length; checkpointing keeps only each layer's input.",
                      "**这些估算是怎么来的**：一个训练步的峰值 = 进程基线 + 权重 + 梯度 + Adam 状态 + 为反向传播保存的激活值 + "
                      "logits 与损失，按上面选的批大小、序列长度、精度和梯度检查点计算。激活值和 logits 随批大小 × 序列长度增长；"
                      "梯度检查点只保留每层的输入。"),
    "ui.memory_title": ("Training memory estimate - {model} (LoRA r={r})", "训练内存估算 - {model}（LoRA r={r}）"),
    "ui.memory_title_work": ("Training memory estimate - {model} (LoRA r={r}, batch {batch} x {seq} tokens, {precision}"
                             "{ckpt})", "训练内存估算 - {model}（LoRA r={r}，批 {batch} × {seq} 个 token，{precision}{ckpt}）"),
    "ui.memory_ckpt": (", checkpointing", "，梯度检查点"),
    # ---- table column headers (ui/language.COLUMN_IDS: a frame's column key -> one of these)
    "ui.column.name": ("name", "名称"),
    "ui.column.type": ("type", "类型"),
    "ui.column.in_features": ("in_features", "输入特征数"),
    "ui.column.out_features": ("out_features", "输出特征数"),
    "ui.column.shape": ("shape", "形状"),
    "ui.column.params": ("params", "参数量"),
    "ui.column.dtype": ("dtype", "数据类型"),
    "ui.column.trainable": ("trainable", "可训练参数量"),
    "ui.column.trainable_flag": ("trainable", "可训练"),
    "ui.column.leaf": ("leaf", "层名"),
    "ui.column.params_each": ("params each", "每层参数量"),
    "ui.column.params_total": ("params total", "参数总量"),
    "ui.column.matched_module": ("matched module", "匹配到的模块"),
    "ui.column.target_set": ("target set", "目标集合"),
    "ui.column.method": ("method", "方法"),
    "ui.column.rank": ("rank", "秩"),
    "ui.column.size": ("size", "规模"),
    "ui.column.percent_of_model": ("% of model", "占模型的百分比"),
    "ui.column.layers": ("layers", "层数"),
    "ui.column.adapter_fp32": ("adapter fp32", "适配器大小（fp32）"),
    "ui.column.adapter_bf16": ("adapter bf16", "适配器大小（bf16）"),
    "ui.column.setup": ("setup", "配置"),
    "ui.column.weights": ("weights", "权重"),
    "ui.column.gradients": ("gradients", "梯度"),
    "ui.column.optimizer": ("optimizer", "优化器状态"),
    "ui.column.total_estimate": ("total (estimate)", "总计（估算）"),
    "ui.column.activations": ("activations", "激活值"),
    "ui.column.logits": ("logits + loss", "logits + 损失"),
    "ui.column.baseline": ("baseline", "进程基线"),
    "ui.column.run": ("run", "运行"),
    "ui.column.status": ("status", "状态"),
    "ui.column.model": ("model", "模型"),
    "ui.column.dataset": ("dataset", "数据集"),
    "ui.column.step": ("step", "步数"),
    "ui.column.train_loss": ("train loss", "训练损失"),
    "ui.column.held_out_loss": ("held-out loss", "验证损失"),
    "ui.column.held_out_score": ("held-out score", "验证集得分"),
    "ui.column.variant": ("variant", "变体"),
    "ui.column.metric": ("metric", "指标"),
    "ui.column.score": ("score", "得分"),
    "ui.column.perplexity": ("perplexity", "困惑度"),
    "ui.column.n": ("n", "样本数"),
    "ui.column.prompt": ("prompt", "提示"),
    "ui.column.reference": ("reference", "参考答案"),
    "ui.column.base": ("base", "基础模型"),
    # ---- dataset tasks (presets/datasets/*/meta.yaml "task")
    "ui.task.rewriting": ("rewriting", "改写"),
    "ui.task.extraction": ("extraction", "信息抽取"),
    "ui.task.classification": ("classification", "分类"),
}
