"""Text in figures (workbench.plots), target-set labels, and the memory estimate's setups and formulas."""

MESSAGES = {
    # rank_chart
    "charts.rank_title": ("Trainable parameters vs LoRA rank", "可训练参数量与 LoRA 秩的关系"),
    "charts.share_title": ("Share of the model that trains vs LoRA rank", "参与训练的模型比例与 LoRA 秩的关系"),
    "charts.lora_rank": ("LoRA rank r", "LoRA 秩 r"),
    "charts.trainable_parameters": ("trainable parameters", "可训练参数量"),
    "charts.percent_of_model": ("% of model parameters", "占模型参数的百分比（%）"),
    "charts.rank_hover": ("{label}<br>rank {rank}<br>{trainable:,} params ({human})<br>{percent:.4f}% of model<br>"
                          "adapter file: {fp32} fp32, {bf16} bf16",
                          "{label}<br>秩 {rank}<br>{trainable:,} 个参数（{human}）<br>占模型的 {percent:.4f}%<br>适配器文件："
                          "{fp32}（fp32），{bf16}（bf16）"),
    "charts.reference_hover": ("{label}<br>{trainable:,} params<br>{percent:.4f}% of model<br>(does not depend on rank)",
                               "{label}<br>{trainable:,} 个参数<br>占模型的 {percent:.4f}%<br>（与秩无关）"),
    # size_chart: one method against its own size knob
    "charts.size_title": ("Trainable parameters of {method} vs {knob}", "{method} 的可训练参数量与 {knob} 的关系"),
    "charts.size_share_title": ("Share of the model that trains with {method} vs {knob}",
                                "{method} 参与训练的模型比例与 {knob} 的关系"),
    "charts.size_axis": ("{knob} (size knob of {method})", "{knob}（{method} 的规模参数）"),
    "charts.size_hover": ("{label}<br>{knob} = {size}<br>{trainable:,} params ({human})<br>{percent:.4f}% of model<br>"
                          "adapter file: {fp32} fp32, {bf16} bf16",
                          "{label}<br>{knob} = {size}<br>{trainable:,} 个参数（{human}）<br>占模型的 {percent:.4f}%<br>"
                          "适配器文件：{fp32}（fp32），{bf16}（bf16）"),
    "charts.fixed_title": ("Trainable parameters of {method} (no size knob)", "{method} 的可训练参数量（无规模参数）"),
    "charts.no_size_knob": ("no size knob: one count", "无规模参数：只有一个计数"),
    "charts.fixed_hover": ("{label}<br>{trainable:,} params ({human})<br>{percent:.4f}% of model<br>adapter file: {fp32} "
                           "fp32<br>(no size knob)",
                           "{label}<br>{trainable:,} 个参数（{human}）<br>占模型的 {percent:.4f}%<br>适配器文件：{fp32}（fp32）"
                           "<br>（无规模参数）"),
    # memory_chart
    "charts.memory_title": ("Training memory estimate (before activations)", "训练内存估算（不含激活值）"),
    "charts.weights": ("weights", "权重"),
    "charts.gradients": ("gradients", "梯度"),
    "charts.optimizer_states": ("optimizer states (Adam)", "优化器状态（Adam）"),
    "charts.gb_estimate": ("GB (estimate)", "GB（估算）"),
    # loss_chart
    "charts.loss_title": ("Loss", "损失"),
    "charts.train_loss": ("train loss", "训练损失"),
    "charts.heldout_loss": ("held-out loss", "验证损失"),
    "charts.loss_empty": ("The loss curve appears here once the first step is logged.", "记录第一步后，损失曲线会显示在这里。"),
    "charts.step": ("step", "步数"),
    "charts.loss": ("loss", "损失"),
    # eval_chart
    "charts.eval_hover": ("{metric}: {score:.3f}<br>perplexity: {perplexity:.3f}<br>n = {n}",
                          "{metric}：{score:.3f}<br>困惑度：{perplexity:.3f}<br>样本数 = {n}"),
    "charts.eval_title": ("Held-out {metric}: base vs adapted", "验证集 {metric}：基础模型与适配后对比"),
    "charts.score": ("score", "得分"),
    "charts.base": ("base", "基础模型"),
    # update_heatmap / spectrum_chart
    "charts.heatmap_title": ("Size of the learned update per layer and module", "每层、每个模块学到的更新的大小"),
    "charts.module": ("module", "模块"),
    "charts.layer": ("layer", "层"),
    "charts.spectrum_trace": ("L{layer} {module} (eff. rank {rank:.2f})", "L{layer} {module}（有效秩 {rank:.2f}）"),
    "charts.spectrum_title": ("Singular values of the update (normalised): how many directions it really uses",
                              "更新的奇异值（归一化）：它实际用了多少个方向"),
    "charts.singular_value_index": ("singular value index", "奇异值序号"),
    # rank explorer: target sets and the other methods' reference lines
    "charts.set.peft_default": ("PEFT default", "PEFT 默认"),
    "charts.set.attention": ("attention (q,k,v,o)", "注意力层（q,k,v,o）"),
    "charts.set.mlp": ("MLP only", "仅 MLP"),
    "charts.set.custom": ("your pick", "你的选择"),
    "charts.set.all_linear": ("all-linear", "all-linear"),
    "charts.ref.prompt_tuning": ("prompt tuning ({v} tokens)", "prompt tuning（{v} 个虚拟 token）"),
    "charts.ref.p_tuning": ("P-tuning MLP ({v} tokens)", "P-tuning MLP（{v} 个虚拟 token）"),
    "charts.ref.prefix_tuning": ("prefix tuning ({v} tokens)", "prefix tuning（{v} 个虚拟 token）"),
    "charts.ref.prefix_projection": ("prefix tuning + projection ({v})", "prefix tuning + 投影（{v} 个虚拟 token）"),
    "charts.ref.ia3": ("IA3 (PEFT default targets)", "IA3（PEFT 默认目标）"),
    # memory estimate setups (workbench.core.model.counting.memory_estimate) and how each estimate is made
    "charts.setup.full": ("full fine-tuning (fp32 + Adam)", "全量微调（fp32 + Adam）"),
    "charts.setup.frozen": ("{label} ({dtype} frozen base)", "{label}（冻结的 {dtype} 基础模型）"),
    "charts.setup.qlora": ("{label} (4-bit {quant} base, QLoRA)", "{label}（4 位 {quant} 基础模型，QLoRA）"),
    "charts.formula.full": ("weights, gradients, Adam: {n:,} params x (4 weights + 4 grads + 8 Adam) B = {total}",
                            "权重、梯度、Adam：{n:,} 个参数 ×（4 权重 + 4 梯度 + 8 Adam）B = {total}"),
    "charts.formula.frozen": ("weights, gradients, Adam: {frozen:,} frozen x {b} B + {t:,} trainable x (4 weights + "
                              "4 grads + 8 Adam) B = {total}",
                              "权重、梯度、Adam：{frozen:,} 个冻结参数 × {b} B + {t:,} 个可训练参数 ×（4 权重 + 4 梯度 + "
                              "8 Adam）B = {total}"),
    "charts.formula.qlora": ("weights, gradients, Adam: {q:,} linear weights x 0.5 B + {dq} bits/param ({consts:,} B) "
                             "+ {rest:,} other frozen x 4 B (fp32) + {t:,} trainable x 16 B = {total}",
                             "权重、梯度、Adam：{q:,} 个线性层权重 × 0.5 B + {dq} 位/参数（{consts:,} B）+ {rest:,} 个其他冻结参数 "
                             "× 4 B（fp32）+ {t:,} 个可训练参数 × 16 B = {total}"),
    "charts.formula.double_quant": ("double-quantised constants ~0.127", "双重量化常数约 0.127"),
    "charts.formula.constants": ("constants 0.5", "量化常数 0.5"),
    "charts.formula.qlora_cpu": ("{base}; on CPU + {n:,} params of the full-precision checkpoint x {b} B that stay "
                                 "resident (the loader's mapped file) = {total}",
                                 "{base}；在 CPU 上另加 {n:,} 个参数的全精度检查点 × {b} B（加载器映射的文件，一直驻留内存）"
                                 "= {total}"),
    "charts.formula.autocast_copies": ("{base}; under bf16 autocast + ({body:,} linear weights x {calls} body calls + "
                                       "{head:,} head weights) x 2 B of bf16 copies kept for the backward pass = {total}",
                                       "{base}；在 bf16 autocast 下另加（{body:,} 个线性层权重 × {calls} 次主体调用 + "
                                       "{head:,} 个输出层权重）× 2 B 的 bf16 副本（为反向传播保留）= {total}"),
    # memory estimate parts beyond weights / gradients / optimizer (workbench.core.model.memory_estimate)
    "charts.activations": ("activations", "激活值"),
    "charts.logits": ("logits + loss", "logits + 损失"),
    "charts.baseline": ("process baseline", "进程基线"),
    "charts.formula.activations": ("activations: ({layers} layers x {per_layer:,} B + adapter {adapter:,} B) per token x "
                                   "{tokens:,} tokens = {total} (per layer and token: 2 RMSNorm inputs 2h x 4 B, "
                                   "attention q, k, v, output 4 x heads x head_dim, MLP gate, up, act 3i; h={h}, "
                                   "i={i}, {heads} heads, {kv_heads} kv heads)",
                                   "激活值：（{layers} 层 × {per_layer:,} B + 适配器 {adapter:,} B）每 token × {tokens:,} 个 "
                                   "token = {total}（每层每 token：2 个 RMSNorm 输入 2h × 4 B，注意力 q、k、v、输出 4 × 头数 × "
                                   "头维度，MLP gate、up、激活 3i；h={h}，i={i}，{heads} 个头，{kv_heads} 个 kv 头）"),
    "charts.formula.activations_ckpt": ("activations with gradient checkpointing: {layers} layer inputs x {h} x 4 B x "
                                        "{tokens:,} tokens + one layer recomputed ({per_layer:,} B per token) = {total}",
                                        "梯度检查点下的激活值：{layers} 个层输入 × {h} × 4 B × {tokens:,} 个 token + "
                                        "一层重算（每 token {per_layer:,} B）= {total}"),
    "charts.formula.logits": ("logits + loss: {positions:,} positions x {vocab:,} vocabulary x {per} B (fp32 "
                              "log-softmax, its gradient, the logits' gradient) = {total}",
                              "logits + 损失：{positions:,} 个位置 × {vocab:,} 词表 × {per} B（fp32 log-softmax、其梯度、"
                              "logits 的梯度）= {total}"),
    "charts.formula.baseline_cpu": ("process baseline: Python + torch + transformers + peft + datasets + tokenizer, "
                                    "measured once: {mb} MB",
                                    "进程基线：Python + torch + transformers + peft + datasets + 分词器，实测一次：{mb} MB"),
    "charts.formula.baseline_cuda": ("process baseline: the CUDA context, about {mb} MB",
                                     "进程基线：CUDA 上下文，约 {mb} MB"),
}
