"""Web sessions coming and going: what is freed when a browser leaves, and old uploads pruned.

A browser tab is a Gradio session (``session_hash``); the files and runs it makes belong to its *owner* id,
which lives in the browser (so it survives a reload). Several tabs of one browser share an owner.

- ``SessionRegistry``: session -> owner. When the last session of an owner leaves (the page's ``unload``
  event), the adapters it loaded for the Compare tab are released (``variants.release_user``): each
  adapter set holds a private copy of the base model, ~0.5 GB for the embedded model in fp32.
- ``prune_uploads``: uploaded datasets and adapters older than ``WORKBENCH_UPLOAD_TTL_H`` hours (default 24)
  are deleted unless a run's config still names them (a run must stay resumable). Not done at ``unload``:
  a reload fires ``unload`` too, and the same owner comes straight back expecting its files.
- ``Janitor``: a daemon thread running ``prune_uploads`` every ``WORKBENCH_JANITOR_INTERVAL_S`` seconds
  (default 3600). Gradio's own ``delete_cache`` prunes its temporary files.
"""
from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path

from workbench.core.env import env_number

log = logging.getLogger(__name__)


class SessionRegistry:
    """Which owner id each live browser session (Gradio ``session_hash``) belongs to."""

    def __init__(self):
        self._lock = threading.Lock()
        self._owner: dict[str, str] = {}

    def join(self, session: str, owner: str) -> None:
        if session and owner:
            with self._lock:
                self._owner[session] = owner

    def leave(self, session: str) -> str | None:
        """Forget ``session``; returns its owner if that owner has no other live session, else None."""
        with self._lock:
            owner = self._owner.pop(session, None)
            if owner is None or owner in self._owner.values():
                return None
            return owner

    def live(self) -> int:
        with self._lock:
            return len(self._owner)


SESSIONS = SessionRegistry()


def session_left(session: str) -> int:
    """The page's unload event: free what the session's owner loaded if no other tab of it is open.
    Returns how many adapter sets were released."""
    owner = SESSIONS.leave(session)
    if owner is None:
        return 0
    from workbench.core.generation.variants import release_user
    n = release_user(owner)
    if n:
        log.info("session left: released %d adapter set(s) of %s", n, owner[:8])
    return n


def upload_ttl_s() -> float:
    return env_number("WORKBENCH_UPLOAD_TTL_H", 24.0) * 3600


def referenced_by_runs(runs_root: Path) -> set[Path]:
    """Every data file a run's config names (resolved), so pruning never breaks a resume."""
    import yaml
    refs: set[Path] = set()
    if not runs_root.is_dir():
        return refs
    for cfg in runs_root.glob("*/config.yaml"):
        try:
            name = ((yaml.safe_load(cfg.read_text()) or {}).get("data") or {}).get("name")
        except (OSError, yaml.YAMLError, AttributeError):
            continue
        if isinstance(name, str) and name:
            refs.add(Path(os.path.expanduser(name)).resolve())
    return refs


def prune_uploads(uploads_root: Path, runs_root: Path, ttl_s: float | None = None,
                  now: float | None = None) -> list[Path]:
    """Delete uploads (files, and adapter folders) last modified more than ``ttl_s`` ago that no run's
    config names; remove emptied session folders. Returns what was deleted."""
    ttl_s = upload_ttl_s() if ttl_s is None else ttl_s
    now = time.time() if now is None else now
    if not uploads_root.is_dir():
        return []
    keep = referenced_by_runs(runs_root)
    gone: list[Path] = []

    def old(p: Path) -> bool:
        try:
            newest = max(q.stat().st_mtime for q in ([p, *p.rglob("*")] if p.is_dir() else [p]))
        except OSError:
            return False
        return now - newest > ttl_s

    for session_dir in uploads_root.iterdir():
        if not session_dir.is_dir() or session_dir.is_symlink():
            continue
        items = [p for p in session_dir.iterdir() if p.name != "adapters"]
        adapters = session_dir / "adapters"
        if adapters.is_dir():
            items += list(adapters.iterdir())
        for p in items:
            if p.resolve() in keep or not old(p):
                continue
            try:
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                else:
                    p.unlink()
                gone.append(p)
            except OSError as e:
                log.warning("could not prune %s: %s", p, e)
        for d in (adapters, session_dir):
            try:
                if d.is_dir() and not any(d.iterdir()):
                    d.rmdir()
            except OSError:
                pass
    if gone:
        log.info("pruned %d upload(s) older than %.0f h", len(gone), ttl_s / 3600)
    return gone


class Janitor(threading.Thread):
    """Runs ``prune_uploads`` now and then every ``interval_s`` seconds, until ``stop()``."""

    def __init__(self, uploads_root: Path, runs_root: Path, interval_s: float | None = None):
        super().__init__(name="workbench-janitor", daemon=True)
        self.uploads_root, self.runs_root = uploads_root, runs_root
        self.interval_s = env_number("WORKBENCH_JANITOR_INTERVAL_S", 3600.0) if interval_s is None else interval_s
        self._stop_event = threading.Event()

    def run(self) -> None:
        while True:
            try:
                prune_uploads(self.uploads_root, self.runs_root)
            except Exception:  # noqa: BLE001 - never let housekeeping kill the thread
                log.exception("upload pruning failed")
            if self._stop_event.wait(self.interval_s):
                return

    def stop(self) -> None:
        self._stop_event.set()
