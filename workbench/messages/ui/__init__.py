"""What the page says: its own labels and buttons (page.py, ``ui.page.*``, put on the page by
``workbench.ui.language.t``), and its checks and the status lines the server builds for it (status.py)."""

from workbench.messages.ui import page, status

if set(page.MESSAGES) & set(status.MESSAGES):
    raise RuntimeError(f"message ids defined twice in messages/ui: {sorted(set(page.MESSAGES) & set(status.MESSAGES))}")

MESSAGES = {**status.MESSAGES, **page.MESSAGES}
