"""Headlight's engine: a Transformer encoder with attention capture, loaders and analyses.

    from encoder import load_model
    model = load_model()
    run = model.run("The cat sat.")
    run.attentions.shape  # (layers, heads, tokens, tokens)

This package never imports streamlit; only encoder/export.py imports plotly (for offline HTML),
and `import encoder` does not load it.
"""

import os

# OpenMP's threads spin while they wait for each other by default. Headlight runs on shared machines
# (a class's server, a laptop beside a browser, CI): when the other core is busy, a spinning thread
# waits for a partner that is not running. Measured on 2 cores: a 500-sentence context index built in
# 2.3-3.8 s passive against 13-15 s spinning at load 2-4, with a third of the CPU time; a Lab step
# took 0.1 s against 1.1-1.5 s at load 10-13. Set here, before torch loads its OpenMP runtime (which
# reads it once), so the app, notebooks and scripts all get it; an explicit setting still wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .config import EncoderConfig
from .loading import ModelInfo, ModelLoadError, available_models, bundled_model_dir, load_model
from .model import Encoder
from .run import Model, Run

__all__ = ["Encoder", "EncoderConfig", "Model", "ModelInfo", "ModelLoadError", "Run", "available_models",
           "bundled_model_dir", "load_model"]
