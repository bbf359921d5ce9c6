"""Recorded results of the shipped experiments: the answer of a real run, kept in the repo so it shows at once.

``presets/experiments/recorded/<name>.json`` (env ``WORKBENCH_RECORDED_DIR`` points elsewhere) is one plain JSON
document per shipped experiment::

    {"schema": 1, "name": "full-vs-peft",
     "experiment": {...},                 # ExperimentSpec.to_dict() of what ran (base inlined)
     "rows": [RunRow.to_json(), ...],     # the results table, run ids included
     "base": BaseRow.to_json() | null,
     "curves": {label: [{"step": 1, "loss": 2.1, "elapsed_s": .., "tokens_per_s": ..}, {"step": 10, "eval_loss": ..}]},
     "configs": {label: RunSpec.to_dict()},          # each run's config.yaml (the settings-diff table)
     "provenance": {"experiment_id", "run_date", "recorded_at", "machine": {cpu, cores, avx512_bf16, native_bf16},
                    "versions": {python, torch, transformers, peft, workbench (git commit), dirty},
                    "wall_s", "max_steps", "eval_limit", "devices": {label: device}, "dtypes": {label: dtype}}}

``record(experiment_id_or_dir, name)`` builds it from a finished experiment folder (``workbench experiment record ID
--as NAME``); ``load(name)`` reads it (None when there is none). ``Recorded.as_result()`` turns it into the
``ExperimentResult`` the views draw (table, charts, reading); ``opening()`` names the shipped experiment the
Experiments tab opens on. The provenance is of the machine that records: record right after the run, on its machine.
"""
from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.messages import Message
from workbench.core.paths import REPO_ROOT
from workbench.core.experiments.definition import EXPERIMENTS_DIR, ExperimentSpec, shipped
from workbench.core.experiments.results import BaseRow, ExperimentResult, RunRow

SCHEMA = 1
"""The version of the file format; ``load`` refuses any other (record the experiment again)."""
RECORDED_DIR = EXPERIMENTS_DIR / "recorded"
RECORDED_DIR_ENV = "WORKBENCH_RECORDED_DIR"
OPENS_FIRST = ("full-vs-peft",)
"""Shipped experiments the Experiments tab prefers to open on (when recorded), before the others in name order."""
CURVE_KEYS = ("step", "loss", "eval_loss", "elapsed_s", "tokens_per_s")
"""The fields of a log.jsonl row a recording keeps (the loss-curve chart's x axes: step, tokens, seconds)."""
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_WALL = re.compile(r"wall time ([0-9][0-9.,]*) s\.")  # report.report_text's line, the experiment's live wall time


def recorded_dir() -> Path:
    """Where the recordings are: env WORKBENCH_RECORDED_DIR, default presets/experiments/recorded."""
    return Path(os.environ.get(RECORDED_DIR_ENV) or RECORDED_DIR)


def path_of(name: str) -> Path:
    """The recording file of the shipped experiment ``name`` (which must look like a name, not a path)."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise WorkbenchError("experiments.not_found", name=str(name), names=", ".join(shipped()))
    return recorded_dir() / f"{name}.json"


# --------------------------------------------------------------------------- the document

@dataclass
class Machine:
    cpu: str | None
    """The CPU's model name (/proc/cpuinfo), else platform.processor()."""
    cores: int | None
    """Cores this process may use (its CPU affinity), as the runs had them."""
    avx512_bf16: bool | None
    """The CPU flag (/proc/cpuinfo); None where it cannot be read."""
    native_bf16: bool | None
    """The workbench's own answer (``precision.cpu_has_native_bf16``: AVX-512 BF16 or AMX), where precision auto
    picks bf16."""
    gpu: str | None = None


