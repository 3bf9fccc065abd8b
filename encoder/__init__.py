"""Headlight's engine: a Transformer encoder with attention capture, loaders and analyses.

    from encoder import load_model
    model = load_model()
    run = model.run("The cat sat.")
    run.attentions.shape  # (layers, heads, tokens, tokens)

This package never imports streamlit; only encoder/export.py imports plotly (for offline HTML),
and `import encoder` does not load it.
"""

from .config import EncoderConfig
from .loading import ModelInfo, ModelLoadError, available_models, bundled_model_dir, load_model
from .model import Encoder
from .run import Model, Run

__all__ = ["Encoder", "EncoderConfig", "Model", "ModelInfo", "ModelLoadError", "Run", "available_models",
           "bundled_model_dir", "load_model"]
