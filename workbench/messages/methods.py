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
    "methods.about.last_layers": ("The last N decoder blocks train whole; every other weight stays frozen.",
                                  "最后 N 个解码器块整体训练，其余权重全部冻结。"),
    "methods.about.full": ("Every weight of the model trains: the costly reference the other methods are measured "
                           "against.", "模型的每个权重都参与训练：衡量其他方法的昂贵参照。"),
    "methods.about.loha": ("Update = Hadamard product of two low-rank pairs: higher effective rank for the same "
                           "parameters.", "更新为两组低秩矩阵的哈达玛积：参数相同，有效秩更高。"),
    "methods.about.lokr": ("Update = Kronecker product of a small matrix and a low-rank one.",
                           "更新为一个小矩阵与一个低秩矩阵的克罗内克积。"),
    "methods.about.vera": ("Frozen random low-rank matrices shared by all layers; only two scaling vectors per "
                           "layer train.", "所有层共享冻结的随机低秩矩阵；每层只训练两个缩放向量。"),
    "methods.about.pvera": ("VeRA with a probabilistic (sampled) scaling of the shared random projection.",
                            "VeRA 的概率版本：对共享随机投影使用采样的缩放。"),
    "methods.about.adalora": ("SVD-form LoRA that moves its rank budget to the layers that need it during "
                              "training.", "SVD 形式的 LoRA，训练中把秩预算分配给更需要的层。"),
    "methods.about.randlora": ("Full-rank update from frozen random bases; only small diagonal scalings train.",
                               "由冻结的随机基构成满秩更新；只训练小的对角缩放。"),
    "methods.about.delora": ("LoRA whose update is normalized and bounded by a learned scale (decoupled angle and "
                             "strength).", "更新经归一化并由学习到的尺度限定的 LoRA（方向与强度解耦）。"),
    "methods.about.gralora": ("LoRA split into a grid of small blocks, each with its own low-rank pair.",
                              "把 LoRA 拆成小块网格，每块有自己的低秩矩阵对。"),
    "methods.about.hira": ("Hadamard product of the frozen weight and a low-rank update: high-rank change, LoRA's "
                           "size.", "冻结权重与低秩更新的哈达玛积：高秩变化，LoRA 的参数量。"),
    "methods.about.lily": ("Low-rank adapters whose down-projections are shared across layers and up-projections "
                           "mixed like experts.", "跨层共享下投影、上投影像专家一样混合的低秩适配器。"),
    "methods.about.tinylora": ("A tiny trained vector projected through fixed random tensors onto each weight's "
                               "SVD.", "一个很小的可训练向量，经固定随机张量投影到每个权重的 SVD 上。"),
    "methods.about.unilora": ("One trained vector for the whole model; every layer's LoRA entries index into it.",
                              "整个模型只训练一个向量；每层 LoRA 的元素都从中索引。"),
    "methods.about.vblora": ("LoRA factors assembled from a shared bank of trained vectors (top-k mixtures).",
                             "由共享的可训练向量库（top-k 混合）拼出 LoRA 因子。"),
    "methods.about.deft": ("Residual-projection update: remove a learned direction from the weight, inject a new "
                           "one.", "残差投影更新：从权重中去掉一个学习到的方向，再注入新的方向。"),
    "methods.about.glora": ("Generalized LoRA: scales, shifts and a low-rank term on weights and biases.",
                            "广义 LoRA：对权重和偏置施加缩放、平移与低秩项。"),
    "methods.about.peanut": ("A small nonlinear network between LoRA's two projections.",
                             "在 LoRA 的两个投影之间加一个小的非线性网络。"),
    "methods.about.miss": ("Trains a shard of each weight shared across its rows (MiSS, formerly Bone).",
                           "训练每个权重中按行共享的一个分片（MiSS，原名 Bone）。"),
    "methods.about.oft": ("Multiplies each weight by a trained block-diagonal orthogonal matrix (keeps neuron "
                          "angles).", "用可训练的块对角正交矩阵乘以每个权重（保持神经元间夹角）。"),
    "methods.about.boft": ("OFT with butterfly-factorized orthogonal matrices: dense rotations, few parameters.",
                           "用蝶形分解正交矩阵的 OFT：稠密旋转，参数很少。"),
    "methods.about.hra": ("A chain of r trained Householder reflections applied to each weight.",
                          "对每个权重施加 r 个可训练的豪斯霍尔德反射。"),
    "methods.about.psoft": ("A small orthogonal rotation inside each weight's principal (top singular) subspace.",
                            "在每个权重的主（最大奇异值）子空间内做小的正交旋转。"),
    "methods.about.road": ("Rotates pairs of outputs by trained 2-D angles and scales.",
                           "用可训练的二维角度和缩放旋转成对的输出。"),
    "methods.about.osf": ("Trains the low singular directions of each weight and freezes the top ones.",
                          "训练每个权重的低奇异方向，冻结最大的那些方向。"),
    "methods.about.fourierft": ("Trains a few random 2-D Fourier coefficients of each weight update.",
                                "只训练每个权重更新中少量随机的二维傅里叶系数。"),
    "methods.about.waveft": ("Trains a few wavelet coefficients of each weight update.",
                             "只训练每个权重更新中的少量小波系数。"),
    "methods.about.c3a": ("Updates as circular convolutions (block-circulant, computed with the FFT).",
                          "以循环卷积表示更新（块循环矩阵，用 FFT 计算）。"),
    "methods.about.shira": ("Trains a fixed random 1-2% of each weight's entries (sparse, high rank).",
                            "只训练每个权重中固定随机的 1-2% 元素（稀疏、高秩）。"),
    "methods.about.supertuning": ("Trains only the largest-magnitude entries of each weight (a sparse support).",
                                  "只训练每个权重中幅值最大的元素（稀疏支撑）。"),
    "methods.about.beft": ("Trains a bias vector on each target layer (BitFit's idea).",
                           "为每个目标层训练一个偏置向量（BitFit 的思路）。"),
    "methods.about.trainable_tokens": ("Trains the embedding rows of chosen tokens only (new or special tokens).",
                                       "只训练所选 token 的嵌入行（新 token 或特殊 token）。"),
    "methods.about.cartridge": ("A trained key/value cache put before the input in every layer (Cartridges).",
                                "在每层输入之前放置一段可训练的键/值缓存（Cartridges）。"),
    "methods.about.adaption_prompt": ("Learned prompts with zero-init gated attention in the top layers "
                                      "(LLaMA-Adapter).", "在顶部若干层加入带零初始化门控注意力的学习提示（LLaMA-Adapter）。"),
    # what the methods PEFT counts (core/methods/peft_counted.py) and last_layers can refuse
    "methods.full_no_peft": ("full fine-tuning trains the model itself: it has no PEFT config (its run saves a whole "
                             "transformers checkpoint)",
                             "全量微调直接训练模型本身：没有 PEFT 配置（其运行保存完整的 transformers 检查点）"),
    "methods.last_layers_targets": ("last_layers trains the last num_layers decoder blocks whole: leave the targets "
                                    "empty (default) and set num_layers",
                                    "last_layers 整体训练最后 num_layers 个解码器块：请把目标留空（默认）并设置 num_layers"),
    "methods.peft_refused": ("PEFT cannot build {method} with these settings: {detail}",
                             "PEFT 无法用这些设置构建 {method}：{detail}"),
    "methods.count_needs_weights": ("{method} reads weight values while PEFT builds it, so it is counted on real "
                                    "weights, for models up to {most:,} parameters; this one has {total:,}",
                                    "{method} 在 PEFT 构建时会读取权重值，因此只能在真实权重上计数，"
                                    "仅限不超过 {most:,} 个参数的模型；该模型有 {total:,} 个"),
    "methods.no_layer_count": ("cannot tell how many decoder blocks a {model_type} model has",
                               "无法确定 {model_type} 模型有多少个解码器块"),
    "methods.too_many_layers": ("asks for the last {n} blocks, but the model has {total}",
                                "要求最后 {n} 个块，但模型只有 {total} 个"),
    # LN tuning (core/methods/ln_tuning.py)
    "methods.wraps.ln_tuning": ("any module a target names (it trains a copy of it)",
                                "目标所指的任何模块（训练它的一份副本）"),
    "methods.ref.ln_tuning": ("LN tuning (PEFT default targets)", "LN tuning（PEFT 默认目标）"),
    "methods.ln_nested": ("LN tuning cannot wrap {inner}: it lies inside {outer}, which the targets match too; "
                          "choose one of them",
                          "LN tuning 无法包装 {inner}：它位于同样被目标匹配的 {outer} 之内；请只选其中之一"),
    # the LoRA family (core/methods/lora.py): inits, LoRA+, layers_to_transform
    "methods.lora_init": ("must be one of {choices} (got {value!r})", "必须是以下之一：{choices}（当前为 {value!r}）"),
    "methods.loftq_needs_4bit": ("loftq starts LoRA where it makes up for the 4-bit quantization error, so it needs a "
                                 "4-bit base (a quantized method such as qlora), not {method}",
                                 "loftq 让 LoRA 从弥补 4 位量化误差的位置起步，因此需要 4 位基础模型（qlora 等量化方法），"
                                 "而不是 {method}"),
    "methods.lora_init_plain_only": ("{init} moves part of each weight into the adapter; the trained adapter is saved "
                                     "as a plain LoRA of the original model (its A and B matrices only), so it cannot "
                                     "be combined with {what}",
                                     "{init} 会把每个权重的一部分移入适配器；训练后的适配器以原模型上的普通 LoRA 保存"
                                     "（只含 A、B 矩阵），因此不能与{what}同用"),
    "methods.lora_init_with.dora": ("DoRA (its magnitude vectors would be lost)", "DoRA（其幅度向量会丢失）"),
    "methods.lora_init_with.quantized": ("a 4-bit base (the remaining weights would be quantized again)",
                                         "4 位基础模型（剩余权重会被再次量化）"),
    "methods.lora_init_with.modules_to_save": ("modules_to_save (their trained copies would be lost)",
                                               "modules_to_save（训练过的副本会丢失）"),
    "methods.lora_init_with.bias": ("trained biases (bias = {bias}; they would be lost)",
                                    "训练偏置（bias = {bias}；它们会丢失）"),
    "methods.lora_init_unconvertible": ("{init} cannot be saved as a plain LoRA: the adapter also trains {name}, "
                                        "which PEFT's conversion drops (it keeps the A and B matrices of linear "
                                        "layers only); leave embeddings out of the targets or use init_lora_weights: "
                                        "true",
                                        "{init} 无法保存为普通 LoRA：适配器还训练了 {name}，而 PEFT 的转换会丢弃它"
                                        "（只保留线性层的 A、B 矩阵）；请把嵌入层移出目标，或使用 init_lora_weights: true"),
    "methods.loftq_needs_cuda": ("LoftQ initialization runs on a CUDA GPU (PEFT computes it there); this run's device "
                                 "is {device}: train on a GPU, or use init_lora_weights: true",
                                 "LoftQ 初始化需要在 CUDA GPU 上运行（PEFT 在那里计算）；本次运行的设备是 {device}："
                                 "请在 GPU 上训练，或使用 init_lora_weights: true"),
    "methods.loftq_needs_safetensors": ("LoftQ reads the model's full-precision weights from its safetensors files, "
                                        "and {path} has none",
                                        "LoftQ 需要从模型的 safetensors 文件读取全精度权重，而 {path} 中没有"),
    "methods.layers_to_transform": ("must be a layer index (an integer >= 0) or a non-empty list of them (got "
                                    "{value!r})", "必须是层索引（>= 0 的整数）或由它们组成的非空列表（当前为 {value!r}）"),
    "methods.layers_need_names": ("layers_to_transform needs target_modules as a list of names or PEFT's default, "
                                  "not {targets!r} (PEFT picks layers only among named targets)",
                                  "layers_to_transform 要求 target_modules 为名称列表或 PEFT 默认值，而不是 {targets!r}"
                                  "（PEFT 只在按名称指定的目标中挑选层）"),
    "methods.layers_match_nothing": ("layers_to_transform {layers} keeps none of the {n} target layers; their layer "
                                     "indices are {found}",
                                     "layers_to_transform {layers} 没有保留 {n} 个目标层中的任何一个；它们的层索引为 {found}"),
}
