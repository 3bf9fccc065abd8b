"""The README's Python example runs as written, and its commands are the ones CI uses."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_python_example_runs():
    (example,) = [b for b in code_blocks("python") if "load_model" in b]
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)
    run = namespace["run"]
    assert run.tokens == ["[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]"]
    assert run.attentions.shape == (6, 12, 9, 9) and run.hidden_states.shape == (7, 9, 384)
    assert namespace["pair"].segment_ids.count(1) > 0


def test_ci_runs_exactly_the_readme_test_command():
    bash = code_blocks("bash")
    test_command = next(b.strip() for b in bash if "pytest" in b)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci
    assert any("streamlit run app.py" in b for b in bash)
