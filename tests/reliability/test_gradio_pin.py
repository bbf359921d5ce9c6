"""Gradio is pinned at or above the release that fixed the known advisories on its file route
(see RELIABILITY.md for the list and the reasoning)."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# 6.20.0: /gradio_api/file=<url> became an SSRF-safe proxy instead of an open redirect (gradio PR #13596,
# CVE-2026-59806) and max_file_size is enforced on /component_server; 6.16.0 fixed FileExplorer path
# traversal (GHSA-j36p-7w88-g82j); 6.7.0 the Windows absolute-path traversal (CVE-2026-28414).
MIN_GRADIO = (6, 20, 0)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.match(r"(\d+)\.(\d+)\.(\d+)", text).groups())


def test_gradio_is_pinned_past_the_file_route_fixes():
    import gradio
    import gradio_client
    pins = dict(re.findall(r"^(gradio|gradio_client)==([\w.]+)\s*$", (ROOT / "requirements.txt").read_text(), re.M))
    assert _version(pins["gradio"]) >= MIN_GRADIO, pins
    assert gradio.__version__ == pins["gradio"] and gradio_client.__version__ == pins["gradio_client"]
    front = (ROOT / "README.md").read_text().split("---")[1]
    assert f"sdk_version: {pins['gradio']}" in front  # the Space runs the same release


def test_installed_file_route_has_the_fixes():
    """Belt and braces: the installed code is the fixed code, not just a version string."""
    import inspect

    from gradio import route_utils
    src = inspect.getsource(route_utils.file_fetch)
    assert "RedirectResponse" not in src and "is_allowed_file" in src
    assert hasattr(route_utils, "secure_url_stream_response")
