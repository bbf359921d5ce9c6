"""The Experiments tab (ui/handlers/experiments.py): its status lines, table headers, the time / memory chart and
the one-paragraph reading of a result (``reading_messages``)."""

MESSAGES = {
    # ---- errors
    "exptab.no_experiment": ("Pick a shipped experiment, build one from the Train tab's config, or write one in the "
                             "box first.",
                             "请先选择一个内置实验、根据“训练”页的配置构建一个，或在框中写一个。"),
    "exptab.base_not_allowed": ("base: {path!r} is not a shipped recipe ({choices}); paste the run config inline "
                                "instead (build one from the Train tab's config).",
                                "base：{path!r} 不是内置配方（{choices}）；请改为内联写出运行配置（可根据“训练”页的配置构建）。"),
    "exptab.no_axis": ("Give at least one axis: ranks, target sets or methods.",
                       "请至少给出一个维度：秩、目标集合或方法。"),
    "exptab.no_runs_picked": ("Pick at least one of your runs to compare.", "请至少选择一个你的运行进行对比。"),
    "exptab.no_adapter": ("Run {run_id} has no adapter yet (it is {status}).", "运行 {run_id} 还没有适配器（状态：{status}）。"),
    # ---- status lines
    "exptab.plan_summary": ("**{n} runs** would start ({total:,} trainable parameters in all). Nothing trains until "
                            "you launch.",
                            "将启动 **{n} 个运行**（共 {total:,} 个可训练参数）。点击启动前不会训练。"),
    "exptab.launched": ("Experiment **{exp_id}** queued: {n} runs, one after another in one worker.",
                        "实验 **{exp_id}** 已排队：{n} 个运行，在同一个工作进程中依次训练。"),
    "exptab.header": ("**{exp_id}** · {status} · {done} of {n} runs finished{failed}",
                      "**{exp_id}** · {status} · 已完成 {done}/{n} 个运行{failed}"),
    "exptab.failed_count": (", {n} failed", "，{n} 个失败"),
    "exptab.stopped_all": ("Stop requested for {n} runs.", "已请求停止 {n} 个运行。"),
    "exptab.resumed": ("Experiment **{exp_id}** queued again: finished runs are kept.",
                       "实验 **{exp_id}** 已重新排队：已完成的运行会保留。"),
    "exptab.none_yet": ("No experiment yet: launch one above (it keeps running if you close or reload the page).",
                        "还没有实验：在上方启动一个（关闭或刷新页面后它仍会继续运行）。"),
    "exptab.compare_header": ("Comparing {n} of your runs.", "正在对比你的 {n} 个运行。"),
    "exptab.recorded_label": ("**Recorded result** ({date}, {machine}) — press **Launch** to run it yourself.",
                              "**已记录的结果**（{date}，{machine}）——按 **启动** 自己运行一次。"),
    "exptab.no_recording": ("**{name}** has no recorded result yet: **Plan** lists its runs, **Launch** runs them.",
                            "**{name}** 还没有已记录的结果：**查看计划** 列出它的运行，**启动** 运行它们。"),
    "exptab.no_diff": ("The runs share every setting.", "这些运行的所有设置都相同。"),
    "exptab.run_choice": ("{name} · {method} · {status} ({run_id})", "{name} · {method} · {status}（{run_id}）"),
    "exptab.experiment_choice": ("{exp_id} · {done}/{n} done", "{exp_id} · 已完成 {done}/{n}"),
    # ---- table headers
    "exptab.column.label": ("run", "运行"),
    "exptab.column.status": ("status", "状态"),
    "exptab.column.method": ("method", "方法"),
    "exptab.column.r": ("r", "r"),
    "exptab.column.tokens": ("virtual tokens", "虚拟 token 数"),
    "exptab.column.targets": ("targets", "目标模块"),
    "exptab.column.trainable": ("trainable", "可训练参数"),
    "exptab.column.percent": ("% of model", "占模型比例 %"),
    "exptab.column.note": ("note", "说明"),
    "exptab.column.step": ("step", "步数"),
    "exptab.column.start": ("start", "开始"),
    "exptab.starts_in": ("in ~{wait}", "约 {wait} 后"),
    "exptab.column.train_loss": ("train loss", "训练损失"),
    "exptab.column.eval_loss": ("held-out loss", "留出集损失"),
    "exptab.column.score": ("score", "得分"),
    "exptab.column.metric": ("metric", "指标"),
    "exptab.column.wall_s": ("time (s)", "用时（秒）"),
    "exptab.column.tokens_per_s": ("tokens/s", "token/秒"),
    "exptab.column.peak_mem_mb": ("peak memory (MB)", "峰值内存（MB）"),
    "exptab.column.est_mem_mb": ("estimate (MB)", "估计（MB）"),
    "exptab.column.forgetting": ("forgetting", "遗忘度"),
    "exptab.column.adapter_mb": ("adapter (MB)", "适配器（MB）"),
    "exptab.forgetting_note": ("*Forgetting*: how much worse the adapted model predicts general text it never trained "
                               "on (presets/general_text/): its mean token loss there minus the base model's, in nats "
                               "per token (0 = unchanged, lower is better). *Adapter (MB)*: the size of the saved "
                               "adapter files (1 MB = 10^6 bytes).",
                               "*遗忘度*：适配后的模型在从未训练过的通用文本（presets/general_text/）上预测变差了多少："
                               "它在该文本上的平均 token 损失减去基础模型的，单位为每 token 奈特（0 = 不变，越低越好）。"
                               "*适配器（MB）*：保存的适配器文件大小（1 MB = 10^6 字节）。"),
    "exptab.column.error": ("error", "错误"),
    "exptab.column.setting": ("setting", "设置"),
    "exptab.column.run_id": ("run id", "运行 ID"),
    # ---- time and memory chart (workbench/plots.py: cost_chart)
    "exptab.chart_cost_title": ("Time and peak memory per run", "每个运行的用时与峰值内存"),
    "exptab.chart_seconds": ("time (s)", "用时（秒）"),
    "exptab.chart_peak": ("peak memory (MB)", "峰值内存（MB）"),
    "exptab.chart_estimate": ("estimate (MB)", "估计内存（MB）"),
    "exptab.chart_no_runs": ("Time and memory appear here as runs finish.", "运行完成后，用时和内存会显示在这里。"),
    # ---- the reading (core/experiments/report.reading_messages): one paragraph from the numbers
    "exptab.reading_none": ("No run has a score yet.", "还没有运行得到分数。"),
    "exptab.reading_best": ("Best held-out {metric}: {best} ({best_score:.3f} with {trainable:,} trainable "
                            "parameters); lowest: {worst} ({worst_score:.3f}).",
                            "留出集 {metric} 最好的是 {best}（{best_score:.3f}，可训练参数 {trainable:,} 个）；"
                            "最低的是 {worst}（{worst_score:.3f}）。"),
    "exptab.reading_base": ("The base model scores {score:.3f}; {gained} of {n} runs beat it.",
                            "基础模型得分 {score:.3f}；{n} 个运行中有 {gained} 个超过了它。"),
    "exptab.reading_close": ("The scores span {spread:.3f} only: at this scale the variants barely differ.",
                             "得分的差距只有 {spread:.3f}：在这个规模上各变体几乎没有差别。"),
    "exptab.reading_spread": ("The scores span {spread:.3f}.", "得分的差距为 {spread:.3f}。"),
    "exptab.reading_front": ("Pareto front (no run is both smaller and better): {labels}.",
                             "帕累托前沿（没有哪个运行既更小又更好）：{labels}。"),
    "exptab.reading_forgetting": ("Forgetting on general text ranges from {low_value:+.3f} ({low}) to {high_value:+.3f} "
                                  "({high}) nats per token.",
                                  "通用文本上的遗忘度从 {low_value:+.3f}（{low}）到 {high_value:+.3f}（{high}）"
                                  "奈特/token 不等。"),
    "exptab.reading_failed": ("Failed: {labels} (see the error column).", "失败：{labels}（见错误列）。"),
}