@dataclass
class Provenance:
    experiment_id: str
    run_date: str | None
    """Day the experiment was started (UTC, YYYY-MM-DD)."""
    recorded_at: str
    machine: Machine
    versions: dict[str, Any]
    """python, torch, transformers, peft, workbench (git commit), dirty (uncommitted changes in the checkout)."""
    wall_s: float | None
    """The live wall time of the whole experiment (base scoring, every run and its scoring)."""
    max_steps: int | None
    eval_limit: int | None
    """Held-out prompts each run was scored on (None: all)."""
    devices: dict[str, str | None] = field(default_factory=dict)
    dtypes: dict[str, str | None] = field(default_factory=dict)


@dataclass
class Recorded:
    """One recording, read back (``load``)."""
    name: str
    experiment: dict[str, Any]
    rows: list[RunRow]
    base: BaseRow | None
    curves: dict[str, list[dict[str, Any]]]
    """label -> log rows (CURVE_KEYS): what ``plots_experiments.loss_curves_chart`` draws."""
    configs: dict[str, dict[str, Any]]
    """label -> the run's config (RunSpec.to_dict())."""
    provenance: Provenance
    path: Path | None = None

    def spec(self) -> ExperimentSpec | None:
        """The experiment that ran (None if this version no longer accepts it)."""
        try:
            return ExperimentSpec.from_dict(self.experiment)
        except Exception:  # a recording from another version still shows its rows
            return None

    def as_result(self) -> ExperimentResult:
        """The recording as the ``ExperimentResult`` the views draw (table, score / forgetting / cost charts, reading,
        CSV and report). Its rows carry no run ids: the run folders are not on this machine (``rows`` keeps them);
        the loss curves and settings are ``curves`` and ``configs``."""
        import copy
        rows = [copy.copy(r) for r in self.rows]
        for r in rows:
            r.run_id = None
        return ExperimentResult(experiment_id=self.provenance.experiment_id, name=self.name,
                                directory=self.path.parent if self.path else recorded_dir(), status="done", rows=rows,
                                base=copy.copy(self.base), spec=self.spec(), wall_s=self.provenance.wall_s)

    def machine_message(self) -> Message:
        """"AMD EPYC (2 cores, native bf16: no)" in any language."""
        m = self.provenance.machine
        return Message("experiments.recorded_machine", {"cpu": m.cpu or Message("experiments.recorded_unknown"),
                                                        "cores": m.cores or "?", "bf16": _yes_no(m.native_bf16)})

    def label_message(self) -> Message:
        """The line ``experiment show NAME`` prints above the table: when, where, which code, how long."""
        p = self.provenance
        duration = Message("experiments.recorded_minutes", {"minutes": p.wall_s / 60}) if p.wall_s is not None \
            else Message("experiments.recorded_unknown")
        commit = p.versions.get("workbench") or Message("experiments.recorded_unknown")
        if p.versions.get("workbench") and p.versions.get("dirty"):
            commit = f"{commit}-dirty"
        return Message("experiments.recorded_label", {"date": p.run_date or Message("experiments.recorded_unknown"),
                                                      "machine": self.machine_message(), "commit": commit,
                                                      "duration": duration, "name": self.name})

    def tab_message(self) -> Message:
        """The Experiments tab's line above a recording: when, on what, and that Launch runs it live."""
        p = self.provenance
        return Message("exptab.recorded_label", {"date": p.run_date or Message("experiments.recorded_unknown"),
                                                 "machine": self.machine_message()})

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "name": self.name, "experiment": self.experiment,
                "rows": [r.to_json() for r in self.rows], "base": self.base.to_json() if self.base else None,
                "curves": self.curves, "configs": self.configs, "provenance": asdict(self.provenance)}


def _yes_no(flag: bool | None) -> Message:
    return Message("experiments.recorded_unknown" if flag is None else
                   "experiments.recorded_yes" if flag else "experiments.recorded_no")


# --------------------------------------------------------------------------- reading

