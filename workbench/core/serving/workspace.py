"""What one owner (a browser session) may see and read: runs, uploads, adapters, data files and models.

The web page gives every browser an anonymous owner id (``new_owner_id``), kept in the browser encrypted with
``browser_state_secret()``. Every handler that touches a run, an upload, an adapter or a file asks a
``Workspace(owner)``; nothing else in the UI decides what a session may see. The CLI is not limited (it runs as
the machine's user).

    ws = Workspace(owner)
    ws.runs()                      the owner's runs (all runs with WORKBENCH_SHARE_RUNS=1)
    ws.run(run_id)                 its RunStatus, or RunError if it is another session's
    ws.adapters()                  AdapterEntry for each adapter of its runs and uploads
    ws.check_adapters(paths)       the paths, if every one is the owner's (at most MAX_ADAPTERS)
    ws.check_data_source(name)     shipped dataset, hub id, or a file in the owner's uploads folder
    ws.check_model_name(name)      public mode: presets, the embedded model, hub ids, own uploads only
    ws.may_read(path)              a file inside the owner's uploads or runs
    ws.check_limits(spec)          public mode: max_steps within the step cap (else SpecError at submission)
    ws.trackers()                  the trackers a run may report to (public mode: the local ones, trackio + tensorboard)
    ws.check_trackers(spec)        train.report_to: offered here and installed (else SpecError at submission)
    run_limits()                   RunLimits(max_steps, max_wall_seconds) every run trains under (env, public defaults)
    custom_arch_limits(local)      bounds of the custom-architecture form (tighter in public mode)
    ws.uploads_dir                 <runs root>/../uploads/<owner>

``Policy.from_env()`` reads the server's settings: ``share_runs`` (WORKBENCH_SHARE_RUNS=1: one trusted group
sees every run) and ``public`` (WORKBENCH_PUBLIC=1 or SPACE_ID set: the app faces strangers, see issue 13).
An owner of ``None`` / ``""`` is "no session": it sees runs without an owner (made from the terminal) and
data files in any session's uploads folder (handlers that do not know the session).
"""
from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import SpecError
from workbench.core.runstore import run_dirs as runs
from workbench.core.env import is_public
from workbench.core.paths import looks_like_hub_id, looks_like_path
from workbench.core.training import trackers as run_trackers
from workbench.core.training.run_limits import experiment_limits, run_limits
from workbench.core.runstore.run_dirs import RunError, RunInfo, RunStatus

MAX_ADAPTERS = 3
"""Adapters one compare / evaluation may use at once (each is a copy of the LoRA weights in memory)."""


@dataclass(frozen=True)
class Policy:
    """The server-wide rules a workspace applies (read from the environment)."""
    share_runs: bool = False
    public: bool = False

    @classmethod
    def from_env(cls) -> "Policy":
        return cls(share_runs=os.environ.get("WORKBENCH_SHARE_RUNS", "0") == "1", public=is_public())


# --------------------------------------------------------------------------- owner ids and the browser secret

def new_owner_id() -> str:
    """A fresh anonymous owner id for a browser that has none (96 random bits)."""
    return secrets.token_hex(12)


def browser_state_secret() -> str:
    """The key gr.BrowserState encrypts the owner id with in the browser's local storage.

    It must outlive the server process: with Gradio's default (a new random key per start) a restarted
    server cannot read what browsers stored, every visitor gets a new owner id and loses their runs.
    From env WORKBENCH_BROWSER_SECRET, else a random key kept in <runs root>/.browser-state-secret.
    The key is sent to every page (it is not a credential); the owner id it wraps is what is private.
    """
    env = os.environ.get("WORKBENCH_BROWSER_SECRET", "").strip()
    if env:
        return env
    path = runs.runs_root() / ".browser-state-secret"
    try:
        return path.read_text(encoding="utf-8").strip() or _new_secret(path)
    except FileNotFoundError:
        return _new_secret(path)


def _new_secret(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(secrets.token_hex(16), encoding="utf-8")
    try:
        os.link(tmp, path)  # first writer wins when two servers start together
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text(encoding="utf-8").strip()


# --------------------------------------------------------------------------- folders

def uploads_root() -> Path:
    """The folder holding every session's uploads folder (next to the runs folder)."""
    return runs.runs_root().parent / "uploads"


def _folder_name(owner: str | None) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "", owner or "anon")[:64] or "anon"


@dataclass(frozen=True)
class AdapterEntry:
    """One adapter an owner may use: from one of its runs (``run_id`` set) or uploaded (``run_id`` None)."""
    path: str
    name: str                  # the run's name or id; the upload's folder name
    run_id: str | None = None
    method: str | None = None
    status: str | None = None

    @property
    def uploaded(self) -> bool:
        return self.run_id is None


