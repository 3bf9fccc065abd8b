"""Size limits a model must meet before anything of it is built or downloaded.

A config.json is a few hundred bytes that decide how many gigabytes `Encoder(config)` (or
transformers) allocates, so a hostile or mistaken one ("hidden_size": 65536, ten million layers)
must be refused from its numbers alone. `LoadLimits` holds the caps; every check raises
`ModelLoadError` with one sentence that names the model by its name, never by a path.

The defaults admit every real model Headlight is meant for (BERT-large is 24 × 1024 with 30k
tokens, XLM-R's vocabulary is 250k, SmolLM2-135M is 30 × 576) with room to spare; a server may
pass tighter ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import ModelLoadError


@dataclass(frozen=True)
class LoadLimits:
    """Caps on a model's shape, checked before it is built. max_parameters bounds memory: a
    float32 parameter is 4 bytes, so the default 2e9 is 8 GB."""

    max_layers: int = 96
    max_width: int = 8192  # hidden size, and the width of factorised embedding tables
    max_heads: int = 128
    max_ffn: int = 32768  # the feed-forward layer's inner width
    max_vocab: int = 300_000
    max_positions: int = 8192  # rows of a learned position table
    max_parameters: int = 2_000_000_000
    max_header_bytes: int = 16 * 1024 * 1024  # a safetensors header (the JSON listing its tensors)
    max_config_bytes: int = 4 * 1024 * 1024  # config.json

    @property
    def max_bytes(self) -> int:
        """The weights' budget in bytes, as float32."""
        return 4 * self.max_parameters

    def check_sizes(self, name: str, **sizes: int) -> None:
        """Each of `sizes` (layers=, width=, heads=, ffn=, vocab=, positions=) within its cap."""
        for what, value in sizes.items():
            cap = getattr(self, f"max_{what}")
            if value > cap:
                raise ModelLoadError(f"{name} has {_count(value)} {_WORDS[what]}, more than the {cap:,} "
                                     "Headlight loads.")

    def check_parameters(self, name: str, n_parameters: int) -> None:
        if n_parameters > self.max_parameters:
            raise ModelLoadError(
                f"{name} has {_parameters(n_parameters)} parameters ({_megabytes(4 * n_parameters)} as float32), "
                f"more than the {_parameters(self.max_parameters)} ({_megabytes(self.max_bytes)}) Headlight loads.")


def _parameters(n: int) -> str:
    return f"{n / 1e9:.2f} billion" if n >= 1e9 else f"{n / 1e6:.1f} million"


def _megabytes(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


_WORDS = {"layers": "layers", "width": "as its width", "heads": "attention heads",
          "ffn": "as its feed-forward width", "vocab": "tokens in its vocabulary", "positions": "positions"}


def whole(value: Any, key: str, minimum: int = 1) -> int:
    """A config.json integer, strictly: a JSON number without a fraction, not a bool, not a string
    (int("12") or int(True) would hide a broken file), at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
            value = int(value)  # 512.0: a config written by a tool that stores floats
        else:
            raise ValueError(f"{key} must be a whole number, not {_shown(value)}.")
    if value < minimum:
        raise ValueError(f"{key} must be at least {minimum}, not {value}.")
    return value


def fraction(value: Any, key: str, low: float, high: float, *, low_open: bool = False) -> float:
    """A config.json real number in [low, high] ((low, high] with low_open): finite, not a bool."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key} must be a number, not {_shown(value)}.")
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        number = math.inf
    if not math.isfinite(number) or number > high or number < low or (low_open and number == low):
        raise ValueError(f"{key} must be a finite number {'above' if low_open else 'from'} {low} to {high}, "
                         f"not {_shown(value)}.")
    return number


def _count(value: int) -> str:
    """1,234 for a count a person reads; about 10^30 for one that only a hostile file would hold
    (str() of an int over 4300 digits raises, so large ones are sized from their bits)."""
    if value < 10**15:
        return f"{value:,}"
    return f"about 10^{int(value.bit_length() * math.log10(2))}"


def _shown(value: Any) -> str:
    """A value for a message: short, whatever it is (a huge int or a nested list stays readable)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**12:
        # str() of an int over 4300 digits raises: count the digits from its bits instead
        return f"a number of about {int(abs(value).bit_length() * math.log10(2)) + 1} digits"
    text = repr(value)
    return text if len(text) <= 40 else f"a {type(value).__name__}"
