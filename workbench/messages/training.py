"""Errors while training (workbench.core.training.trainer, callbacks)."""

MESSAGES = {
    "training.fp16_needs_gpu": ("train.precision: fp16 mixed precision needs a GPU; use fp32 or bf16 on a CPU.",
                                "train.precision：fp16 混合精度需要 GPU；在 CPU 上请使用 fp32 或 bf16。"),
    "training.run_failed": ("run {run_id} failed: {detail}", "运行 {run_id} 失败：{detail}"),
    "training.exception": ("{kind}: {detail}", "{kind}：{detail}"),
    "training.out_of_memory": ("out of memory: lower train.batch_size or data.max_length, use grad_accum, or try qlora "
                               "({kind})",
                               "内存不足：请减小 train.batch_size 或 data.max_length、使用 grad_accum，或者试试 qlora（{kind}）"),
    "training.disk_full": ("disk full while writing the run: free space in the runs folder (WORKBENCH_RUNS_DIR) or save "
                           "fewer checkpoints (raise train.save_steps); then resume ({detail})",
                           "写入运行时磁盘已满：请清理运行文件夹（WORKBENCH_RUNS_DIR）的空间，或少保存一些检查点"
                           "（增大 train.save_steps）；然后继续（{detail}）"),
    "training.injected": ("injected failure {what}", "注入的故障 {what}"),
    "training.injected_at_step": ("injected failure at step {step} (WORKBENCH_FAIL_AT_STEP)",
                                  "在第 {step} 步注入的故障（WORKBENCH_FAIL_AT_STEP）"),
    # ---- forgetting on general text (core/evaluation/forgetting.py): why a run has none
    "training.forgetting_encoder_decoder": ("forgetting is measured on decoder-only language models; {model_type} is "
                                            "an encoder-decoder model",
                                            "遗忘度只对仅解码器的语言模型测量；{model_type} 是编码器-解码器模型"),
    "training.forgetting_failed": ("forgetting could not be measured: {detail}", "无法测量遗忘度：{detail}"),
}
