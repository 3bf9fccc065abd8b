"""AppTests of the Lab page: a short training run (a tiny model, twenty steps) completes, and every number
the page shows afterwards (snapshot steps, each head's attention at each step, the accuracy, the
prediction on a typed sequence) equals that of the same run made directly with `train_task`.

The page trains in the server's pool of worker processes (here, this test process's shared pool),
so a test reruns the page, as the page's polling fragment does in a browser, until the result is in.
"""

from __future__ import annotations

import io
import time

import numpy as np
import pandas as pd
from apptest import app_test, array, captured_downloads, downloaded, figure_specs, messages
from exported import annotation_texts, html_figure, traces

from encoder.lab import causal_blind_spots, make_task, predict_text, train_task
from figures.lab import NEEDED_BUT_MASKED

TINY = dict(lab_task="reverse", lab_layers=1, lab_heads=2, lab_d_model=16, lab_steps=20, lab_refresh=10, lab_seed=3)


def tiny_run(causal: bool = False):
    return train_task("reverse", seed=3, n_layers=1, n_heads=2, d_model=16, steps=20, snapshot_every=10, causal=causal)


TRAINED_TIMEOUT = 180  # s: the first training also spawns the worker process (torch's import)


def train(at) -> None:
    """Press Train and rerun the page until the worker's result is shown."""
    at.button(key="labbtn_train").click().run()
    rerun_until(at, lambda: any(header.value.startswith("Replay") for header in at.subheader))


def chart(at, start: str) -> dict:
    matches = [s for s in figure_specs(at) if s["layout"]["title"]["text"].startswith(start)]
    assert len(matches) == 1, [s["layout"]["title"]["text"] for s in figure_specs(at)]
    return matches[0]


def heatmaps(spec: dict) -> list[np.ndarray]:
    """Each head's attention heatmap (the grey masked overlays of a causal model left out)."""
    return [array(trace["z"]).reshape(8, 8) for trace in spec["data"]
            if trace["type"] == "heatmap" and trace.get("name") == "attention"]


def sequence_tables(at) -> list:
    """The page's position-by-position tables (rows input, predicted, right answer, right?), in order."""
    return [t.value for t in at.dataframe if "predicted" in t.value.index]


def metric(at, label: str) -> str:
    (value,) = [m.value for m in at.metric if m.label.startswith(label)]
    return value


def test_training_then_replay_and_own_sequence_show_the_runs_numbers():
    at = app_test("lab", **TINY)
    assert not at.exception
    task = make_task("reverse")
    assert chart(at, "What to look for")  # before training: the pattern to predict, nothing trained yet
    train(at)
    assert not at.exception, at.exception
    result = tiny_run()

    slider = at.select_slider(key="lab_step")
    assert [int(step) for step in slider.options] == [0, 10, 20] == list(result.snapshots.steps)
    assert int(slider.value) == 20
    assert metric(at, "Held-out sequences right") == f"{result.accuracy:.1%}"
    assert metric(at, "Steps") == "20 of 20"
    final = chart(at, "Held-out example")
    for (layer, head), shown in zip(np.ndindex(1, 2), heatmaps(final), strict=True):
        np.testing.assert_allclose(shown, result.snapshots.attention[-1, layer, head], atol=1e-5)
    curves = chart(at, "reverse: training")["data"]
    np.testing.assert_allclose(array(curves[0]["y"]), [e.loss for e in result.history], rtol=1e-5)

    slider.set_value(10).run()
    assert not at.exception
    replay = chart(at, "Held-out example")
    assert "after 10 steps ·" in replay["layout"]["title"]["text"]
    for (layer, head), shown in zip(np.ndindex(1, 2), heatmaps(replay), strict=True):
        np.testing.assert_allclose(shown, result.snapshots.attention[1, layer, head], atol=1e-5)
    shown_prediction = sequence_tables(at)[0]
    assert list(shown_prediction.loc["predicted"]) == task.decode_outputs(result.snapshots.predictions[1])

    at.text_input(key="lab_sequence").input("12345678").run()
    expected = predict_text(result.model, "12345678")
    own = sequence_tables(at)[-1]
    assert list(own.loc["input"]) == list("12345678") and list(own.loc["right answer"]) == list("87654321")
    assert list(own.loc["predicted"]) == expected.outputs
    assert list(own.loc["right?"]) == ["✓" if c else "✗" for c in expected.correct]
    np.testing.assert_allclose(heatmaps(chart(at, "Your sequence"))[1], expected.attention[0, 1], atol=1e-5)

    at.text_input(key="lab_sequence").input("<b>1234</b>").run()
    assert not at.exception
    assert "reads only" in messages(at)


