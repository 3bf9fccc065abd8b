"""`Model.run` hands the encoder's layers its memory directly (no hooks): the same numbers as a
capture of the same pass, and a capture around a run still sees it."""

from __future__ import annotations

import numpy as np
import torch

from encoder.capture import capture_attention, hooked, registered_hook_count


def test_a_run_registers_no_hooks(model, monkeypatch):
    registered = []

    def counting(hooks):
        hooks = list(hooks)
        registered.extend(hooks)
        return hooked(hooks)

    monkeypatch.setattr("encoder.capture.hooked", counting)
    model.run("No hooks for a plain run.")
    assert registered == [] and registered_hook_count(model.encoder) == 0


def test_a_run_equals_a_capture_of_the_same_pass(model):
    run = model.run("The buffers go straight to the layers.")
    ids = torch.tensor([run.ids])
    with torch.inference_mode(), capture_attention(model.encoder) as record:
        output = model.encoder(ids)
    np.testing.assert_array_equal(run.attentions, record.stacked_weights()[0].numpy())
    for ours, captured in zip((run.queries, run.keys, run.values), record.stacked_projections(), strict=True):
        np.testing.assert_array_equal(ours, captured[0].numpy())
    np.testing.assert_array_equal(run.hidden_states, torch.stack(output.hidden_states, 1)[0].numpy())


def test_a_capture_around_a_run_records_the_runs_own_pass(model):
    with torch.inference_mode(), capture_attention(model.encoder) as record:
        run = model.run("Seen from outside.")
    assert record.buffered == 0 and len(record.weights) == model.config.n_layers  # the run's memory, not its own
    np.testing.assert_array_equal(record.stacked_weights()[0].numpy(), run.attentions)
    np.testing.assert_array_equal(record.stacked_projections()[2][0].numpy(), run.values)
