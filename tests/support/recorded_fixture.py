"""A finished experiment folder written by hand (no training), for the recorded-results tests: one run directory per
label of a shipped experiment (config.yaml, status.json, log.jsonl) and the experiment's own files."""
from __future__ import annotations

import time
from pathlib import Path

import yaml

from workbench.core.experiments import definition
from workbench.core.experiments.recorded import labels_of
from workbench.core.experiments.report import write_all
from workbench.core.experiments.results import BaseRow, ExperimentResult, RunRow
from workbench.core.runstore import run_dirs as runs
from workbench.core.runstore.status import update_status
from workbench.spec.settings import RunSpec

WALL_S = 754.0


def fake_experiment(root: Path, name: str = "qlora-vs-lora", exp_id: str = "fake-20250101-000000-abcd") -> Path:
    """``root/<exp_id>/``: a finished run of the shipped experiment ``name`` (its labels; scores 0.1, 0.2, ...;
    run i trained with learning rate 1e-4 * (i + 1), so the settings differ). Needs WORKBENCH_RUNS_DIR set."""
    spec = definition.load(name)
    rows = []
    for i, label in enumerate(labels_of(spec)):
        run = RunSpec.from_dict({"name": f"{name} / {label}", "adapter": {"method": "lora", "r": 2 + i},
                                 "train": {"learning_rate": 1e-4 * (i + 1)}})
        run_id = runs.create_run(run)
        d = runs.safe_run_dir(run_id)
        score = round(0.1 * (i + 1), 3)
        update_status(d, status="done", started=100.0, ended=160.0 + i, step=4, max_steps=4,
                      trainable_params=1000 * (i + 1), total_params=100_000, train_loss=1.5, eval_loss=1.6 - i / 100,
                      metric="json_match", score=score,
                      peak_mem_mb=900.0, est_mem_mb=1000.0, forgetting=0.01 * i, adapter_mb=0.5, device="cpu",
                      dtype="float32", experiment=exp_id)
        (d / "log.jsonl").write_text(
            "".join(f'{{"step": {s}, "epoch": 0.1, "loss": {2.0 - s / 10 - i / 100}, "learning_rate": 0.001, '
                    f'"elapsed_s": {s}.0, "tokens_per_s": 100.0}}\n' for s in range(1, 5))
            + f'{{"step": 4, "eval_loss": {1.6 - i / 100}, "elapsed_s": 4.5}}\n', encoding="utf-8")
        rows.append(RunRow(run_id=run_id, label=label, method="lora", r=2 + i, num_virtual_tokens=None,
                           target_modules=["q_proj", "v_proj"], trainable=1000 * (i + 1), percent=1.0 * (i + 1),
                           wall_s=60.0 + i, metric="json_match", score=score, eval_loss=1.6 - i / 100,
                           forgetting=0.01 * i, adapter_mb=0.5, status="done"))
    exp_dir = root / exp_id
    exp_dir.mkdir(parents=True)
    manifest = {"id": exp_id, "created": time.mktime((2025, 1, 1, 12, 0, 0, 0, 0, 0)), "source": spec.source,
                "eval_limit": 4, "max_steps_override": None, "experiment": spec.to_dict(),
                "runs": [{"label": r.label, "run_id": r.run_id} for r in rows]}
    (exp_dir / "experiment.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True),
                                             encoding="utf-8")
    result = ExperimentResult(experiment_id=exp_id, name=name, directory=exp_dir, status="done", rows=rows,
                              base=BaseRow(metric="json_match", score=0.05, eval_loss=1.9), spec=spec, wall_s=WALL_S)
    write_all(result, charts=False)
    return exp_dir
