"""Headlight's engine: a Transformer encoder with attention capture, loaders and analyses.

    from encoder import load_model
    model = load_model()
    run = model.run("The cat sat.")
    run.attentions.shape  # (layers, heads, tokens, tokens)

This package never imports streamlit or plotly.
"""

from .config import EncoderConfig
from .loading import ModelLoadError, bundled_model_dir, load_model
from .model import Encoder
from .run import Model, Run

__all__ = ["Encoder", "EncoderConfig", "Model", "ModelLoadError", "Run", "bundled_model_dir",
           "load_model"]
