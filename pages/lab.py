"""Lab (issue 9 §3): a small Transformer encoder (the paper's, sinusoidal positions) trained live on a
task whose right attention pattern is known: the curves and one held-out example's attention update
while it trains; afterwards a slider replays the saved snapshots and the person types a sequence.
A causal toggle trains the same task under a decoder's mask and shows which outputs it makes
impossible. The trained run lives in this person's session, never in a shared cache; the training
itself runs in the server's bounded pool of worker processes (encoder.lab.pool), so it keeps no
other visitor waiting."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

import opening
import session
import ui
from encoder import export
from encoder.lab import (
    TASKS,
    TrainingResult,
    causal_blind_spots,
    held_out_set,
    make_task,
    pattern_share,
    predict_text,
    save_task_model,
)
from encoder.lab.messages import training_spec
from encoder.lab.pool import JobStatus, PoolBusy, shared_pool
from figures import lab as figures

LAYERS, HEADS, WIDTHS = [1, 2, 3, 4], [1, 2, 4, 8], [16, 32, 64, 128]
STEPS = [10, 20, 50, 100, 200, 300, 500, 1000, 2000]
REFRESH = [10, 20, 50, 100]  # training reports progress every 10 steps (TrainingSettings.log_every)
DEFAULTS = {"lab_task": "reverse", "lab_layers": 2, "lab_heads": 4, "lab_d_model": 64, "lab_steps": 300,
            "lab_seed": 0, "lab_causal": False, "lab_refresh": 10}
FULL_PX = 1200  # about the main area's width on a 1600-pixel screen: the height of a full-width grid follows
RESULT = "_lab_result"  # this session's last TrainingResult (outside the widget prefixes: not a widget)
JOB = "_lab_job"  # (TrainingJob, settings) while this session's training waits or runs
LIVE = "_lab_live"  # the live attention figure and the snapshot step it shows
NOTICE = "_lab_notice"  # (kind, sentence[, detail]) to show once: a busy server, a failed or stopped training
POLL_SECONDS = 1.0  # how often the page asks the pool for progress while training


def chosen() -> dict:
    """The training settings the controls show."""
    return {key: st.session_state[key] for key in DEFAULTS}


def settings_of(result: TrainingResult) -> dict:
    return {"lab_task": result.task.name, "lab_layers": result.config.n_layers, "lab_heads": result.config.n_heads,
            "lab_d_model": result.config.d_model, "lab_steps": result.settings.steps, "lab_seed": result.seed,
            "lab_causal": result.config.causal, "lab_refresh": result.settings.snapshot_every}


def sequence_text(symbols: list[str]) -> str:
    return "".join(symbols)


def sequence_table(inputs: list[str], predicted: list[str], expected: list[str]) -> pd.DataFrame:
    """One column per position: the input, the prediction, the right answer and ✓ or ✗ (reads across,
    like the sequence itself)."""
    marks = ["✓" if p == e else "✗" for p, e in zip(predicted, expected, strict=True)]
    return pd.DataFrame([inputs, predicted, expected, marks], index=["input", "predicted", "right answer", "right?"],
                        columns=[str(i) for i in range(len(inputs))])


def model_file(result: TrainingResult) -> bytes:
    """The trained model as safetensors bytes (weights, config and task in the file)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "lab.safetensors"
        save_task_model(result.model, path)
        return path.read_bytes()


# ---------------------------------------------------------------- controls

opening.page_header(":material/science: Lab: a Transformer that learns in front of you",
                    "Train a small encoder from scratch on a task whose right attention pattern is known, and watch "
                    "the pattern form. Each position outputs one symbol; training stops early once 99% of held-out "
                    "sequences come out entirely right.")  # this page loads no model: it reads no run

for key, value in DEFAULTS.items():
    st.session_state.setdefault(key, value)
session.keep_valid("lab_task", list(TASKS), DEFAULTS["lab_task"])
for key, options in (("lab_layers", LAYERS), ("lab_heads", HEADS), ("lab_d_model", WIDTHS), ("lab_steps", STEPS),
                     ("lab_refresh", REFRESH)):
    session.keep_valid(key, options, DEFAULTS[key])
if not isinstance(st.session_state.lab_seed, int) or not 0 <= st.session_state.lab_seed <= 9999:
    st.session_state.lab_seed = 0

