"""PEFT Workbench entry point (also the Hugging Face Spaces app_file)."""
from workbench.ui.app import build_app, launch_kwargs, queue, startup

demo = queue(build_app())

if __name__ == "__main__":
    startup()
    demo.launch(**launch_kwargs())
