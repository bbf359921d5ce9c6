"""The PEFT methods (workbench.spec.methods): the groups they fall into, a one-line description of each, and the
texts a method's own family file needs (workbench/core/methods/). English and Chinese side by side."""

MESSAGES = {
    # the groups (spec.methods.GROUPS) and how a list of methods names one method
    "methods.group.full": ("full fine-tuning", "全量微调"),
    "methods.group.selective": ("selective", "选择式"),
    "methods.group.reparameterized": ("reparameterized", "重参数化"),
    "methods.group.additive": ("additive", "添加式"),
    "methods.choice": ("{group} · {name}", "{group} · {name}"),
    # one line per method (its record's about_id)
    "methods.about.lora": ("Low-rank update B·A of each target layer; the model's own weights stay frozen.",
                           "为每个目标层学习低秩更新 B·A；模型自身的权重保持冻结。"),
    "methods.about.dora": ("LoRA on the direction of each weight plus one trained magnitude per output.",
                           "LoRA 更新每个权重的方向，另为每个输出训练一个幅度。"),
    "methods.about.qlora": ("LoRA on a base model loaded in 4-bit NF4: the same adapter, far less memory.",
                            "在以 4 位 NF4 加载的基础模型上训练 LoRA：适配器相同，内存少得多。"),
    "methods.about.prompt_tuning": ("A few learned virtual-token embeddings put in front of every input.",
                                    "在每个输入前加上少量学习得到的虚拟 token 嵌入。"),
    "methods.about.p_tuning": ("Virtual tokens produced by a small trained MLP or LSTM encoder.",
                               "由一个小的可训练 MLP 或 LSTM 编码器生成的虚拟 token。"),
    "methods.about.prefix_tuning": ("Learned key/value prefixes that every attention layer sees before the input.",
                                    "每个注意力层在输入之前看到的、学习得到的键/值前缀。"),
    "methods.about.ia3": ("One learned scaling vector per target layer (keys, values, MLP).",
                          "为每个目标层（键、值、MLP）学习一个缩放向量。"),
    "methods.about.ln_tuning": ("Trains the model's normalization layers (a copy of each) and nothing else.",
                                "只训练模型的归一化层（各一份副本），其余不变。"),
    # LN tuning (core/methods/ln_tuning.py)
    "methods.wraps.ln_tuning": ("any module a target names (it trains a copy of it)",
                                "目标所指的任何模块（训练它的一份副本）"),
    "methods.ref.ln_tuning": ("LN tuning (PEFT default targets)", "LN tuning（PEFT 默认目标）"),
    "methods.ln_nested": ("LN tuning cannot wrap {inner}: it lies inside {outer}, which the targets match too; "
                          "choose one of them",
                          "LN tuning 无法包装 {inner}：它位于同样被目标匹配的 {outer} 之内；请只选其中之一"),
}