with st.container(horizontal=True, vertical_alignment="bottom", gap="medium"):
    st.selectbox("Task", list(TASKS), key="lab_task", width=170,
                 format_func=lambda name: f"{name} ({make_task(name).length} symbols)")
    st.select_slider("Layers", LAYERS, key="lab_layers", width=170)
    st.select_slider("Heads", HEADS, key="lab_heads", width=170)
    st.select_slider("d_model", WIDTHS, key="lab_d_model", width=200)
    st.select_slider("Steps", STEPS, key="lab_steps", width=300)
    st.number_input("Seed", 0, 9999, key="lab_seed", step=1, width=130)
    st.select_slider("Refresh every", REFRESH, key="lab_refresh", width=200, format_func=lambda n: f"{n} steps",
                     help="How often the heatmap is redrawn while training, and how often a snapshot is kept for "
                          "the replay slider.")
    st.toggle("Causal mask", key="lab_causal",
              help="Train with a decoder's mask: position i may only look at positions 0..i.")

task = make_task(st.session_state.lab_task)
st.info(f"**{task.name}**: {task.summary}  \n**The attention that solves it:** {task.pattern}",
        icon=":material/target:")
train_clicked = st.button("Train", key="labbtn_train", type="primary", icon=":material/play_arrow:")


# ---------------------------------------------------------------- training, live
# Training runs in the server's pool of worker processes (encoder.lab.pool), never in this
# session's thread: a fragment polls this session's job and redraws the progress it reports.


def spec_of(settings: dict) -> dict:
    return training_spec(settings["lab_task"], seed=settings["lab_seed"], n_layers=settings["lab_layers"],
                         n_heads=settings["lab_heads"], d_model=settings["lab_d_model"], steps=settings["lab_steps"],
                         causal=settings["lab_causal"], snapshot_every=settings["lab_refresh"])


def start_training(settings: dict) -> None:
    """Queue a training with these settings in place of this session's last one (a busy server
    says so, in a sentence)."""
    forget_job()
    st.session_state.pop(RESULT, None)
    try:
        st.session_state[JOB] = (shared_pool().submit(spec_of(settings)), settings)
    except PoolBusy as busy:
        st.session_state[NOTICE] = ("warning", str(busy))


def forget_job() -> None:
    held = st.session_state.pop(JOB, None)
    st.session_state.pop(LIVE, None)
    if held is not None:
        held[0].cancel()


def stop_job() -> None:
    st.session_state[JOB][0].stop()


def finish(status: JobStatus) -> None:
    """Keep a finished run (also one stopped early) as this session's result, or say why there is none."""
    forget_job()
    if status.state == "done":
        result = status.result
        st.session_state[RESULT] = result
        st.session_state.lab_step = int(result.snapshots.steps[-1])
        st.session_state.lab_sequence = sequence_text(result.task.decode_inputs(result.snapshots.example_inputs))
    elif status.state == "failed":
        st.session_state[NOTICE] = ("error", "The training failed.", status.error)
    else:
        st.session_state[NOTICE] = ("info", "Stopped before it started.")


def draw_progress(progress, settings: dict) -> None:
    """The progress bar, the curves and the held-out example's attention as the worker last reported."""
    run_task = make_task(settings["lab_task"])
    labels = run_task.decode_inputs(progress.example_inputs)
    expected = run_task.expected_attention(progress.example_inputs[None])[0]  # (T, T)
    held_out = "—" if progress.sequence_accuracy is None else f"{progress.sequence_accuracy:.0%}"
    st.progress(progress.step / progress.total_steps,
                text=f"Step {progress.step} of {progress.total_steps} · loss {progress.loss:.3f} · "
                     f"held-out sequences right {held_out}")
    history = progress.history
    evaluated = [e for e in history if e.sequence_accuracy is not None]
    st.plotly_chart(figures.training_curves(
        [e.step for e in history], [e.loss for e in history], [e.token_accuracy for e in history],
        [e.step for e in evaluated], [e.sequence_accuracy for e in evaluated], progress.total_steps,
        "Training, live"), key="labchart_live_curves", width="stretch")
    snapshot = progress.snapshot
    if snapshot is not None:
        st.plotly_chart(live_grid(snapshot, labels, expected, settings["lab_causal"]), key="labchart_live_grid",
                        width="stretch")


