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
    assert [r.n_tokens for r in namespace["runs"]] == [4, 7]


def test_analysis_example_runs(tmp_path, monkeypatch):
    """The second example (analyses, task heads, export) runs as written on the first one's run."""
    first, second = [b for b in code_blocks("python") if "train_task" not in b][:2]
    namespace: dict = {}
    exec(compile(first, "README.md", "exec"), namespace)
    monkeypatch.chdir(tmp_path)  # save_html writes attention.html into the working folder
    exec(compile(second, "README.md", "exec"), namespace)
    html = (tmp_path / "attention.html").read_text(encoding="utf-8")
    assert "Plotly.newPlot" in html and not re.search(r"<script[^>]+src=", html)  # plotly.js inline, no CDN


def test_ci_runs_exactly_the_readme_test_command():
    bash = code_blocks("bash")
    test_command = next(b.strip() for b in bash if "pytest" in b)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci
    assert any("streamlit run app.py" in b for b in bash)
