"""Which run settings differ between an experiment's runs (the Experiments tab's settings table, live or recorded)."""
from __future__ import annotations

from typing import Any


def flat(d: dict, prefix: str = "") -> dict[str, Any]:
    """A nested run config as dotted keys (``adapter.r``)."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flat(v, key + "."))
        else:
            out[key] = v
    return out


def differing(configs: dict[str, dict]) -> list[tuple[str, dict[str, Any]]]:
    """label -> run config (``RunSpec.to_dict()``): ``[(setting, {label: value})]`` for the settings whose values
    differ between the runs (the run name left out), sorted by setting."""
    flats = {label: flat(c) for label, c in configs.items()}
    keys = sorted({k for c in flats.values() for k in c} - {"name"})
    return [(k, {label: c.get(k) for label, c in flats.items()}) for k in keys
            if len({repr(c.get(k)) for c in flats.values()}) > 1]