def test_causal_reverse_shows_the_masked_triangle_and_the_blind_half():
    at = app_test("lab", **TINY, lab_causal=True)
    with captured_downloads() as found:
        train(at)
    assert not at.exception, at.exception
    result = tiny_run(causal=True)
    grid = chart(at, "Held-out example")
    masks = [array(t["z"]).reshape(8, 8) for t in grid["data"] if t.get("name") == "masked"]
    assert len(masks) == len(heatmaps(grid)) == 2
    for shown, mask in zip(heatmaps(grid), masks, strict=True):
        assert np.isnan(shown[np.triu_indices(8, k=1)]).all()  # keys after the query: no weight drawn...
        assert not np.isnan(shown[np.tril_indices(8)]).any()
        assert (mask[np.triu_indices(8, k=1)] == 1).all() and np.isnan(mask[np.tril_indices(8)]).all()  # ...grey
    pattern = array(chart(at, "Keys each output needs")["data"][0]["z"]).reshape(8, 8)
    blind = causal_blind_spots(make_task("reverse"))
    assert list(np.flatnonzero(blind)) == [0, 1, 2, 3]
    assert [int(np.argmax(row)) for row in pattern == NEEDED_BUT_MASKED][:4] == [7, 6, 5, 4]
    bars = chart(at, "Held-out outputs right")["data"][0]
    np.testing.assert_allclose(array(bars["y"]), result.position_accuracy, rtol=1e-6)
    assert [c == "#e8432e" for c in bars["marker"]["color"]] == list(blind)
    assert any("Why a causal model fails" in m.value for m in at.markdown)

    # The export (issue 17 §5): every figure of the trained run in one file, every head of the grid in it,
    # numbered from 1 as on screen, and the weights at the replayed step in long format.
    figure = html_figure(downloaded(at, found, "Figure (HTML)").decode("utf-8"))
    titles = annotation_texts(figure)
    for start in ("reverse (causal): training", "Held-out example", "Keys each output needs", "Held-out outputs right"):
        assert any(title.startswith(start) for title in titles), start
    assert len([t for t in traces(figure, "heatmap") if t.get("name") == "attention"]) == 2  # 1 layer × 2 heads
    assert any(title.startswith("L1 H1") for title in titles) and any(title.startswith("L1 H2") for title in titles)
    assert not any(title.startswith(("L0", "L1 H0")) for title in titles)
    table = pd.read_csv(io.BytesIO(downloaded(at, found, "Numbers (CSV)")))
    assert set(table["layer_from_1"]) == {1} and set(table["head_from_1"]) == {1, 2}
    np.testing.assert_allclose(table.groupby(["head_from_1", "query"])["weight"].sum(), 1.0, atol=1e-5)


def test_a_busy_pool_queues_then_refuses_and_stop_works_waiting_and_running(monkeypatch):
    """One training at a time and one waiting: the first session trains, the second waits with its
    place shown, the third is told the server is busy; Stop takes the second out of the queue and
    ends the first early with what it learnt so far."""
    from encoder.lab import pool as lab_pool

    pool = lab_pool.TrainingPool(lab_pool.PoolSettings(workers=1, max_waiting=1, idle_timeout=60, niceness=0))
    monkeypatch.setattr(lab_pool, "_shared", pool)
    try:
        first = app_test("lab", **{**TINY, "lab_steps": 2000, "lab_causal": True})  # causal: never stops early
        first.button(key="labbtn_train").click().run()
        rerun_until(first, lambda: any(p.value > 0 for p in first.get("progress")))  # training, live
        assert chart(first, "Training, live") and chart(first, "Held-out example")

        second = app_test("lab", **TINY)
        second.button(key="labbtn_train").click().run()
        assert "Waiting, 1 ahead of you" in messages(second)
        third = app_test("lab", **TINY)
        third.button(key="labbtn_train").click().run()
        assert "The server is busy" in messages(third) and not third.get("progress")

        second.button(key="labbtn_stop").click().run()
        rerun_until(second, lambda: "Stopped before it started" in messages(second))
        first.button(key="labbtn_stop").click().run()
        rerun_until(first, lambda: any(header.value.startswith("Replay") for header in first.subheader))
        steps = next(m for m in first.metric if m.label == "Steps")
        assert steps.delta == "stopped" and int(steps.value.split()[0]) < 2000, steps.value
    finally:
        pool.shutdown()


def rerun_until(at, shown, timeout: float = TRAINED_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not shown():
        assert not at.exception, at.exception
        assert time.monotonic() < deadline, f"not shown after {timeout} s: {messages(at)}"
        time.sleep(0.2)
        at.run()
