"""Errors about runs and the training queue, why a run failed, and the words for run states."""

MESSAGES = {
    "runs.empty_id": ("A run id must be a non-empty string.", "运行 ID 必须是非空字符串。"),
    "runs.invalid_id": ("Invalid run id {run_id!r}: use only letters, digits, '.', '_' and '-' (no '/', '..', "
                        "absolute paths or URLs).",
                        "无效的运行 ID {run_id!r}：只能使用字母、数字、'.'、'_' 和 '-'（不能含 '/'、'..'、绝对路径或 URL）。"),
    "runs.id_outside": ("Invalid run id {run_id!r}: it points outside the runs folder.",
                        "无效的运行 ID {run_id!r}：它指向运行文件夹之外。"),
    "runs.not_found": ("No run named {run_id!r} in {root}.", "{root} 中没有名为 {run_id!r} 的运行。"),
    "runs.exists": ("A run named {run_id!r} already exists in {root}.", "{root} 中已存在名为 {run_id!r} 的运行。"),
    "runs.nothing_to_stop": ("Run {run_id} is already {status}; there is nothing to stop.",
                             "运行 {run_id} 的状态已是“{status}”，无需停止。"),
    "runs.already_active": ("Run {run_id} is already queued or running.", "运行 {run_id} 已在排队或正在运行。"),
    "runs.not_waiting": ("Run {run_id} is not waiting in the training queue.", "运行 {run_id} 不在训练队列中等待。"),
    "runs.bad_queue_policy": ("WORKBENCH_QUEUE_POLICY={value} is not a queue policy; use one of: {choices}.",
                              "WORKBENCH_QUEUE_POLICY={value} 不是可用的队列策略；请使用以下之一：{choices}。"),
    "runs.still_running": ("Run {run_id} is still running (pid {pid}).", "运行 {run_id} 仍在运行（pid {pid}）。"),
    "runs.already_finished": ("Run {run_id} already finished all {steps} steps; start a new run (or raise "
                              "train.max_steps) to train further.",
                              "运行 {run_id} 已完成全部 {steps} 步；要继续训练，请开始新的运行（或增大 train.max_steps）。"),
    "runs.other_session": ("Run {run_id} belongs to another session.", "运行 {run_id} 属于另一个会话。"),
    "runs.dir_still_running": ("{path} holds a run that is still running (pid {pid}).", "{path} 中的运行仍在进行（pid {pid}）。"),
    "runs.queue_full": ("The training queue is full ({n} runs waiting); try again when some have finished.",
                        "训练队列已满（{n} 个运行在等待）；请等一些运行结束后再试。"),
    "runs.owner_cap": ("You already have {n} runs waiting in the queue (the limit is {limit}); wait for one to start "
                       "or stop one.",
                       "你已有 {n} 个运行在队列中等待（上限为 {limit}）；请等其中一个开始，或停止一个。"),
    "runs.bad_extra_callback": ("WORKBENCH_EXTRA_CALLBACKS: {item!r} is not module:Class",
                                "WORKBENCH_EXTRA_CALLBACKS：{item!r} 不是 module:Class 的形式"),
    "runs.env_number": ("environment variable {name} must be a number (got {value!r})",
                        "环境变量 {name} 必须是数字（当前为 {value!r}）"),
    # why a run ended (status.json "error")
    "runs.interrupted_restart": ("interrupted (server restarted)", "已中断（服务器重启）"),
    "runs.interrupted_ctrl_c": ("interrupted (Ctrl-C)", "已中断（Ctrl-C）"),
    "runs.interrupted_server_stopped": ("interrupted (server stopped)", "已中断（服务器停止）"),
    "runs.interrupted_server_lost": ("interrupted (server process ended)", "已中断（服务器进程已结束）"),
    "runs.writer_alive": ("Run {run_id} is still being written by a live worker process (pid {pid}); wait until it "
                          "has stopped.", "运行 {run_id} 仍在被一个存活的训练进程写入（pid {pid}）；请等它停止后再试。"),
    "runs.shutting_down": ("The server is shutting down; start the run again once it is back.",
                           "服务器正在关闭；请在它恢复后重新开始运行。"),
    "runs.worker_ended": ("worker process ended unexpectedly ({how})", "训练进程意外结束（{how}）"),
    "runs.worker_ended_last": ("worker process ended unexpectedly ({how}): {last}", "训练进程意外结束（{how}）：{last}"),
    "runs.killed_by_signal": ("killed by signal {n}", "被信号 {n} 终止"),
    "runs.exit_code": ("exit code {n}", "退出码 {n}"),
    # what a browser session may use (workbench.core.serving.workspace)
    "runs.public_model_name": ("{name!r} is not available on this public server: pick a preset, the embedded model, a "
                               "Hugging Face Hub id (org/name) or a model you uploaded in this session.",
                               "{name!r} 在这个公开服务器上不可用：请选择预设模型、内置模型、Hugging Face Hub ID"
                               "（org/name）或本会话上传的模型。"),
    # run states
    "runs.state.queued": ("queued", "排队中"),
    "runs.state.running": ("running", "训练中"),
    "runs.state.stopping": ("stopping", "正在停止"),
    "runs.state.stopped": ("stopped", "已停止"),
    "runs.state.failed": ("failed", "失败"),
    "runs.state.done": ("done", "已完成"),
    "runs.state.idle": ("idle", "空闲"),
    "runs.state.unknown": ("unknown", "未知"),
    "runs.no_run_selected": ("No run selected.", "未选择运行。"),
    "runs.adapter_not_owned": ("Adapter {path!r} is not one of this session's runs or uploads.",
                               "适配器 {path!r} 不属于本会话的运行或上传。"),
}


def state(status: str | None):
    """The Message for a run state ('queued', 'running', ...); an unknown state is kept as it is."""
    from workbench.messages import CATALOGUE, Message
    key = f"runs.state.{status}"
    return Message(key) if key in CATALOGUE else Message("common.name", {"name": str(status)})
