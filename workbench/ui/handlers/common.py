"""Helpers shared by handlers: turning engine errors into gr.Error, parsing target inputs."""
from __future__ import annotations

import functools
import re

import gradio as gr

from workbench.errors import user_error_types
from workbench.messages import render
from workbench.ui.language import CURRENT_LANG, gradio_request, request_language, tr


def _language(args, kwargs) -> str:
    """The page language of the request being served: from a gr.Request the handler itself takes, else the
    one Gradio is serving (English outside a request: tests, the CLI, direct calls)."""
    given = CURRENT_LANG.get()
    if given:
        return given
    request = next((a for a in (*args, *kwargs.values()) if isinstance(a, gr.Request)), None)
    return request_language(request or gradio_request())


def _error(e: BaseException, lang: str) -> gr.Error:
    """The gr.Error for an engine error: its catalogue message rendered in the page's language."""
    if lang == "zh-CN":
        return gr.Error(render(e, lang), title="错误", print_exception=False)
    return gr.Error(str(e), print_exception=False)


# Gradio hands an event function the gr.Request only through a *positional* parameter annotated gr.Request
# (helpers.special_args stops at the first keyword-only one), and a positional one added after defaults
# would take an input's place when an event passes fewer inputs than the function has parameters. So the
# wrappers keep the handler's signature (the API Gradio derives from it is unchanged) and read the request
# from the context variable Gradio sets while it runs an event function (gradio.context.LocalContext).

def in_page_language(fn):
    """Run ``fn`` with CURRENT_LANG set to the page's language, for the status text it builds (language.tr)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        token = CURRENT_LANG.set(_language(args, kwargs))
        try:
            return fn(*args, **kwargs)
        finally:
            CURRENT_LANG.reset(token)
    return wrapper


def user_errors(fn):
    """Run ``fn``; engine errors (bad input) become a gr.Error with the engine's message, in the page's
    language. Status text built during the call (language.tr) uses that language too (CURRENT_LANG)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        lang = _language(args, kwargs)
        token = CURRENT_LANG.set(lang)
        try:
            return fn(*args, **kwargs)
        except user_error_types() as e:
            raise _error(e, lang) from None
        finally:
            CURRENT_LANG.reset(token)
    return wrapper


def user_errors_gen(fn):
    """Same as user_errors for generator handlers (streaming).

    Gradio runs each step of a sync generator in a worker thread with a fresh copy of the context, so the
    language is set around every step, not once for the generator.
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        lang = _language(args, kwargs)  # at the first step, while Gradio serves the request
        gen = fn(*args, **kwargs)
        try:
            while True:
                token = CURRENT_LANG.set(lang)
                try:
                    item = next(gen)
                except StopIteration:
                    return
                except user_error_types() as e:
                    raise _error(e, lang) from None
                finally:
                    CURRENT_LANG.reset(token)
                yield item
        finally:
            gen.close()
    return wrapper


def parse_int_list(text: str, field: str) -> list[int]:
    from workbench.errors import WorkbenchError
    try:
        vals = [int(x) for x in re.split(r"[,\s]+", (text or "").strip()) if x]
    except ValueError:
        raise WorkbenchError("ui.int_list", field=field, text=text) from None
    if not vals or any(v < 1 for v in vals):
        raise WorkbenchError("ui.positive_int_list", field=field, text=text)
    return sorted(set(vals))


def duration_text(seconds) -> str:
    """``seconds`` as "1m 05s" / "42 s" in the page's language ("–" for None)."""
    if seconds is None:
        return "–"
    s = int(seconds)
    return tr("ui.minutes_seconds", minutes=s // 60, seconds=s % 60) if s >= 60 else tr("ui.seconds", seconds=s)
