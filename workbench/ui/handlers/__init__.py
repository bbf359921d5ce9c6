"""Handlers: the only bridge between the page and the engine.

Primitives in (str, int, float, bool, list) -> core -> primitives out (str, DataFrame, plotly Figure,
dict, gr.update). Core errors become gr.Error here and nowhere else.
"""