# --------------------------------------------------------------------------- the workspace

@dataclass(frozen=True)
class Workspace:
    """What ``owner`` may see and read (see the module docstring). Cheap to build: one per request."""
    owner: str | None
    policy: Policy = field(default_factory=Policy.from_env)

    @property
    def public(self) -> bool:
        return self.policy.public

    # ----------------------------------------------------------------- folders
    @property
    def uploads_dir(self) -> Path:
        """This owner's uploads folder (never shared between sessions)."""
        return uploads_root() / _folder_name(self.owner)

    @property
    def adapter_uploads_dir(self) -> Path:
        return self.uploads_dir / "adapters"

    def _data_root(self) -> Path:
        return (uploads_root() if not self.owner else self.uploads_dir).resolve()

    # ----------------------------------------------------------------- runs
    def owns(self, status: RunStatus) -> bool:
        """May this owner see the run with ``status``?"""
        if self.policy.share_runs:
            return True
        if not self.owner:
            return status.owner in (None, "")
        return status.owner == self.owner

    def run(self, run_id: str | None) -> RunStatus:
        """The status of ``run_id`` if this owner may see it; RunError otherwise (no such run / another session's:
        run ids carry 24 random bits, so saying which leaks nothing worth hiding)."""
        if not run_id:
            raise RunError("runs.no_run_selected")
        st = runs.run_status(run_id)
        if not self.owns(st):
            raise RunError("runs.other_session", run_id=run_id)
        return st

    def runs(self) -> list[RunInfo]:
        """This owner's runs, newest first."""
        out = []
        for info in runs.list_runs():
            if self.owns(runs.read_status(info.path)):
                out.append(info)
        return out

    # ----------------------------------------------------------------- adapters
    def adapters(self) -> list[AdapterEntry]:
        """Adapters of this owner's runs (those that saved one), then its uploaded adapters."""
        out = []
        for info in self.runs():
            d = Path(info.path) / "adapter"
            if (d / "adapter_config.json").is_file():
                out.append(AdapterEntry(path=str(d), name=info.name or info.run_id, run_id=info.run_id,
                                        method=info.method, status=info.status))
        up = self.adapter_uploads_dir
        if up.is_dir():
            for d in sorted(up.iterdir()):
                if (d / "adapter_config.json").is_file():
                    out.append(AdapterEntry(path=str(d), name=d.name))
        return out

    def check_adapter(self, adapter_dir: str) -> str:
        """``adapter_dir`` if it is one of this owner's adapters (compared as given, never resolved from input)."""
        if adapter_dir not in {a.path for a in self.adapters()}:
            raise RunError("runs.adapter_not_owned", path=adapter_dir)
        return adapter_dir

    def check_adapters(self, adapters: list[str] | None) -> list[str]:
        """The non-empty entries of ``adapters``, each checked; at most MAX_ADAPTERS."""
        adapters = [a for a in (adapters or []) if a]
        if len(adapters) > MAX_ADAPTERS:
            raise RunError("compare.too_many_adapters", n=MAX_ADAPTERS)
        owned = {a.path for a in self.adapters()}
        for a in adapters:
            if a not in owned:
                raise RunError("runs.adapter_not_owned", path=a)
        return adapters

    # ----------------------------------------------------------------- files
    def may_read(self, path: str | Path) -> bool:
        """True if ``path`` (after resolving links and '..') lies in this owner's uploads folder or one of its
        run folders. With no owner: in any session's uploads folder."""
        try:
            p = Path(os.path.expanduser(str(path))).resolve()
        except (OSError, RuntimeError, ValueError):
            return False
        if p.is_relative_to(self._data_root()):
            return True
        return bool(self.owner) and any(p.is_relative_to(Path(i.path).resolve()) for i in self.runs())

    def check_data_source(self, name: str) -> None:
        """Refuse dataset names a web session may not read (SpecError on ``data.name``).

        Shipped datasets and hub ids are fine; a file or folder path must lie in the owner's own uploads
        folder (no owner: in some session's uploads folder). Anything else would let a page read any
        .jsonl/.csv on the server. The CLI is not limited.
        """
        from workbench.core.data import datasets as data
        name = (name or "").strip()
        shipped = [d.name for d in data.list_datasets()]
        if name in shipped or (self.public and looks_like_hub_id(name)) or not looks_like_path(name):
            return  # shipped, or a hub id (public: whatever is on disk, see core/paths.py)
        path = Path(os.path.expanduser(name))
        if not path.resolve().is_relative_to(self._data_root()):
            raise SpecError("data.name", "data.not_allowed", name=name, choices=", ".join(shipped))

    def check_model_name(self, name: str) -> None:
        """Public mode: a model must be a preset, the embedded model, a hub id or a folder in the owner's uploads.

        Local use (not public) allows any name. The answer never depends on whether a server path exists, so a
        visitor cannot probe the server's folders.
        """
        if not self.public:
            return
        from workbench.core.model import loading as models
        name = (name or "").strip()
        presets = {k.lower() for k in models.presets()} | {models.EMBEDDED_NAME.lower()}
        if name.lower() in presets:
            return
        if looks_like_hub_id(name):
            return
        if self.owner and not name.startswith("~") and "://" not in name \
                and Path(name).resolve().is_relative_to(self.uploads_dir.resolve()):
            return
        if _is_custom_arch(name):  # built by the custom-architecture form (config.json only, never trained)
            return
        raise SpecError("model.name", "runs.public_model_name", name=name)

    def check_limits(self, spec) -> None:
        """Public mode: refuse (at submission) a run asking for more steps than the step cap, so a visitor
        learns the limit at once instead of a run silently cut short. Local use keeps the silent cap."""
        cap = run_limits(self.policy.public).max_steps
        if self.public and cap and spec.train.max_steps > cap:
            raise SpecError("train.max_steps", "classroom.steps_over_cap", n=spec.train.max_steps, cap=cap)

    def trackers(self) -> tuple[str, ...]:
        """The trackers a run may report to (``train.report_to``): public mode keeps metrics on the server."""
        return run_trackers.allowed(self.public)

    def check_trackers(self, spec) -> None:
        """Refuse, at submission, a tracker this server does not offer or whose package is not installed."""
        run_trackers.check(spec, public=self.public)


