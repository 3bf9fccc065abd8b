"""The lab: task generators against hand-worked answers, a short training run, determinism,
the safetensors round trip and the causal mask."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from encoder.lab import (
    TrainingSettings,
    causal_blind_spots,
    held_out_set,
    load_task_model,
    make_task,
    pattern_share,
    predict_text,
    save_task_model,
    task_model_bytes,
    train_task,
)
from encoder.lab.model import attention_of, held_out_evaluation
from encoder.lab.train import TrainingBatches, learning_rate_factor


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Train on one thread here. These models are tiny, so a second thread adds only OpenMP
    barrier waits, and on a shared, loaded machine its spinning made a step 10-20x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# A model small enough to train in a second or two; reverse still learns it (one head suffices).
TINY = dict(n_layers=1, n_heads=2, d_model=32)


def answer_text(task_name: str, text: str, **params: int) -> str:
    task = make_task(task_name, **params)
    return "".join(task.decode_outputs(task.answer(task.encode(text)[None])[0]))


# --- generators: known answers ---------------------------------------------------------------

def test_reverse_copy_sort_known_answers():
    assert answer_text("reverse", "12345678") == "87654321"
    assert answer_text("copy", "12345678", offset=2) == "78123456"  # wraps around
    assert answer_text("copy", "12345678", offset=0) == "12345678"
    assert answer_text("sort", "31415926") == "11234569"


def test_count_and_majority_known_answers():
    # 3 1 4 1 5 9 2 6: the two 1s occur twice, everything else once.
    assert answer_text("count", "31415926") == "12121111"
    assert answer_text("count", "77777777") == "88888888"
    assert answer_text("majority", "12232445") == "22222222"
    assert answer_text("majority", "11223344") == "11111111"  # a typed tie: the smallest digit


def test_brackets_known_answers():
    task = make_task("brackets", length=8)
    assert task.answer(task.encode("([])()[]")[None])[0].tolist() == [3, 2, 1, 0, 5, 4, 7, 6]
    assert task.answer(task.encode("(()[[]])")[None])[0].tolist() == [7, 2, 1, 6, 5, 4, 3, 0]
    # Unbalanced (typed only): "]" cannot close "(", so it and the last "(" point to themselves.
    short = make_task("brackets", length=4)
    assert short.answer(short.encode("(])(")[None])[0].tolist() == [2, 1, 0, 3]


@pytest.mark.parametrize("name", ["reverse", "copy", "sort", "count", "majority", "brackets"])
def test_generators_are_seeded_and_consistent(name):
    task = make_task(name)
    inputs, targets = task.generate(np.random.default_rng(5), 200)
    again, _ = task.generate(np.random.default_rng(5), 200)
    other, _ = task.generate(np.random.default_rng(6), 200)
    assert inputs.shape == targets.shape == (200, task.length)
    assert np.array_equal(inputs, again) and not np.array_equal(inputs, other)
    assert inputs.min() >= 0 and inputs.max() < len(task.input_symbols)
    assert targets.min() >= 0 and targets.max() < task.n_classes
    expected = task.expected_attention(inputs)
    assert expected.shape == (200, task.length, task.length) and expected.any(axis=2).all()


def test_generated_brackets_are_balanced_and_typed():
    task = make_task("brackets")
    inputs, partners = task.generate(np.random.default_rng(0), 300)
    rows = np.arange(task.length)
    for sequence, partner in zip(inputs, partners, strict=True):
        assert (partner != rows).all()  # every bracket has a partner
        assert (partner[partner] == rows).all()  # partnership is mutual
        opener = np.minimum(rows, partner)
        assert (sequence[opener] % 2 == 0).all()  # the earlier of a pair opens...
        assert (sequence[np.maximum(rows, partner)] == sequence[opener] + 1).all()  # ...the later closes it
    assert len({row.tobytes() for row in inputs}) > 200  # varied, and both types occur
    assert set(np.unique(inputs)) == {0, 1, 2, 3}


def test_majority_generator_always_has_one_winner():
    inputs, targets = make_task("majority").generate(np.random.default_rng(1), 500)
    counts = np.stack([(inputs == d).sum(axis=1) for d in range(10)], axis=1)  # (N, 10)
    top = np.sort(counts, axis=1)
    assert (top[:, -1] > top[:, -2]).all()
    assert (counts[np.arange(500), targets[:, 0]] == top[:, -1]).all()


def test_expected_attention_patterns():
    inputs = make_task("reverse").encode("31415926")[None]
    assert np.array_equal(make_task("reverse").expected_attention(inputs)[0], np.eye(8, dtype=bool)[::-1])
    shifted = make_task("copy", offset=3).expected_attention(inputs)[0]
    assert shifted[5, 2] and shifted[0, 5] and shifted.sum() == 8
    # sort: output 0 is the smallest digit, 1, held at positions 1 and 3.
    assert np.flatnonzero(make_task("sort").expected_attention(inputs)[0, 0]).tolist() == [1, 3]
    # count: query 1 (a "1") looks at both 1s.
    assert np.flatnonzero(make_task("count").expected_attention(inputs)[0, 1]).tolist() == [1, 3]


def test_typed_sequences_that_do_not_fit_are_refused():
    task = make_task("reverse")
    assert task.encode("1234 5678").tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    with pytest.raises(ValueError, match="exactly 8"):
        task.encode("123")
    with pytest.raises(ValueError, match="x"):
        task.encode("1234567x")
    with pytest.raises(ValueError, match="Unknown task"):
        make_task("juggle")


def test_causal_blind_spots():
    assert causal_blind_spots(make_task("reverse")).tolist() == [True] * 4 + [False] * 4
    assert causal_blind_spots(make_task("copy", offset=2)).tolist() == [True] * 2 + [False] * 6
    assert causal_blind_spots(make_task("sort")).tolist() == [True] * 7 + [False]


def test_training_batches_never_contain_held_out_sequences():
    task = make_task("brackets", length=6)  # only 20 balanced shapes x 8 typings: clashes are common
    held_inputs, _ = held_out_set(task, 50)
    batches = TrainingBatches(task, seed=0, batch_size=256, held_out=held_inputs)
    held = {row.tobytes() for row in held_inputs}
    for _ in range(3):
        inputs, targets = batches.next()
        assert not any(row.tobytes() in held for row in inputs.numpy())
        assert np.array_equal(targets.numpy(), task.answer(inputs.numpy()))


def test_a_task_with_too_few_sequences_to_hold_out_is_refused():
    task = make_task("brackets", length=2)  # "()" and "[]": both end up held out
    with pytest.raises(ValueError, match="too few distinct sequences"):
        TrainingBatches(task, seed=0, batch_size=4, held_out=held_out_set(task, 50)[0]).next()


def test_pattern_share_known_answer():
    expected = np.eye(3, dtype=bool)
    attention = np.stack([np.eye(3), np.full((3, 3), 1 / 3)])[None]  # (1, 2, 3, 3)
    assert np.allclose(pattern_share(attention, expected), [[1.0, 1 / 3]])


# --- training --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained():
    return train_task("reverse", seed=0, steps=400, **TINY)


def test_short_training_run_learns_reverse(trained):
    losses = [entry.loss for entry in trained.history]
    assert losses[-1] < 0.25 * losses[0]
    assert trained.accuracy >= 0.9  # the final held-out figure...
    assert trained.accuracy == held_out_evaluation(trained.model).sequence_accuracy  # ...is real
    assert trained.stopped_by == "target" and trained.steps < 400
    held = [e.sequence_accuracy for e in trained.history if e.sequence_accuracy is not None]
    assert held[0] < 0.5 and held[-1] == trained.accuracy
    # The attention of the held-out example was saved from the untrained model to the last step.
    snaps = trained.snapshots
    assert snaps.steps[0] == 0 and snaps.steps[-1] == trained.steps
    assert snaps.attention.shape == (len(snaps), 1, 2, 8, 8)
    assert snaps.at_step(15).step == 10 and snaps.at_step(10**6).step == trained.steps


def test_trained_model_attends_along_the_anti_diagonal(trained):
    prediction = predict_text(trained.model, "31415926")
    assert "".join(prediction.outputs) == "62951413" == "".join(prediction.expected)
    assert prediction.correct.all()
    shares = pattern_share(prediction.attention, prediction.expected_attention)  # (1, 2)
    assert shares.max() > 0.6  # far above the 1/8 of uniform attention


def test_training_is_deterministic_and_leaves_the_global_seed_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = train_task("copy", seed=3, steps=30, stop_at=None, **TINY)
    assert torch.equal(torch.rand(1), before)
    b = train_task("copy", seed=3, steps=30, stop_at=None, **TINY)
    c = train_task("copy", seed=4, steps=30, stop_at=None, **TINY)
    assert a.history == b.history
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values(),
                                                 strict=True))
    assert np.array_equal(a.snapshots.attention, b.snapshots.attention)
    assert not torch.equal(a.model.classifier.weight, c.model.classifier.weight)


def test_callback_sees_progress_and_can_stop():
    seen = []

    def callback(progress):
        seen.append(progress)
        return progress.step >= 30

    result = train_task("reverse", seed=1, steps=200, callback=callback, **TINY)
    assert result.stopped_by == "callback" and result.steps == 30
    assert [p.step for p in seen] == [10, 20, 30]
    assert seen[-1].total_steps == 200 and seen[-1].snapshot.step == 30
    assert seen[-1].snapshot.attention.shape == (1, 2, 8, 8)
    assert np.array_equal(seen[0].example_inputs, result.snapshots.example_inputs)
    assert seen[1].sequence_accuracy is not None and len(seen[-1].history) == 3
    # Step 30 was not an evaluation step, so the final model was measured after stopping.
    assert result.accuracy == held_out_evaluation(result.model).sequence_accuracy
    assert result.history[-1].sequence_accuracy == result.accuracy


def test_safetensors_round_trip(trained, tmp_path):
    path = tmp_path / "reverse.safetensors"
    save_task_model(trained.model, path)
    loaded = load_task_model(path)
    assert loaded.config == trained.model.config and loaded.task == trained.task
    for (name, x), (other, y) in zip(trained.model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert name == other and torch.equal(x, y)
    inputs, _ = held_out_set(trained.task, 20)
    for row in inputs[:3]:
        for x, y in zip(attention_of(trained.model, row), attention_of(loaded, row), strict=True):
            assert np.array_equal(x, y)
    as_bytes = tmp_path / "download.safetensors"  # what a download button would hand out
    as_bytes.write_bytes(task_model_bytes(trained.model))
    assert torch.equal(load_task_model(as_bytes).classifier.weight, trained.model.classifier.weight)
    with open(path, "rb") as handle:  # the header is JSON, and the config is readable in it
        header = json.loads(handle.read(int.from_bytes(handle.read(8), "little")))
    assert json.loads(header["__metadata__"]["encoder_config"])["d_model"] == 32


def test_loading_refuses_other_safetensors(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(2)}, str(path))
    with pytest.raises(ValueError, match="not a Headlight lab model"):
        load_task_model(path)


# --- the causal mask -------------------------------------------------------------------------

def test_causal_reverse_learns_only_the_positions_it_can_see():
    result = train_task("reverse", seed=0, steps=200, stop_at=None, causal=True,
                        settings=TrainingSettings(eval_every=200), **TINY)  # one evaluation, at the end
    assert result.config.causal
    above = np.triu(np.ones((8, 8), dtype=bool), k=1)
    assert result.snapshots.attention.shape[2:] == (2, 8, 8)
    assert (result.snapshots.attention[..., above] == 0).all()  # every snapshot, layer and head
    # Output i needs input 7 - i, hidden from the first half: chance (1 in 10) there, learned after.
    blind = causal_blind_spots(result.task)
    assert result.position_accuracy[blind].max() < 0.3
    assert result.position_accuracy[~blind].min() > 0.9
    assert result.accuracy < 0.01


def test_learning_rate_schedule():
    factors = [learning_rate_factor(step, 10, 110) for step in range(111)]
    assert factors[0] == 0.1 and factors[9] == 1.0 and factors[10] == 1.0
    assert factors[60] == pytest.approx(0.5) and factors[110] == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.diff(factors[10:]) <= 0)


def test_training_settings_are_checked():
    with pytest.raises(ValueError, match="steps"):
        TrainingSettings(steps=0)
