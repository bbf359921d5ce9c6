"""Spectral methods: the update of each wrapped weight lives in another basis and only a few of its coefficients train
(reparameterized). FourierFT (random 2-D Fourier coefficients), WaveFT (wavelet coefficients) and C3A (circular
convolution kernels, computed with the FFT). PEFT counts them (``peft_counted``).
"""
from __future__ import annotations

from workbench.core.methods.peft_counted import register
from workbench.spec.methods import Option

register("fourierft", "spectral", "FourierFTConfig", "FOURIERFT", budget_knob="n_frequency", paper="Gao et al. 2024",
         options=(Option("n_frequency", 1000, "trained Fourier coefficients per layer", 1, 10**8),
                  Option("scaling", 150.0, "scale of the update (like LoRA's alpha / r)", 0.0, 10**6)))
register("waveft", "spectral", "WaveFTConfig", "WAVEFT", budget_knob="n_frequency", paper="Bilican et al. 2025",
         options=(Option("n_frequency", 2592, "trained wavelet coefficients per layer", 1, 10**8),
                  Option("scaling", 25.0, "scale of the update", 0.0, 10**6)))
register("c3a", "spectral", "C3AConfig", "C3A", paper="Chen et al. 2025",
         options=(Option("block_size", 64, "circular block size (must divide the layer widths: PEFT's default 256 "
                         "does not divide the embedded model's 576); larger blocks train fewer parameters", 1, 16384),))
