"""The longer explanations shown beside the controls (Markdown), English and Chinese side by side. A method's
explanation is ``help.method.<name>``: the method registry names it (``MethodInfo.help_id``)."""

MESSAGES = {
    "help.intro": ("""# PEFT Workbench
Learn **parameter-efficient fine-tuning** by doing it: look inside a model, see what LoRA and friends would train,
train a small adapter on your CPU, and compare the model before and after. Everything runs offline on the embedded
**SmolLM2-135M-Instruct**; the architecture-only presets (up to Llama-3-70B) are built on PyTorch's `meta` device,
so nothing is downloaded and no memory is used.
""",
        """# PEFT 工作台
在动手中学习**参数高效微调**：查看模型内部，看看 LoRA 等方法会训练哪些参数，在 CPU 上训练一个小适配器，并比较训练前后的模型。
所有功能都可在内置的 **SmolLM2-135M-Instruct** 上离线运行；仅架构的预设（最大到 Llama-3-70B）构建在 PyTorch 的 `meta`
设备上，因此无需下载，也不占内存。
"""),
    "help.targets": ("""
**Which layers should LoRA adapt?** In attention, **q** (query) and **k** (key) decide *where* each token looks,
**v** (value) carries *what* is passed along and **o** mixes the heads back together. The MLP projections
(**gate/up/down**, `fc1/fc2`, `wi/wo`) hold much of the model's stored knowledge.
The LoRA paper found that, for a fixed budget, adapting **q and v at a low rank** beat adapting one of them at a
higher rank, which is why `q_proj,v_proj` is PEFT's default for Llama-style models. `all-linear` adapts every
linear layer except the output head: more parameters, often a little better.
""",
        """
**LoRA 应该适配哪些层？** 在注意力中，**q**（query）和 **k**（key）决定每个 token *看向哪里*，**v**（value）携带
*传递的内容*，**o** 把各个头重新混合。MLP 投影（**gate/up/down**、`fc1/fc2`、`wi/wo`）保存了模型的大量知识。
LoRA 论文发现，在参数预算固定时，**以低秩同时适配 q 和 v** 优于以更高的秩只适配其中之一，这就是 PEFT 对 Llama 类模型默认使用
`q_proj,v_proj` 的原因。`all-linear` 适配除输出层外的所有线性层：参数更多，效果通常略好。
"""),
    "help.rank": ("""
**Rank** is the inner size of LoRA's update `ΔW = B·A` (A: r × in, B: out × r). Parameters grow **linearly**
with r; the LoRA paper saw almost no quality change between r = 1 and r = 64 when adapting q and v.
Dashed lines are methods whose size does not depend on rank: **prompt tuning** learns a few input embeddings,
**P-tuning** learns them through a small MLP, **prefix tuning** learns key/value prefixes in every layer,
**IA3** learns one scaling vector per adapted layer.
""",
        """
**秩**是 LoRA 更新 `ΔW = B·A` 的中间维度（A：r × 输入，B：输出 × r）。参数量随 r **线性**增长；LoRA 论文发现在适配
q 和 v 时，r = 1 到 r = 64 之间质量几乎不变。虚线表示参数量与秩无关的方法：**prompt tuning** 学习少量输入嵌入，
**P-tuning** 通过一个小 MLP 生成它们，**prefix tuning** 在每一层学习键/值前缀，**IA3** 为每个被适配的层学习一个缩放向量。
"""),
    "help.size_knob": ("""---
### Any method against its own size knob
Each method has its own knob that sets how many parameters it trains: LoRA and LoHa the rank `r`, prompt tuning the
number of virtual tokens, FourierFT the number of frequencies `n_frequency`, last-layers tuning the number of layers.
Pick a method to chart its exact count (PEFT's own) against that knob. A few methods are counted by building them on
real weights (BOFT, SHiRA, UniLoRA): they take a second or two per value.
""",
        """---
### 任意方法与它自己的规模参数
每种方法都有决定其训练参数量的规模参数：LoRA 和 LoHa 是秩 `r`，prompt tuning 是虚拟 token 数，FourierFT 是频率数
`n_frequency`，last-layers 是训练的层数。选择一种方法，即可画出它的精确参数量（与 PEFT 的计数一致）随该参数的变化。
少数方法（BOFT、SHiRA、UniLoRA）需要在真实权重上构建才能计数：每个取值需要一两秒。
"""),
    "help.memory": ("""---
**Why QLoRA saves memory:** the frozen base model is stored in 4-bit NF4 (~0.5 byte per parameter instead of 4),
and only the small LoRA adapter gets gradients and Adam states. Full fine-tuning needs gradients and two Adam
moments for *every* weight (about 4× the weights in fp32). All figures are estimates before activations.
""",
        """---
**QLoRA 为什么省内存：** 冻结的基础模型以 4 位 NF4 存储（每个参数约 0.5 字节，而不是 4 字节），只有小小的 LoRA
适配器需要梯度和 Adam 状态。全量微调需要为*每个*权重保存梯度和两个 Adam 动量（fp32 下约为权重的 4 倍）。
所有数字均为未计激活值的估算。
"""),
    "help.compare": ("""
Every column uses the **same prompt, chat template, seed and decoding settings**. There is only **one copy** of the
base model in memory: the *base* column is generated with the adapters switched **off** (`disable_adapter()`),
each adapter column with that adapter switched **on** (`set_adapter`). Greedy decoding (the default) makes the
comparison repeatable.
""",
        """
每一列都使用**相同的提示、对话模板、随机种子和解码设置**。内存中只有**一份**基础模型：*基础*列在适配器**关闭**时生成
（`disable_adapter()`），每个适配器列在该适配器**开启**时生成（`set_adapter`）。贪心解码（默认）使对比可以复现。
"""),
    "help.method.lora": ("**LoRA** freezes the model and learns a low-rank update ΔW = B·A (scaled by α/r) for each "
                         "target layer. Rank r sets its size; α sets how strongly it is applied.",
                         "**LoRA** 冻结模型，为每个目标层学习一个低秩更新 ΔW = B·A（按 α/r 缩放）。秩 r 决定其大小，α 决定其作用强度。"),
    "help.method.dora": ("**DoRA** is LoRA that splits each weight into a *magnitude* (one trained number per output) "
                         "and a *direction* (updated by LoRA). Slightly more parameters; often closer to full "
                         "fine-tuning.",
                         "**DoRA** 是把每个权重拆成*幅度*（每个输出一个可训练数）和*方向*（由 LoRA 更新）的 LoRA。参数略多，通常更接近全量微调。"),
    "help.method.qlora": ("**QLoRA** loads the frozen model in 4-bit NF4 (about 1/8 of fp32 memory) and trains a LoRA "
                          "adapter on top in higher precision. Same adapter size as LoRA, far less memory for the "
                          "base.",
                          "**QLoRA** 以 4 位 NF4 加载冻结的模型（约为 fp32 内存的 1/8），并在其上以更高精度训练 LoRA 适配器。适配器大小与 LoRA 相同，基础模型内存少得多。"),
    "help.method.prompt_tuning": ("**Prompt tuning** learns a few *virtual tokens*: embedding vectors put in front of "
                                  "every input. Nothing inside the model changes. Tiny, but needs a high learning "
                                  "rate.",
                                  "**Prompt tuning** 学习少量*虚拟 token*：放在每个输入前面的嵌入向量。模型内部不变。参数极少，但需要较高的学习率。"),
    "help.method.p_tuning": ("**P-tuning** also learns virtual tokens, but produces them with a small MLP or LSTM "
                             "encoder, which makes training steadier.",
                             "**P-tuning** 同样学习虚拟 token，但通过一个小的 MLP 或 LSTM 编码器生成，训练更稳定。"),
    "help.method.prefix_tuning": ("**Prefix tuning** learns key/value vectors that every attention layer sees before "
                                  "the input: virtual tokens inside each layer, not just at the input.",
                                  "**Prefix tuning** 学习每个注意力层在输入之前看到的键/值向量：虚拟 token 位于每一层内部，而不只是输入处。"),
    "help.method.ia3": ("**IA3** learns one scaling vector per adapted layer (keys, values and the MLP): the smallest "
                        "adapter of all.",
                        "**IA3** 为每个被适配的层（键、值和 MLP）学习一个缩放向量：所有方法中最小的适配器。"),
    "help.method.ln_tuning": ("**LN tuning** trains only the model's normalization layers (LayerNorm / RMSNorm: one "
                              "scale, and a shift where the layer has one, per feature) and freezes everything else: "
                              "a *selective* method, usually with even fewer parameters than IA3.",
                              "**LN tuning** 只训练模型的归一化层（LayerNorm / RMSNorm：每个特征一个缩放，若该层有偏移则再加一个偏移），"
                              "其余全部冻结：一种*选择式*方法，参数通常比 IA3 还少。"),
    "help.experiments": ("""
**Experiments** answer questions by running them: one run per value you vary, side by side. Pick a shipped
experiment (each repeats a finding of the LoRA paper) or build one from the Train tab's config with the axes
below, look at the plan (every run and its trainable parameters) and launch it. It waits in the queue as **one
item**; its runs train one after another and keep going if you close or reload the page. A `budget` sizes each
variant's rank or virtual tokens so that every run trains about the same number of parameters.
""",
        """
**实验**通过实际运行来回答问题：你改变的每个取值对应一个运行，并排对比。选择一个内置实验（每个都重现 LoRA 论文的一个发现），
或用下面的维度根据“训练”页的配置构建一个，先查看计划（每个运行及其可训练参数量），再启动。它在队列中只算**一项**；
其中的运行依次训练，即使关闭或刷新页面也会继续。`budget`（预算）会调整每个变体的秩或虚拟 token 数，使各运行训练的参数量大致相同。
"""),
}
