from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
# Tests never reach the Hub: offline mode makes any attempt fail at once instead of timing out.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# As app.py does: OpenMP threads wait passively, so the test process, the browser tests' server
# and Chromium do not spin against each other on 2 cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(scope="session")
def model():
    from encoder import load_model

    return load_model()


@pytest.fixture(scope="session")
def hf_model():
    """The reference: transformers' BertModel on the same files, eager attention."""
    from transformers import BertModel

    from encoder import bundled_model_dir

    return BertModel.from_pretrained(str(bundled_model_dir()), attn_implementation="eager").eval()