def load(name: str) -> Recorded | None:
    """The recording of the shipped experiment ``name``; None when there is none. A file this version cannot read
    (not JSON, another schema, missing fields) is a WorkbenchError that says how to record it again."""
    path = path_of(name)
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WorkbenchError("experiments.recorded_bad", path=str(path), detail=" ".join(str(e).split())[:200],
                             name=name) from None
    if not isinstance(d, dict) or "schema" not in d:
        raise WorkbenchError("experiments.recorded_bad", path=str(path), detail="no schema field", name=name)
    if d["schema"] != SCHEMA:
        raise WorkbenchError("experiments.recorded_schema", path=str(path), found=d["schema"], schema=SCHEMA,
                             name=name)
    try:
        return _from_json(d, path)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise WorkbenchError("experiments.recorded_bad", path=str(path), detail=f"{type(e).__name__}: {e}"[:200],
                             name=name) from None


def _from_json(d: dict[str, Any], path: Path) -> Recorded:
    rows = []
    for r in d["rows"]:
        if not isinstance(r.get("label"), str):
            raise ValueError("a row without a label")
        rows.append(RunRow(**{k: r.get(k) for k in RunRow.__dataclass_fields__}))
    b = d.get("base")
    base = BaseRow(metric=b.get("metric"), score=b.get("score"), eval_loss=b.get("eval_loss"), error=b.get("error"),
                   forgetting=b.get("forgetting", 0.0)) if b else None
    p = dict(d["provenance"])
    p["machine"] = Machine(**p["machine"])
    curves = {str(k): [dict(x) for x in v] for k, v in (d.get("curves") or {}).items()}
    configs = {str(k): dict(v) for k, v in (d.get("configs") or {}).items()}
    return Recorded(name=str(d["name"]), experiment=dict(d["experiment"]), rows=rows, base=base, curves=curves,
                    configs=configs, provenance=Provenance(**p), path=path)


def has_recording(name: str) -> bool:
    try:
        return path_of(name).is_file()
    except WorkbenchError:
        return False


def opening() -> str | None:
    """The shipped experiment the Experiments tab opens on: the first of OPENS_FIRST that has a recording, else the
    first shipped one (in name order) that has one, else the first of OPENS_FIRST, else the first shipped one."""
    names = shipped()
    ordered = [n for n in OPENS_FIRST if n in names] + [n for n in names if n not in OPENS_FIRST]
    return next((n for n in ordered if has_recording(n)), ordered[0] if ordered else None)


def labels_of(spec: ExperimentSpec) -> list[str]:
    """The run labels ``spec`` expands to (``plan.points``: no model is looked at)."""
    from workbench.core.experiments.plan import points
    return [p[0] for p in points(spec)]


# --------------------------------------------------------------------------- recording

