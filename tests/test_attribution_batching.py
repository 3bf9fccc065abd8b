"""The shared, batched path of attributions and faithfulness gives the numbers of the one-at-a-time path.

`faithfulness_report` runs every method on one `Explainer` per text (one gradient pass for gradient ×
input and attention × gradient, one attention pass, each distinct perturbed row once, in batches);
here each method gets its own Explainer and every erasure row its own forward pass, and the scores,
the per-percent comprehensiveness and sufficiency and the AOPC table must agree to 1e-5."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from encoder.attribution import (
    METHODS,
    RANDOM,
    Explainer,
    attribute,
    attribute_all,
    attribute_and_measure,
    class_probability,
    erase,
    faithfulness_report,
)
from encoder.attribution.faithfulness import PERCENTS, ranking
from encoder.heads import default_sentence_classifier, read_sentiment, split_sentiment

TOLERANCE = 1e-5
N_TEXTS = 3


@pytest.fixture(scope="module")
def positive(model):
    return class_probability(default_sentence_classifier(model), "positive")


@pytest.fixture(scope="module")
def texts():
    _, held_out = split_sentiment(read_sentiment())
    return list(held_out.texts[:N_TEXTS])


def one_at_a_time(model, text: str, target, index: int) -> tuple[dict, dict]:
    """Each method on a fresh Explainer; every erasure row through the model alone (a batch of one)."""
    scores = {m: attribute(model, text, target, method=m).scores for m in METHODS}
    explainer = Explainer(model, text, target)

    def values(keep: torch.Tensor) -> np.ndarray:
        return np.concatenate([explainer.values(keep[r:r + 1]) for r in range(len(keep))])

    rankings = {m: ranking(s, explainer.removable) for m, s in scores.items()}
    rankings[RANDOM] = np.random.default_rng([0, index]).permutation(np.flatnonzero(explainer.removable))
    return scores, erase(values, explainer.value, rankings, explainer.removable, PERCENTS)


def test_batched_faithfulness_matches_one_at_a_time(model, positive, texts):
    report = faithfulness_report(model, texts, positive, METHODS)
    per_text = report.per_text.set_index(["text", "method", "percent"]).sort_index()
    aopc = {}
    for index, text in enumerate(texts):
        shared = attribute_all(model, text, positive, METHODS)
        scores, erasures = one_at_a_time(model, text, positive, index)
        for method in METHODS:
            assert np.allclose(shared[method].scores, scores[method], atol=TOLERANCE, rtol=0), method
        for name, e in erasures.items():
            rows = per_text.loc[(index, name)]
            assert rows["tokens"].tolist() == e.counts.tolist()
            assert np.allclose(rows["comprehensiveness"], e.comprehensiveness, atol=TOLERANCE, rtol=0), name
            assert np.allclose(rows["sufficiency"], e.sufficiency, atol=TOLERANCE, rtol=0), name
            aopc.setdefault(name, []).append((e.comprehensiveness.mean(), e.sufficiency.mean()))
    table = report.table.set_index("method")
    for name, values in aopc.items():
        expected = np.mean(values, axis=0)
        assert np.allclose(table.loc[name, ["comprehensiveness", "sufficiency"]].to_numpy(float), expected,
                           atol=TOLERANCE, rtol=0), name


def test_one_text_measured_once_matches_the_two_calls(model, positive, texts):
    results, report = attribute_and_measure(model, texts[0], positive, METHODS)
    apart = attribute_all(model, texts[0], positive, METHODS)
    for method in METHODS:
        assert np.allclose(results[method].scores, apart[method].scores, atol=TOLERANCE, rtol=0), method
    alone = faithfulness_report(model, texts[:1], positive, METHODS).table.set_index("method")
    table = report.table.set_index("method")
    assert set(table.index) == set(alone.index) == {*METHODS, RANDOM}
    columns = ["comprehensiveness", "sufficiency"]
    assert np.allclose(table.loc[alone.index, columns].to_numpy(float), alone[columns].to_numpy(float),
                       atol=TOLERANCE, rtol=0)


def test_the_shared_gradient_pass_is_captums_input_x_gradient_and_delta(model, positive, texts):
    from captum.attr import InputXGradient, IntegratedGradients

    explainer = Explainer(model, texts[1], positive)
    with torch.enable_grad():
        expected = InputXGradient(explainer.function).attribute(explainer.x.clone().requires_grad_(True))
    ours = explainer.attribute("gradient_x_input").scores
    assert np.allclose(ours, expected.sum(-1)[0].detach().double().numpy(), atol=1e-6, rtol=0)
    base = explainer.backend.baseline_embedding(explainer.prepared, "pad")
    with torch.enable_grad():
        _, delta = IntegratedGradients(explainer.function).attribute(
            explainer.x.clone(), baselines=base, n_steps=50, internal_batch_size=50, return_convergence_delta=True)
    with torch.no_grad():
        gap = explainer.value - float(explainer.function(base)[0])
    error = explainer.attribute("integrated_gradients", steps=50).completeness_error
    assert error == pytest.approx(abs(float(delta)) / abs(gap), abs=TOLERANCE)


def test_each_distinct_row_runs_once_per_text(model, positive, texts):
    explainer = Explainer(model, texts[2], positive)
    ran = []
    run_rows = explainer._values
    explainer._values = lambda keep: ran.append(len(keep)) or run_rows(keep)  # count the rows the model runs
    occlusion = explainer.attribute("occlusion").scores
    leave_one_out = sum(ran)
    assert leave_one_out == explainer.removable.sum()
    order = ranking(occlusion, explainer.removable)
    e = erase(explainer.values, explainer.value, {"occlusion": order}, explainer.removable, (1,))
    assert sum(ran) == leave_one_out + 1  # without its top token: already run by occlusion; only it: new
    assert e["occlusion"].comprehensiveness[0] == pytest.approx(occlusion[order[0]], abs=1e-12)
