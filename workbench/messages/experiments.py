"""Experiment files (``presets/experiments/*.yaml``): validation errors (``SpecError(field, id)``: rendered after
``field: ``), the experiment runner's errors and the lines it writes into reports."""

MESSAGES = {
    # ----------------------------------------------------------------- validation (rendered after "field: ")
    "experiments.not_mapping": ("must be a mapping (name, base, vary / variants, ...)",
                                "必须是映射（name、base、vary / variants 等）"),
    "experiments.unknown_key": ("unknown experiment field{hint}", "未知的实验字段{hint}"),
    "experiments.bad_name": ("must be a short name of letters, digits, '.', '_' and '-' (got {value!r})",
                             "必须是由字母、数字、'.'、'_' 和 '-' 组成的简短名称（当前为 {value!r}）"),
    "experiments.text": ("must be text or a mapping {{en: ..., zh: ...}}",
                         "必须是文本，或映射 {{en: ..., zh: ...}}"),
    "experiments.base_missing": ("is required: a run config YAML path or an inline run config",
                                 "必填：运行配置 YAML 的路径，或内联的运行配置"),
    "experiments.base_not_found": ("file not found: {path}", "找不到文件：{path}"),
    "experiments.vary_mapping": ("must be a mapping of dotted settings to lists of values (e.g. adapter.r: [4, 8])",
                                 "必须是“带点的设置名 → 取值列表”的映射（例如 adapter.r: [4, 8]）"),
    "experiments.unknown_field": ("is not a run setting{hint}", "不是运行设置{hint}"),
    "experiments.empty_values": ("must list at least one value", "至少要列出一个取值"),
    "experiments.values_list": ("must be a list of values (got {value!r})", "必须是取值列表（当前为 {value!r}）"),
    "experiments.empty_grid": ("gives no runs: list values under vary or entries under variants",
                               "没有产生任何运行：请在 vary 下列出取值，或在 variants 下列出条目"),
    "experiments.variants_list": ("must be a list of mappings, each with a label and dotted overrides",
                                  "必须是映射列表，每项含 label 和带点的覆盖设置"),
    "experiments.variant_mapping": ("must be a mapping (label plus dotted overrides such as adapter.method: lora)",
                                    "必须是映射（label 加上带点的覆盖设置，例如 adapter.method: lora）"),
    "experiments.duplicate_label": ("label {label!r} is used twice", "标签 {label!r} 被使用了两次"),
    "experiments.too_many_runs": ("gives {n} runs, more than the limit of {limit} (WORKBENCH_MAX_EXPERIMENT_RUNS)",
                                  "会产生 {n} 个运行，超过上限 {limit}（WORKBENCH_MAX_EXPERIMENT_RUNS）"),
    "experiments.too_many_steps": ("its {runs} runs train {n} steps in all, more than this server's limit of {limit} "
                                   "steps per experiment (WORKBENCH_MAX_EXPERIMENT_STEPS={limit}); lower max_steps or "
                                   "run fewer variants",
                                   "它的 {runs} 个运行共训练 {n} 步，超过这个服务器每个实验 {limit} 步的上限"
                                   "（WORKBENCH_MAX_EXPERIMENT_STEPS={limit}）；请减小 max_steps 或减少变体"),
    "experiments.positive_int": ("must be a positive integer or null (got {value!r})",
                                 "必须是正整数或 null（当前为 {value!r}）"),
    "experiments.budget_too_small": ("{budget:,} trainable parameters is less than the smallest that variant "
                                     "{label!r} can reach ({smallest:,} at {knob}={value})",
                                     "{budget:,} 个可训练参数小于变体 {label!r} 能达到的最小值"
                                     "（{knob}={value} 时为 {smallest:,}）"),
    "experiments.in_run": ("{label}: {detail}", "{label}：{detail}"),
    "experiments.not_found": ("No experiment named {name!r}: give a .yaml file or one of {names}.",
                              "没有名为 {name!r} 的实验：请给出 .yaml 文件，或以下之一：{names}。"),
    "experiments.run_not_found": ("No experiment run {exp_id!r} in {root}.", "{root} 中没有实验运行 {exp_id!r}。"),
    "experiments.output_exists": ("{path} already exists; pick another --output-dir.",
                                  "{path} 已存在；请换一个 --output-dir。"),
    "experiments.bad_flag": ("{flag} must be a positive integer (got {value!r})",
                             "{flag} 必须是正整数（当前为 {value!r}）"),
    "experiments.needs_argument": ("experiment {action} needs {argument} (see: python -m workbench experiment --help)",
                                   "experiment {action} 需要 {argument}（见：python -m workbench experiment --help）"),
    "experiments.nothing_to_resume": ("Experiment {exp_id} has no queued or interrupted run left to train.",
                                      "实验 {exp_id} 已没有排队或被中断的运行需要训练。"),
    "experiments.no_adapter": ("run {run_id} has no trained adapter to score", "运行 {run_id} 没有可评分的已训练适配器"),
    "experiments.not_lora": ("Subspace similarity needs LoRA or DoRA adapters; {path} is {kind}.",
                             "子空间相似度需要 LoRA 或 DoRA 适配器；{path} 是 {kind}。"),
    "experiments.no_shared_layers": ("{a} and {b} adapt no layer in common, so their directions cannot be compared.",
                                     "{a} 和 {b} 没有共同适配的层，无法比较它们的方向。"),
    # ----------------------------------------------------------------- charts (workbench/plots_experiments.py)
    "experiments.chart_score_hover": ("{label}<br>{method}<br>{trainable} trainable<br>score {score:.3f}",
                                      "{label}<br>{method}<br>{trainable} 个可训练参数<br>得分 {score:.3f}"),
    "experiments.chart_pareto": ("Pareto front", "帕累托前沿"),
    "experiments.chart_base": ("base model {score:.3f}", "基础模型 {score:.3f}"),
    "experiments.chart_no_scores": ("Scores appear here as runs finish.", "运行完成后，得分会显示在这里。"),
    "experiments.chart_score": ("score", "得分"),
    "experiments.chart_score_title": ("Held-out {metric} vs trainable parameters (stars: Pareto front)",
                                      "留出集 {metric} 与可训练参数量（星号：帕累托前沿）"),
    "experiments.chart_trainable_log": ("trainable parameters (log)", "可训练参数量（对数）"),
    "experiments.chart_heldout_trace": ("{label} (held-out)", "{label}（留出集）"),
    "experiments.chart_no_curves": ("Loss curves appear here once the first step is logged.",
                                    "记录第一步后，损失曲线会显示在这里。"),
    "experiments.chart_loss_title": ("Loss curves (solid: train, dotted: held-out)", "损失曲线（实线：训练，虚线：留出集）"),
    "experiments.chart_loss": ("loss", "损失"),
    "experiments.chart_x_step": ("step", "步数"),
    "experiments.chart_x_tokens": ("tokens seen", "已见 token 数"),
    "experiments.chart_x_seconds": ("seconds", "秒"),
    "experiments.chart_subspace_title": ("Subspace similarity of {a} and {b}: top-i vs top-j directions",
                                         "{a} 与 {b} 的子空间相似度：前 i 个与前 j 个方向"),
    "experiments.chart_subspace_j": ("j (directions of {b})", "j（{b} 的方向数）"),
    "experiments.chart_subspace_i": ("i (directions of {a})", "i（{a} 的方向数）"),
    "experiments.chart_forgetting_title": ("Held-out {metric} vs forgetting on general text (up and left is better)",
                                           "留出集 {metric} 与通用文本上的遗忘度（越靠左上越好）"),
    "experiments.chart_forgetting_x": ("forgetting (loss rise on general text, nats per token)",
                                       "遗忘度（通用文本上损失的上升，奈特/token）"),
    "experiments.chart_forgetting_hover": ("{label}<br>{method}<br>forgetting {forgetting:+.3f}<br>score {score:.3f}",
                                           "{label}<br>{method}<br>遗忘度 {forgetting:+.3f}<br>得分 {score:.3f}"),
    "experiments.chart_forgetting_base": ("base model", "基础模型"),
    "experiments.chart_no_forgetting": ("Runs appear here once they have a score and a forgetting value.",
                                        "运行有了得分和遗忘度后会显示在这里。"),
    # ----------------------------------------------------------------- notes in plans and reports
    "experiments.note_sized": ("{knob} sized to {value} for the budget of {budget:,}",
                               "为 {budget:,} 的预算把 {knob} 设为 {value}"),
    "experiments.note_unsized": ("{method} has no size knob: runs as configured ({trainable:,} parameters)",
                                 "{method} 没有可调大小的参数：按原配置运行（{trainable:,} 个参数）"),
    # ----------------------------------------------------------------- recorded results (core/experiments/recorded.py)
    "experiments.recorded_label": ("recorded result: {date} on {machine}, workbench {commit}, live run took {duration}; "
                                   "rerun it with: python -m workbench experiment run {name}",
                                   "已记录的结果：{date} 在 {machine} 上运行，workbench {commit}，实际运行用时 {duration}；"
                                   "自己重新运行：python -m workbench experiment run {name}"),
    "experiments.recorded_machine": ("{cpu} ({cores} cores, native bf16: {bf16})", "{cpu}（{cores} 核，原生 bf16：{bf16}）"),
    "experiments.recorded_minutes": ("{minutes:.1f} min", "{minutes:.1f} 分钟"),
    "experiments.recorded_yes": ("yes", "是"),
    "experiments.recorded_no": ("no", "否"),
    "experiments.recorded_unknown": ("unknown", "未知"),
    "experiments.recorded_written": ("recorded {name}: {path}", "已记录 {name}：{path}"),
    "experiments.no_recording": ("{name} has no recorded result yet: run it with: "
                                 "python -m workbench experiment run {name} (an experiment id shows that run instead: python -m workbench experiment list)",
                                 "{name} 还没有已记录的结果：请运行 python -m workbench experiment run {name}"
                                 "（给出实验 ID 则显示那次运行：python -m workbench experiment list）"),
    "experiments.recorded_bad": ("{path} is not a recorded result this workbench can read ({detail}); record it again "
                                 "with: python -m workbench experiment record ID --as {name}",
                                 "{path} 不是本 workbench 能读取的已记录结果（{detail}）；请重新记录："
                                 "python -m workbench experiment record ID --as {name}"),
    "experiments.recorded_schema": ("{path} is a recorded result of schema {found}; this workbench reads schema "
                                    "{schema}. Record it again with: "
                                    "python -m workbench experiment record ID --as {name}",
                                    "{path} 是 schema {found} 的已记录结果；本 workbench 读取 schema {schema}。"
                                    "请重新记录：python -m workbench experiment record ID --as {name}"),
    "experiments.recorded_unfinished": ("Experiment {exp_id} is {status}: only a finished experiment can be recorded "
                                        "(resume it with: python -m workbench experiment resume {exp_id}).",
                                        "实验 {exp_id} 的状态为 {status}：只能记录已完成的实验"
                                        "（继续运行：python -m workbench experiment resume {exp_id}）。"),
    "experiments.recorded_mismatch": ("Experiment {exp_id} ran {got}, but the shipped experiment {name} has {want}: "
                                      "record it under the experiment it ran.",
                                      "实验 {exp_id} 运行的是 {got}，而内置实验 {name} 包含 {want}：请以它实际运行的实验名记录。"),
}
