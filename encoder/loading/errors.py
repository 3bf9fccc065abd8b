"""The one exception every loading failure becomes, and the boundary that makes it so."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

# An absolute path of two or more parts ("/srv/models/x/config.json", "C:\\models\\x"): messages
# keep its last part only, so a visitor never learns where a server keeps its files.
_PATH = re.compile(r"(?:(?<![\w.~])/|\b[A-Za-z]:\\)(?:[^\s'\"/\\]+[/\\])+([^\s'\"/\\]*)")
MAX_REASON = 300  # characters of a third-party message kept in ours


class ModelLoadError(ValueError):
    """A model could not be loaded; the message says what is wrong, naming the model, not its path."""


def scrub(text: str, limit: int | None = MAX_REASON) -> str:
    """`text` with every absolute path replaced by its last part, on one line, at most `limit` characters."""
    line = " ".join(_PATH.sub(r"\1", text).split())
    return line if limit is None or len(line) <= limit else line[: limit - 1] + "…"


@contextmanager
def load_boundary(name: str) -> Iterator[None]:
    """Whatever goes wrong inside becomes a ModelLoadError with one sentence about `name`.

    Loading runs third-party code (safetensors, tokenizers, transformers, torch) on files a person
    chose, and each fails its own way: RuntimeError from an allocation, TypeError from torch on a
    huge integer, RecursionError on a deeply nested config, MemoryError. A caller (the app) should
    need to catch one exception, and its message must not carry a server path.
    """
    try:
        yield
    except ModelLoadError as error:
        clean = scrub(str(error), limit=None)  # our own sentences: long lists of keys stay whole
        if clean == str(error):
            raise
        raise ModelLoadError(clean) from error
    except MemoryError as error:
        raise ModelLoadError(f"{name} could not be loaded: there was not enough memory.") from error
    except RecursionError as error:
        raise ModelLoadError(f"{name} could not be loaded: its files are nested too deeply.") from error
    except Exception as error:  # the boundary: every other failure, in one sentence
        reason = scrub(str(error)) or "no reason given"
        raise ModelLoadError(f"{name} could not be loaded ({type(error).__name__}: {reason}).") from error
