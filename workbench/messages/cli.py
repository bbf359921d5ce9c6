"""Errors about command-line arguments (``python -m workbench ...``)."""

MESSAGES = {
    "cli.option_form": ("must be KEY=VALUE, e.g. --option n_frequency=500 (got {value!r})",
                        "必须是 KEY=VALUE 形式，例如 --option n_frequency=500（当前为 {value!r}）"),
    "cli.no_size_knob": ("{method} has no size knob to sweep (its knobs: {knobs})",
                         "{method} 没有可扫描的规模参数（它的可调项：{knobs}）"),
    "cli.give_a_rank": ("give at least one rank, e.g. --ranks 1,4,8", "至少给出一个秩，例如 --ranks 1,4,8"),
    "cli.flag_min": ("{flag} must be >= {lo} (got {value})", "{flag} 必须 >= {lo}（当前为 {value}）"),
    "cli.flag_min_bare": ("{flag} must be >= {lo}", "{flag} 必须 >= {lo}"),
    "cli.merge_needs_model": ("--merge needs --model (the base model the adapter was trained on)",
                              "--merge 需要 --model（训练该适配器时所用的基础模型）"),
    "cli.runs_needs_id": ("runs {action} needs a RUN_ID (see: python -m workbench runs list)",
                          "runs {action} 需要一个 RUN_ID（见：python -m workbench runs list）"),
    "cli.config_or_run_dir": ("give either CONFIG.yaml or --run-dir DIR (exactly one)",
                              "请给出 CONFIG.yaml 或 --run-dir DIR（只能二选一）"),
    "cli.not_a_run_dir": ("{path} has no config.yaml, so it is not a run directory",
                          "{path} 中没有 config.yaml，因此不是运行目录"),
    "cli.resume_needs_dir": ("--resume needs --output-dir DIR (or use --run-dir DIR) to know which run to continue.",
                             "--resume 需要 --output-dir DIR（或改用 --run-dir DIR）才能知道要继续哪个运行。"),
    "cli.forgetting_legend": ("FORGET: the rise of the mean token loss on general text the run never trained on "
                              "(nats per token; 0 = the base model, lower is better). MB: the adapter's files.",
                              "FORGET：在从未训练过的通用文本上平均 token 损失的上升（每 token 奈特；0 = 基础模型，"
                              "越低越好）。MB：适配器文件的大小。"),
}