def live_grid(snapshot, labels: list[str], expected: np.ndarray, causal: bool):
    """The attention grid of the latest snapshot: built once per training, then updated in place
    (building one costs the server half a second, updating it 10 ms)."""
    title = f"Held-out example {sequence_text(labels)} after {snapshot.step} steps"
    shares = pattern_share(snapshot.attention, expected)
    live = st.session_state.get(LIVE)
    if live is None:
        live = {"figure": figures.attention_grid(snapshot.attention, labels, title, expected=expected, causal=causal,
                                                 shares=shares, width_px=FULL_PX), "step": snapshot.step}
        st.session_state[LIVE] = live
    elif live["step"] != snapshot.step:
        figures.update_attention_grid(live["figure"], snapshot.attention, title, expected=True, causal=causal,
                                      shares=shares)
        live["step"] = snapshot.step
    return live["figure"]


@st.fragment(run_every=POLL_SECONDS)
def training_panel() -> None:
    held = st.session_state.get(JOB)
    if held is None:
        return
    job, settings = held
    status = job.status()
    if status.state not in ("waiting", "running"):
        finish(status)
        st.rerun()  # the whole page: the result, or the message, below the controls
    if status.state == "waiting":
        st.info(f"Waiting, {status.ahead} ahead of you. This server trains a few models at a time, in "
                "the background, so that everyone's pages stay quick; yours starts as soon as a place is free.",
                icon=":material/hourglass_top:")
    elif status.progress is None:
        st.progress(0.0, text="Starting…")
    else:
        draw_progress(status.progress, settings)
    st.button("Stop", key="labbtn_stop", on_click=stop_job, icon=":material/stop:",
              help="A waiting training leaves the queue; a running one stops within ten steps and keeps what "
                   "it learnt so far.")


if train_clicked:
    start_training(chosen())
notice = st.session_state.pop(NOTICE, None)
if notice is not None:
    ui.show_problem(*notice)
if JOB in st.session_state:
    training_panel()

result: TrainingResult | None = st.session_state.get(RESULT)
if result is None:
    held_inputs, _ = held_out_set(task)
    labels = task.decode_inputs(held_inputs[0])
    left, right = st.columns([2, 3], gap="large")
    with left:
        ui.chart(figures.expected_pattern(task.expected_attention(held_inputs[:1])[0], labels,
                                          f"What to look for on {sequence_text(labels)}",
                                          causal=st.session_state.lab_causal), "labchart_expected_before")
    with right:
        st.markdown("**Before you press Train:** on this held-out example, the dark cells are the keys each output "
                    "needs. Predict which head will learn them, and how many steps it will take.")
        if st.session_state.lab_causal:
            st.markdown("With the causal mask, grey cells are hidden from the query; red cells are needed but "
                        "hidden: those outputs can only guess.")
    st.stop()

# ---------------------------------------------------------------- after training

task = result.task
snapshots = result.snapshots
labels = task.decode_inputs(snapshots.example_inputs)
expected = task.expected_attention(snapshots.example_inputs[None])[0]  # (T, T)
causal = result.config.causal
if settings_of(result) != chosen():
    st.info("The results below are from the last training, with other settings. Press **Train** to train with "
            "these.", icon=":material/history:")

with st.container(horizontal=True):
    st.metric("Held-out sequences right", f"{result.accuracy:.1%}",
              help="Share of the 1,000 held-out sequences whose every output is right.")
    stop_reason = {"target": "reached 99%", "steps": "all steps made", "callback": "stopped"}[result.stopped_by]
    st.metric("Steps", f"{result.steps} of {result.settings.steps}", stop_reason, delta_color="off",
              delta_arrow="off")
    st.metric("Training time", f"{result.seconds:.1f} s")
    st.metric("95% first reached at step", "not reached" if result.reached_at is None else str(result.reached_at))
    st.download_button("Model (.safetensors)", lambda: model_file(result), f"lab-{task.name}.safetensors",
                       "application/octet-stream", key="dl_lab_model", on_click="ignore", icon=":material/download:",
                       help="Weights, config and task in one safetensors file: encoder.lab.load_task_model reads it.")
