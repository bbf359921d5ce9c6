"""The PEFT methods, one file per family; importing this package registers them (in this order) in spec.methods."""
from workbench.core.methods import full  # noqa: F401 - full fine-tuning, the reference
from workbench.core.methods import lora  # noqa: F401 - lora, dora, qlora
from workbench.core.methods import prompt  # noqa: F401 - prompt_tuning, p_tuning, prefix_tuning
from workbench.core.methods import ia3  # noqa: F401
from workbench.core.methods import ln_tuning  # noqa: F401
from workbench.core.methods import low_rank  # noqa: F401 - LoRA's kin, counted by PEFT
from workbench.core.methods import orthogonal  # noqa: F401
from workbench.core.methods import spectral  # noqa: F401
from workbench.core.methods import sparse  # noqa: F401
from workbench.core.methods import tokens  # noqa: F401