def record(experiment_id_or_dir: str | Path, name: str, root: str | Path | None = None) -> Path:
    """Write ``<recorded_dir()>/<name>.json`` from a finished experiment (an id under ``root`` / the experiments
    folder, or the folder itself). ``name`` is the shipped experiment it answers: the runs' labels must be its labels.
    The machine, versions and date are taken now: record right after the run, on the machine it ran on."""
    from workbench.core.experiments import definition
    from workbench.core.experiments.results import _manifest, read_experiment
    target = path_of(name)
    if name not in shipped():
        raise WorkbenchError("experiments.not_found", name=name, names=", ".join(shipped()))
    given = Path(str(experiment_id_or_dir)).expanduser()
    if (given / "experiment.yaml").is_file():
        result = read_experiment(given.name, root=given.parent)
    else:
        result = read_experiment(str(experiment_id_or_dir), root=root)
    if result.status != "done":
        raise WorkbenchError("experiments.recorded_unfinished", exp_id=result.experiment_id, status=result.status)
    got, want = [r.label for r in result.rows], labels_of(definition.load(name))
    if got != want:
        raise WorkbenchError("experiments.recorded_mismatch", exp_id=result.experiment_id, got=", ".join(got),
                             name=name, want=", ".join(want))
    manifest = _manifest(result.directory)
    curves, configs, devices, dtypes, steps = _runs(result.rows)
    spec_d = manifest.get("experiment") or (result.spec.to_dict() if result.spec else {})
    created = manifest.get("created")
    provenance = Provenance(
        experiment_id=result.experiment_id,
        run_date=time.strftime("%Y-%m-%d", time.gmtime(float(created))) if created else None,
        recorded_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), machine=machine(), versions=versions(),
        wall_s=_wall_s(result.directory, created, result.rows),
        max_steps=manifest.get("max_steps_override") or spec_d.get("max_steps") or (max(steps) if steps else None),
        eval_limit=manifest.get("eval_limit"), devices=devices, dtypes=dtypes)
    rec = Recorded(name=name, experiment=spec_d, rows=result.rows, base=result.base, curves=curves, configs=configs,
                   provenance=provenance)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(rec.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(target)
    return target


def _runs(rows: list[RunRow]):
    """Curves, configs, devices, dtypes (label -> ...) and max_steps of the runs' own folders."""
    from workbench.core.runstore.run_dirs import read_log_dir, runs_root
    from workbench.core.runstore.status import read_status
    from workbench.spec.settings import RunSpec
    curves, configs, devices, dtypes, steps = {}, {}, {}, {}, []
    for r in rows:
        d = runs_root() / r.run_id if r.run_id else None
        if d is None or not d.is_dir():
            curves[r.label] = []
            continue
        curves[r.label] = [{k: x[k] for k in CURVE_KEYS if x.get(k) is not None} for x in read_log_dir(d)
                           if x.get("loss") is not None or x.get("eval_loss") is not None]
        if (d / "config.yaml").is_file():
            configs[r.label] = RunSpec.load(d / "config.yaml").to_dict()
        if (d / "status.json").is_file():
            st = read_status(d)
            devices[r.label], dtypes[r.label] = st.device, st.dtype
            if st.max_steps:
                steps.append(st.max_steps)
    return curves, configs, devices, dtypes, steps


def _wall_s(exp_dir: Path, created: Any, rows: list[RunRow]) -> float | None:
    """The experiment's live wall time: what report.md says (the runner's own clock), else its start to the last
    run's end."""
    report = Path(exp_dir) / "report.md"
    if report.is_file():
        m = _WALL.search(report.read_text(encoding="utf-8"))
        if m:
            return float(m.group(1).replace(",", ""))
    from workbench.core.runstore.run_dirs import runs_root
    from workbench.core.runstore.status import read_status
    ends = [read_status(runs_root() / r.run_id).ended for r in rows
            if r.run_id and (runs_root() / r.run_id / "status.json").is_file()]
    ends = [e for e in ends if e]
    return round(max(ends) - float(created), 1) if ends and created else None


# --------------------------------------------------------------------------- provenance

def machine() -> Machine:
    """This machine: CPU model, usable cores, the AVX-512 BF16 flag and the workbench's native-bf16 answer."""
    from workbench.core.model.precision import cpu_has_native_bf16
    cpu, flags = None, None
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and cpu is None:
                cpu = value.strip()
            elif key.strip() == "flags" and flags is None:
                flags = set(value.split())
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count()
    try:
        native = bool(cpu_has_native_bf16())
    except Exception:  # torch's private probes: absent means unknown
        native = None
    gpu = None
    try:
        import torch
        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:
        pass
    return Machine(cpu=cpu or platform.processor() or None, cores=cores,
                   avx512_bf16=("avx512_bf16" in flags) if flags is not None else None, native_bf16=native, gpu=gpu)


def versions() -> dict[str, Any]:
    """python, torch, transformers, peft (installed versions) and the workbench's git commit (+ dirty)."""
    from importlib.metadata import PackageNotFoundError, version
    out: dict[str, Any] = {"python": platform.python_version()}
    for pkg in ("torch", "transformers", "peft"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    out["workbench"], out["dirty"] = _git()
    return out


def _git() -> tuple[str | None, bool | None]:
    def git(*args: str) -> str | None:
        try:
            p = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return p.stdout.strip() if p.returncode == 0 else None
    commit = git("rev-parse", "--short=12", "HEAD")
    if not commit:
        return None, None
    status = git("status", "--porcelain", "--untracked-files=no")
    return commit, bool(status) if status is not None else None