# --------------------------------------------------------------------------- limits (public mode: issue 13)

PUBLIC_CUSTOM_LIMITS = {"hidden size": 16_384, "layers": 128, "heads": 128, "KV heads": 128,
                        "intermediate size": 65_536, "vocab": 262_144}
"""Custom-architecture bounds in public mode: every released Llama-style model fits (Llama-3-405B: 16384 hidden,
126 layers, 128 heads, 53248 intermediate), while a stranger cannot make the server build huge module trees."""


def custom_arch_limits(local: dict[str, int], policy: Policy | None = None) -> dict[str, int]:
    """The custom-architecture form's upper bounds: ``local`` (the form's own), tightened in public mode."""
    if not (policy or Policy.from_env()).public:
        return dict(local)
    return {k: min(v, PUBLIC_CUSTOM_LIMITS.get(k, v)) for k, v in local.items()}


def _is_custom_arch(name: str) -> bool:
    """True for a config.json the custom-architecture form wrote (<cache>/custom/<12 hex>/config.json)."""
    from workbench.core.model import loading as models
    m = re.fullmatch(r"(.+)[/\\]([0-9a-f]{12})[/\\]config\.json", name)
    if not m:
        return False
    return Path(m.group(1)) == models.cache_dir() / "custom" and Path(name).is_file()



def public_limits_message(policy: Policy | None = None):
    """Public mode: the Message the page shows under its intro, naming the limits that apply; None locally."""
    from workbench.messages import Message, joined
    from workbench.core.serving.run_queue import RUN_MANAGER
    policy = policy or Policy.from_env()
    if not policy.public:
        return None
    limits = run_limits(policy.public)
    parts = []
    if limits.max_steps:
        parts.append(Message("classroom.limit_steps", {"n": limits.max_steps}))
    if limits.max_wall_seconds:
        parts.append(Message("classroom.limit_wall", {"minutes": round(limits.max_wall_seconds / 60, 1)}))
    experiment = experiment_limits(policy.public)
    parts.append(Message("classroom.limit_experiment_runs", {"n": experiment.max_runs}))
    if experiment.max_steps:
        parts.append(Message("classroom.limit_experiment_steps", {"n": experiment.max_steps}))
    parts.append(Message("classroom.limit_queue", {"n": RUN_MANAGER.max_queued_per_owner,
                                                   "k": RUN_MANAGER.max_concurrent}))
    parts.append(Message("classroom.limit_custom", {"layers": PUBLIC_CUSTOM_LIMITS["layers"],
                                                    "hidden": PUBLIC_CUSTOM_LIMITS["hidden size"]}))
    return Message("classroom.public_limits", {"limits": joined(parts)})
