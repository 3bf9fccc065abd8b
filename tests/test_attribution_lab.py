"""A known answer for attributions (issue 19 §3): on the Lab's reverse task, output i needs input T−1−i.

A small Lab model learns reverse; integrated gradients and occlusion must then put their top score on
input T−1−i for at least 95% of held-out positions, and the faithfulness ranking must put both above
a random ranking."""

from __future__ import annotations

import numpy as np
import pytest

from encoder.attribution import Explainer, faithfulness, lab_output
from encoder.lab import held_out_set, train_task

N_SEQUENCES = 8  # held-out sequences; x T positions each


@pytest.fixture(scope="module")
def reverse():
    result = train_task("reverse", seed=0, steps=400, n_layers=1, n_heads=2, d_model=32)
    assert result.accuracy >= 0.9  # else the known answer would test a model that has not learnt reverse
    return result.model


def held_out_texts(model, n: int) -> list[str]:
    inputs, _ = held_out_set(model.task, n)  # (n, T): never trained on
    return ["".join(model.task.decode_inputs(row)) for row in inputs]


@pytest.mark.parametrize("method", ["integrated_gradients", "occlusion"])
def test_top_score_is_the_input_reverse_needs(reverse, method):
    texts = held_out_texts(reverse, N_SEQUENCES)
    length = reverse.task.length
    hits = []
    for text in texts:
        for position in range(length):
            explainer = Explainer(reverse, text, lab_output(reverse, position))
            scores = explainer.attribute(method, steps=32).scores  # (T,)
            candidates = np.flatnonzero(explainer.removable)  # every input but the output's own position
            best = candidates[np.argmax(scores[candidates])]
            # the output's own position may be the needed input (the middle of an odd length): then it
            # is kept out of the ranking by design, and the question does not apply
            if length - 1 - position != position:
                hits.append(best == length - 1 - position)
    assert np.mean(hits) >= 0.95, f"{method}: top score on the needed input for {np.mean(hits):.0%} of positions"


def test_faithfulness_ranks_the_known_answer_methods_above_random(reverse):
    texts = held_out_texts(reverse, 12)
    table = faithfulness(reverse, texts, lab_output(reverse, 0), methods=["integrated_gradients", "occlusion"],
                         steps=32).set_index("method")
    assert set(table.index) == {"integrated_gradients", "occlusion", "random"}
    assert (table["n_texts"] == 12).all()
    for method in ("integrated_gradients", "occlusion"):
        assert table.loc[method, "comprehensiveness"] > table.loc["random", "comprehensiveness"] + 0.1
        assert table.loc[method, "sufficiency"] < table.loc["random", "sufficiency"]
