"""Public mode, the instructor view and signed-in pushes (core/serving/workspace.py, core/serving/instructor.py,
ui/handlers/admin.py, ui/handlers/compare.py push)."""

MESSAGES = {
    # public mode (core/serving/workspace.py, core/training/run_limits.py)
    "classroom.steps_over_cap": ("{n} steps is more than this public server trains per run (at most {cap}); set "
                                 "max_steps to {cap} or less (the quick recipes use 20-30).",
                                 "{n} 步超过了这个公开服务器每次运行允许的步数（最多 {cap} 步）；请把 max_steps 设为 "
                                 "{cap} 或更少（快速配方用 20-30 步）。"),
    "classroom.public_limits": ("**Public server.** Limits here: {limits}. Models: presets, the embedded model, "
                                "Hugging Face Hub ids or your own uploads (no server folders).",
                                "**公开服务器。** 这里的限制：{limits}。模型：预设、内置模型、Hugging Face Hub ID "
                                "或你自己上传的模型（不能使用服务器上的文件夹）。"),
    "classroom.limit_steps": ("at most {n} training steps per run", "每次运行最多训练 {n} 步"),
    "classroom.limit_wall": ("at most {minutes:g} minutes of training per run", "每次运行最多训练 {minutes:g} 分钟"),
    "classroom.limit_experiment_runs": ("at most {n} runs per experiment", "每个实验最多 {n} 个运行"),
    "classroom.limit_experiment_steps": ("at most {n} training steps per experiment (all its runs together)",
                                         "每个实验最多训练 {n} 步（所有运行合计）"),
    "classroom.limit_queue": ("{n} queued runs per browser session, {k} training at a time",
                              "每个浏览器会话最多排队 {n} 个运行，同时训练 {k} 个"),
    "classroom.limit_custom": ("custom architectures up to {layers} layers and hidden size {hidden}",
                               "自定义架构最多 {layers} 层、隐藏维度 {hidden}"),
    # instructor view (core/serving/instructor.py, ui/handlers/admin.py)
    "classroom.admin_off": ("The instructor view is off on this server (set WORKBENCH_ADMIN_PASSWORD to turn it on).",
                            "这个服务器没有开启教师视图（设置 WORKBENCH_ADMIN_PASSWORD 即可开启）。"),
    "classroom.admin_refused": ("Wrong instructor password.", "教师密码错误。"),
    "classroom.admin_refused_locked": ("Wrong instructor password. Too many wrong tries from your address: wait "
                                       "{seconds} s before trying again.",
                                       "教师密码错误。你的地址输错次数太多：请等待 {seconds} 秒后再试。"),
    "classroom.admin_locked": ("Too many wrong instructor passwords from your address: wait {seconds} s before "
                               "trying again (every try is refused until then, the right password too).",
                               "你的地址输错教师密码次数太多：请等待 {seconds} 秒后再试（在此之前每次尝试都会被拒绝，"
                               "正确的密码也一样）。"),
    "classroom.admin_too_short": ("The instructor password (WORKBENCH_ADMIN_PASSWORD) is shorter than {min} "
                                  "characters, so the instructor view is off: set a longer one and restart the "
                                  "server.",
                                  "教师密码（WORKBENCH_ADMIN_PASSWORD）少于 {min} 个字符，因此教师视图已关闭："
                                  "请设置更长的密码并重启服务器。"),
    "classroom.queue_summary": ("{running} training, {queued} queued, {done} finished, {failed} failed or stopped; "
                                "{sessions} browser sessions; {cpu} of worker CPU time.",
                                "{running} 个在训练，{queued} 个在排队，{done} 个已完成，{failed} 个失败或已停止；"
                                "{sessions} 个浏览器会话；训练进程共用 CPU 时间 {cpu}。"),
    "classroom.stopped": ("Run {run_id}: {state}.", "运行 {run_id}：{state}。"),
    "classroom.queue_paused": ("**The queue is paused**: running runs go on, nothing new starts. {summary}",
                               "**队列已暂停**：正在训练的运行继续，不会开始新的运行。{summary}"),
    "classroom.queue_paused_now": ("Queue paused: running runs go on, nothing new starts until you resume it.",
                                   "队列已暂停：正在训练的运行继续，恢复之前不会开始新的运行。"),
    "classroom.queue_resumed": ("Queue resumed: the sessions take their turns again.", "队列已恢复：各会话重新轮流训练。"),
    "classroom.moved_to_front": ("The job holding run {run_id} starts next.", "包含运行 {run_id} 的任务将下一个开始。"),
    "classroom.column.starts_in": ("starts in", "预计开始"),
    "classroom.archived": ("Archived {n} run(s) into {folder} (nothing deleted).",
                           "已将 {n} 个运行归档到 {folder}（没有删除任何内容）。"),
    "classroom.archive_skipped": ("{n} run(s) still training or queued were left in place; stop them first to archive "
                                  "them.", "{n} 个仍在训练或排队的运行保留在原处；先停止它们才能归档。"),
    "classroom.anonymous": ("anonymous", "匿名"),
    "classroom.name_saved": ("Your name on the class board: {name}.", "你在班级榜上的名字：{name}。"),
    "classroom.name_cleared": ("You stay anonymous on the class board.", "你在班级榜上保持匿名。"),
    "classroom.name_too_long": ("A display name has at most {n} characters.", "显示名称最多 {n} 个字符。"),
    "classroom.no_session": ("No browser session yet: reload the page.", "还没有浏览器会话：请刷新页面。"),
    # signing in to push (ui/handlers/compare.py push)
    "classroom.push_sign_in": ("Sign in with Hugging Face (the button above) to push to your own account.",
                               "请先用 Hugging Face 登录（上方按钮），再推送到你自己的账号。"),
    "classroom.push_namespace": ("{repo} is not in your namespace ({user}); pushing to {fixed} instead.",
                                 "{repo} 不在你的命名空间（{user}）中；改为推送到 {fixed}。"),
}

MESSAGES.update({
    # instructor view: table headers (ui/handlers/admin.py; other headers come from ui.column.*)
    "classroom.column.session": ("session", "会话"),
    "classroom.column.learner": ("learner", "学员"),
    "classroom.column.queue": ("queue position", "排队位置"),
    "classroom.column.cpu": ("CPU time", "CPU 时间"),
    "classroom.column.score": ("held-out score", "留出集得分"),
    "classroom.column.metric": ("metric", "指标"),
})