history = result.history
evaluated = [e for e in history if e.sequence_accuracy is not None]
curves = figures.training_curves([e.step for e in history], [e.loss for e in history],
                                 [e.token_accuracy for e in history], [e.step for e in evaluated],
                                 [e.sequence_accuracy for e in evaluated], result.settings.steps,
                                 f"{task.name}{' (causal)' if causal else ''}: training")
ui.chart(curves, "labchart_curves")

st.subheader("Replay: how the pattern formed")
steps = [int(s) for s in snapshots.steps]
session.keep_valid("lab_step", steps, steps[-1])
st.select_slider("Training step", steps, key="lab_step",
                 help="The model as it was after this many steps, on the same held-out example.")
snapshot = snapshots.at_step(st.session_state.lab_step)
grid_column, expected_column = st.columns([3, 1], gap="medium")
with grid_column:
    grid = figures.attention_grid(snapshot.attention, labels,
                                  f"Held-out example {sequence_text(labels)} after {snapshot.step} steps",
                                  expected=expected, causal=causal, shares=pattern_share(snapshot.attention, expected))
    ui.chart(grid, "labchart_grid",
             "Each row of a heatmap is an output position (query), each column an input position (key). Red squares "
             "mark the keys the task needs; '% on target' is the share of a head's weight that lands on them."
             + (" Grey: hidden by the causal mask." if causal else ""))
    predicted = task.decode_outputs(snapshot.prediction)
    target = task.decode_outputs(snapshots.example_targets)
    st.markdown(f"**The example after {snapshot.step} steps**")
    st.dataframe(sequence_table(labels, predicted, target), width="content")
with expected_column:
    st.markdown(f"**Expected pattern ({task.name})**")
    st.markdown(task.pattern)
    expected_figure = figures.expected_pattern(expected, labels, "Keys each output needs", causal=causal, height=400)
    ui.chart(expected_figure, "labchart_expected")

st.subheader("Accuracy at each position")
blind = causal_blind_spots(task) if causal else np.zeros(task.length, dtype=bool)
accuracy = figures.position_accuracy(result.position_accuracy, blind, 1.0 / task.n_classes,
                                     "Held-out outputs right, position by position")
ui.chart(accuracy, "labchart_positions")
if causal and blind.any():
    where = ", ".join(str(i) for i in np.flatnonzero(blind))
    st.markdown(f"**Why a causal model fails here.** The mask lets output *i* look only at inputs 0 to *i*. For "
                f"{task.name}, outputs at positions {where} (red) can need a symbol that comes later, in the grey, "
                "masked triangle of the heatmaps: the red cells of the expected pattern. No training can reach "
                "them, so those positions stay near guessing (dashed line) while the others are learned. A "
                "decoder gets round this by reading the whole input before it starts writing.")
elif causal:
    st.markdown(f"Every output of {task.name} needs only symbols at or before its own position, so the causal "
                "mask hides nothing it needs.")
else:
    st.caption("Switch on **Causal mask** and train again: positions whose answer lies later in the sequence "
               "turn red and stay near guessing.")

# The trained run's exports: every head's attention at the replayed step in long format (layers and heads
# from 1), and every figure above in one file. The weights themselves are the Model download above.
ui.export_buttons(f"lab-{task.name}-step-{snapshot.step}",
                  lambda: export.attention_long_csv(snapshot.attention, labels, labels),
                  lambda: figures.results_figure(curves, grid, expected_figure, accuracy,
                                                 f"Lab: {task.name}{' (causal)' if causal else ''}, "
                                                 f"after {snapshot.step} steps"), {})

st.subheader("Try your own sequence")
symbols = " ".join(task.input_symbols)
st.text_input(f"A sequence of {task.length} symbols from {symbols}", key="lab_sequence", max_chars=4 * task.length,
              width=420)
try:
    prediction = predict_text(result.model, st.session_state.get("lab_sequence", ""))
except ValueError as error:
    ui.show_problem("warning", "The model cannot read this sequence.", str(error))
    st.stop()
st.dataframe(sequence_table(prediction.inputs, prediction.outputs, prediction.expected), width="content")
ui.chart(figures.attention_grid(prediction.attention, prediction.inputs, "Your sequence: every head's attention",
                                expected=prediction.expected_attention, causal=causal,
                                shares=pattern_share(prediction.attention, prediction.expected_attention),
                                width_px=FULL_PX), "labchart_own")
