"""Models run by another library into Headlight's `Run`: today, transformers' decoders and
encoder-decoders. Loading them is `encoder.loading.transformers`'s."""

from .transformers_adapter import AdapterConfig, AdapterRun, TransformersModel

__all__ = ["AdapterConfig", "AdapterRun", "TransformersModel"]
