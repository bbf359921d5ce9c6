"""The Gradio front end: a thin layer over workbench.core. Never imports torch directly."""
