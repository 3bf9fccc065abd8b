"""Headlight's benchmarks: scripts that print figures (python -m bench.<name>), never asserts.

The engine is imported first so that its OpenMP setting (encoder/__init__.py: threads wait
passively) is in place before any benchmark imports torch, as it is in the app.
"""

import encoder  # noqa: F401
