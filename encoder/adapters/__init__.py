"""Models run by another library into Headlight's `Run`: today, transformers' decoders and encoder-decoders."""

from .transformers_adapter import (
    AdapterConfig,
    AdapterRun,
    TransformersModel,
    is_adapter_config,
    load_transformers_model,
)

__all__ = ["AdapterConfig", "AdapterRun", "TransformersModel", "is_adapter_config", "load_transformers_model"]
