"""The headless engine (torch / transformers / peft / datasets). Never imports gradio."""
import logging as _logging
import os as _os

# bitsandbytes logs a noisy note about an optional faster CPU 4-bit kernel package on import.
_logging.getLogger("bitsandbytes").setLevel(_logging.ERROR)
_os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
