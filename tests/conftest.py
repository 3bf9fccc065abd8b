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


def _working_tree_status() -> str | None:
    """`git status --porcelain` of the repository, or None outside a git checkout."""
    import subprocess

    try:
        done = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def pytest_sessionstart(session):
    session.config.stash[_TREE_BEFORE] = _working_tree_status()


def pytest_sessionfinish(session, exitstatus):
    """Tests write only to temporary folders: a suite that changed the working tree fails."""
    before = session.config.stash.get(_TREE_BEFORE, None)
    after = _working_tree_status()
    if before is not None and after is not None and after != before:
        changed = sorted(set(after.splitlines()) ^ set(before.splitlines()))
        session.config.get_terminal_writer().line(
            "The test run changed the working tree (tests must write only to temporary folders):\n  "
            + "\n  ".join(changed), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_TREE_BEFORE = pytest.StashKey[str | None]()
