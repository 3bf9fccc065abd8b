"""Walk-through: the typed text followed through one encoder layer, stage by stage, in the order a
course teaches it (issue 9 §1), with every stage's real numbers; and Lesson mode, the same stages
one per screen with a question to the class and its answer read from the live numbers."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import opening
import selection
import session
import state
import ui
from classroom import screens as classroom
from encoder import export, geometry
from encoder import lesson as lessons
from encoder.analysis import head_statistics
from encoder.attention_view import window_span
from encoder.positional import decompose_input, sinusoidal_table
from encoder.walkthrough import walkthrough, walkthrough_unavailable
from figures import embeddings as embedding_figures
from figures import walkthrough as figures
from figures.attention import WINDOW_DEFAULT
from figures.common import WINDOW_TOKENS, token_name
from figures.compose import compose

PAD_COLUMNS = 24  # positions drawn of a long padded batch (stage 7): every one labelled in a narrow column
PAD_SHOWN = 6  # of which [PAD] positions after the shorter text's end
NARROW_MASK_TOKENS = 16  # up to here the mask fits a third of the page, beside the padded batch
PADDING_DEFAULT = "It was tired."


def literal(text: str) -> str:
    return ui.markdown_literal(text)


# ---------------------------------------------------------------- the session's choices

opening.page_header(":material/school: Walk-through",
                    "Follow your text through one layer of the encoder, one stage at a time, with the real numbers at "
                    "each stage. Pick the layer and the head; *Lesson mode* shows one stage per screen with a "
                    "question to the class.")
model = opening.page_model()
classroom.back_to_class_bar()  # a student exploring on their own
if (why := walkthrough_unavailable(model)) is not None:  # said before the text is run
    st.info(ui.markdown_literal(why), icon=":material/info:")
    st.stop()
run = opening.page_run()

selection.clamp(run.n_layers, run.n_heads, one_head=True)
all_steps = list(range(len(lessons.STEPS)))
chosen = [s for s in st.session_state.get("walk_steps") or [] if s in all_steps]
st.session_state.walk_steps = sorted(set(chosen)) if chosen else all_steps
session.keep_valid("walk_step", list(range(len(st.session_state.walk_steps))), 0)
st.session_state.setdefault("walk_pad_text", PADDING_DEFAULT)


def open_on_question_head() -> None:
    """Lesson mode: arriving at a step whose question is about one head (from Back/Next, or a fresh
    link) selects that head, so the question and the stage's numbers are about the same head (and on a
    long text, follows the word the softmax question asks about); the sliders stay free afterwards."""
    steps = st.session_state.walk_steps
    key = lessons.STEPS[steps[min(st.session_state.get("walk_step", 0), len(steps) - 1)]].key
    arrival = (run.text_a, run.text_b, key)
    if st.session_state.get("_walk_opened_on") == arrival:
        return
    st.session_state["_walk_opened_on"] = arrival
    target = lessons.question_heads(run.tokenized.labels, run.special, run.attentions, head_statistics(run)).get(key)
    if target is not None:
        selection.choose(*target)
    if key == "softmax" and run.n_tokens > WINDOW_TOKENS:  # a long text: the window goes round the word asked about
        query = lessons.attention_query(run.tokenized.labels, run.special, run.attentions)
        if query is not None:
            st.session_state.att_follow = query


if st.session_state.get("walk_lesson"):
    open_on_question_head()

with st.container(horizontal=True, vertical_alignment="bottom", gap="medium"):
    st.select_slider("Layer", options=range(1, run.n_layers + 1), key="layer", width=260)
    st.select_slider("Head", options=range(1, run.n_heads + 1), key="head", width=320)
    lesson_mode = st.toggle("Lesson mode", key="walk_lesson",
                            help="One stage per screen with Back and Next; at some stages a question for the class, "
                                 "answered from this text's numbers when you press Reveal.")
layer, head = selection.layer_and_head()
walk = walkthrough(model, run, layer, head)
labels = run.tokenized.labels
# A long text is drawn as a labelled window around the token every page follows (the Attention page's,
# with its window size, at most the WINDOW_TOKENS whose labels fit at 1280 px); a short one whole.
followed = selection.followed_token(run)
size = min(st.session_state.get("att_window") or WINDOW_DEFAULT, WINDOW_TOKENS)
first, end = window_span(run.n_tokens, followed, size)  # [first, end): the tokens drawn
shown = slice(first, end)
rows = labels[shown]
windowed = end - first < run.n_tokens
facts = lessons.facts(walk, run.n_layers, model.config.causal, model.config.activation)
if windowed:
    with st.container(horizontal=True, vertical_alignment="bottom", gap="medium"):
        st.selectbox("Followed token", range(run.n_tokens), key="att_follow", width=260,
                     format_func=lambda i: f"{labels[i]} ·{i}",
                     help="The token the pages follow (the Attention page's): each stage draws the tokens around it.")
        st.caption(f"The text has {run.n_tokens} tokens: each stage draws the {end - first} around "
                   f"{ui.markdown_literal(token_name(labels[followed], followed))} (positions {first}–{end - 1}), "
                   "every one labelled. Rows of a window hold only its keys, so they need not sum to 1.")
drawn: list[list[go.Figure]] = []  # every figure of the page, a list per row: what the export composes


def draw(fig: go.Figure, key: str, caption: str | None = None) -> None:
    """`ui.chart`, remembering the figure for the export."""
    drawn.append([fig])
    ui.chart(fig, key, caption)


def padding_demo():
    """The padded batch of the typed text and a second, shorter one (stage 7's text box)."""
    second = st.session_state.get("walk_pad_text", "").strip() or PADDING_DEFAULT
    return state.get_padding_demo(session.current_input().source, run.tokenized.text_a, second, layer, head)


# ---------------------------------------------------------------- one function per stage


def beside(left: tuple, right: tuple) -> None:
    """Two charts in a row, each given as `ui.chart`'s arguments: a matrix on the wider left, and on
    the right what it means per token (one bar each, a token a line)."""
    drawn.append([left[0], right[0]])
    left_column, right_column = st.columns([3, 2])
    with left_column:
        ui.chart(*left)
    with right_column:
        ui.chart(*right)


def bars(series: dict, title: str, value_title: str, percent: bool = False, across: bool = False):
    """`figures.token_bars` of the drawn tokens; `across` for a narrow column."""
    return figures.token_bars(series, rows, title, value_title, percent=percent, start=first, across=across)


def show_tokens() -> None:
    table = pd.DataFrame({"position": range(run.n_tokens), "token": labels, "id": run.ids})
    if run.is_pair:
        table["sentence"] = ["A" if s == 0 else "B" for s in run.segment_ids]
    if run.n_tokens <= 24:  # few tokens: one column per token reads like the sentence
        st.dataframe(table.set_index("position").T.astype(str))
    else:
        st.dataframe(table, hide_index=True, height=300)


def show_token_embeddings() -> None:
    beside((figures.window(walk.token_embeddings[shown], rows, "Token embeddings", start=first), "chart_walk_token"),
           (bars({"length": lessons.token_norms(walk.token_embeddings[shown])}, "Length of each token's vector",
                 "‖token embedding‖", across=True), "chart_walk_token_len"))


def show_positions() -> None:
    parts = {"token": walk.token_embeddings, "position": walk.position_embeddings}
    if walk.segment_embeddings is not None:
        parts["segment"] = walk.segment_embeddings
    parts["sum"] = walk.summed
    title = f"{' + '.join(list(parts)[:-1])} = sum (first {figures.WINDOW_DIMENSIONS} dimensions)"
    draw(figures.side_by_side({k: v[shown] for k, v in parts.items()}, rows, title, start=first),
         "chart_walk_positions", "One colour scale for all: the sum is the cell-by-cell addition of the others.")


def show_layer_norm() -> None:
    after = walk.attention_input if walk.norm_first else walk.embedding_output
    before = walk.layer_input if walk.norm_first else walk.summed
    mean_before, std_before = lessons.row_mean_std(before[shown])
    mean_after, std_after = lessons.row_mean_std(after[shown])
    beside((figures.side_by_side({"before": before[shown], "after LayerNorm": after[shown]}, rows,
                                 "Before and after LayerNorm", start=first), "chart_walk_ln"),
           (bars({"std before": std_before, "std after": std_after, "mean after": mean_after},
                 "Each token's spread, before and after", "value", across=True), "chart_walk_ln_std",
            f"Before: means {mean_before.min():.2f} to {mean_before.max():.2f}. After, the learned scale and "
            "shift move mean and spread away from exactly 0 and 1."))
    if not walk.norm_first and layer > 0:
        st.caption(f"This LayerNorm belongs to the embeddings. Layer {layer + 1}'s input is layer {layer}'s output, "
                   "which ends with a LayerNorm of its own (stage 14).")


def show_qkv() -> None:
    d_head = walk.queries.shape[1]
    draw(figures.side_by_side({"Q": walk.queries[shown], "K": walk.keys[shown], "V": walk.values[shown]}, rows,
                              f"Queries, keys and values of head {head + 1}, layer {layer + 1}", n_columns=d_head,
                              start=first),
         "chart_walk_qkv", f"Each is {run.n_tokens} tokens × d_k = {d_head} numbers. Hover for exact values.")


def show_scores() -> None:
    draw(figures.scores_heatmap(walk.scores[shown, shown], rows, "Scaled scores QKᵀ/√d_k", start=first),
         "chart_walk_scores",
             f"Scores run from {walk.scores.min():.1f} to {walk.scores.max():.1f}; a lead of a few units becomes "
             "most of the weight after the softmax.")


def show_mask() -> None:
    # A few tokens: the mask beside the padded batch; more: one under the other, so that the mask's
    # key labels keep the page's width.
    left, right = st.columns([2, 3]) if len(rows) <= NARROW_MASK_TOKENS else (st.container(), st.container())
    with left:
        mask = figures.mask_heatmap(walk.mask[shown, shown], rows, rows, "This text's mask", start=first)
        ui.chart(mask, "chart_walk_mask", f"{int(walk.mask.sum())} of {walk.mask.size} query–key pairs are allowed.")
    with right:
        st.text_input("Second text for the padded batch", key="walk_pad_text", max_chars=300,
                      help="Batched with your text; the shorter one is padded with [PAD] to the longer's length.")
        demo = padding_demo()
        short = int(demo.attention_mask.sum(axis=1).argmin())
        # A long batch: the positions around the shorter text's end, where its [PAD] columns begin.
        length, real = demo.attention_mask.shape[1], int(demo.attention_mask[short].sum())
        low = max(0, min(real - (PAD_COLUMNS - PAD_SHOWN), length - PAD_COLUMNS))
        cut = slice(low, min(length, low + PAD_COLUMNS))
        strip = figures.padding_mask_strip(demo.attention_mask[:, cut], [t[cut] for t in demo.tokens], start=low)
        ui.chart(strip, "chart_walk_padding_mask")
        padded = figures.weights_heatmap(demo.weights[short][cut, cut], demo.tokens[short][cut],
                                         f"Text {short + 1}'s attention inside the batch", start=low)
        ui.chart(padded, "chart_walk_padding", "Every [PAD] column is exactly 0. The [PAD] rows are computed too, "
                                               "and thrown away."
                 + (f" Positions {cut.start}–{cut.stop - 1} of {length} are drawn." if length > PAD_COLUMNS else ""))
        drawn.extend([[mask, strip], [padded]] if len(rows) <= NARROW_MASK_TOKENS else [[mask], [strip], [padded]])
        a, b = (int(m.sum()) for m in demo.attention_mask)
        with st.container(horizontal=True):
            st.metric("Tokens", f"{a} and {b}", help="Real tokens of each text; the shorter is padded.")
            st.metric("Largest weight on a [PAD] key", f"{demo.padded_key_weight:g}")
            st.metric("Real tokens: batch vs alone", f"{demo.max_difference:.1e}",
                      help="The largest difference between a real token's weights in the batch and run alone.")
        if a == b:
            st.caption("Both texts have the same length, so nothing is padded: make the second one shorter.")


def show_softmax() -> None:
    draw(figures.weights_heatmap(walk.weights[shown, shown], rows, f"Attention weights, layer {layer + 1} "
                                 f"head {head + 1}", start=first), "chart_walk_softmax",
         ("Each whole row sums to 1; the window shows only its own keys. " if windowed else "Each row sums to 1. ")
         + "These are the same numbers the Attention page draws for this head.")


def show_weighted_values() -> None:
    draw(figures.signed_matrix(walk.head_output[shown], rows, f"Head {head + 1}'s output: weights × values",
                               start=first), "chart_walk_head_output")


def show_concatenated() -> None:
    d_head = walk.queries.shape[1]
    start, stop = lessons.concatenated_window(run.n_heads, d_head, head)
    boundaries = [b - 0.5 for b in range(start + d_head, stop, d_head)]
    title = f"The heads side by side: columns {start}–{stop - 1} of {walk.concatenated.shape[1]}"
    draw(figures.signed_matrix(walk.concatenated[shown, start:stop], rows, title,
                               columns=range(start, stop), boundaries=boundaries,
                               highlight=(head * d_head - 0.5, (head + 1) * d_head - 0.5), start=first),
         "chart_walk_concat", f"The outlined block is head {head + 1} (the weighted values above); lines separate "
                                  "the neighbouring heads.")


def show_output_projection() -> None:
    beside((figures.window(walk.attention_output[shown], rows, "After W_O", start=first), "chart_walk_wo"),
           (bars({"concatenated heads": lessons.token_norms(walk.concatenated[shown]),
                  "after W_O": lessons.token_norms(walk.attention_output[shown])}, "Vector lengths", "length",
                 across=True), "chart_walk_wo_len"))


def show_residual_attention() -> None:
    draw(bars({"input x": lessons.token_norms(walk.layer_input[shown]),
               "attention's contribution": lessons.token_norms(walk.attention_output[shown]),
               "after residual + LayerNorm": lessons.token_norms(walk.after_attention[shown])},
              "Vector lengths through the residual step", "length"), "chart_walk_res1",
         "The input and attention's contribution are summed, then normalised.")


def show_feed_forward() -> None:
    beside((figures.window(walk.feed_forward_hidden[shown], rows, "Feed-forward hidden units", start=first),
            "chart_walk_ffh"),
           (bars({"active units": lessons.active_share(walk.feed_forward_hidden[shown])},
                 f"Share of the {walk.feed_forward_hidden.shape[1]} hidden units switched on", "share", percent=True,
                 across=True), "chart_walk_ff_active"))


def show_residual_feed_forward() -> None:
    draw(bars({"after attention": lessons.token_norms(walk.after_attention[shown]),
               "feed-forward output": lessons.token_norms(walk.feed_forward_output[shown]),
               "layer output": lessons.token_norms(walk.layer_output[shown])},
              "Vector lengths through the second residual step", "length"), "chart_walk_res2")
    st.metric("Recomposed vs the model's own output", f"{walk.recomposition_error:.1e}",
              help="The largest difference between the layer's output recomputed here stage by stage and the "
                   "hidden state the encoder produced: the stages are the whole layer.")


def next_layer() -> None:
    st.session_state.layer = min(st.session_state.layer + 1, run.n_layers)


def show_next_layer() -> None:
    draw(bars({"turn": lessons.token_turn(walk.layer_input[shown], walk.layer_output[shown])},
              f"How far each token's vector turned in layer {layer + 1} (1 − cosine)", "1 − cos"), "chart_walk_turn")
    if layer + 1 < run.n_layers:
        st.button(f"Continue with layer {layer + 2}", key="walkbtn_next_layer", on_click=next_layer,
                  icon=":material/arrow_downward:")


STAGES = {"tokens": show_tokens, "token_embeddings": show_token_embeddings, "positions": show_positions,
          "layer_norm": show_layer_norm, "qkv": show_qkv, "scores": show_scores, "mask": show_mask,
          "softmax": show_softmax, "weighted_values": show_weighted_values, "concatenated": show_concatenated,
          "output_projection": show_output_projection, "residual_attention": show_residual_attention,
          "feed_forward": show_feed_forward, "residual_feed_forward": show_residual_feed_forward,
          "next_layer": show_next_layer}


def show_heading(number: int) -> None:
    step = lessons.STEPS[number]
    st.subheader(f"{number + 1}. {step.title}")
    st.markdown(lessons.explanation(step.key, facts))


def show_stage(number: int) -> None:
    show_heading(number)
    STAGES[lessons.STEPS[number].key]()


# ---------------------------------------------------------------- the whole walk-through


def show_overview() -> None:
    """The head's attention (the window of tokens, full width: its key labels need it), then where the
    tokens sit (PCA) beside how much of each input vector is position (a token a line)."""
    parts = decompose_input(run.token_embeddings, run.position_embeddings, run.segment_embeddings)
    attention = figures.weights_heatmap(run.attentions[layer, head][shown, shown], rows,
                                        f"Attention, layer {layer + 1} head {head + 1}", start=first)
    draw(attention, "chart_walk_overview_attention")
    scatter = embedding_figures.depth_scatter(run, geometry.depth_projection(run, geometry.TOKEN_EMBEDDING),
                                              geometry.TOKEN_EMBEDDING)
    position = bars({"position": parts.shares[shown, parts.names.index("position")]},
                    "Share of each input vector that is position", "share of ‖·‖²", percent=True, across=True)
    drawn.append([scatter, position])
    columns = st.columns(2)
    with columns[0]:
        ui.chart(scatter, "chart_walk_overview_pca")
    with columns[1]:
        ui.chart(position, "chart_walk_overview_position",
                 "Squared length of the position vector over the sum of the parts' squared lengths.")
    st.caption(f"Stages 1–14 recompose layer {layer + 1}'s output from the weights to within "
               f"{walk.recomposition_error:.1e} of what the model computed.")


def show_export() -> None:
    """Every chart of the walk-through in one file (the figure composed as the page draws it), the head's
    attention over the whole text in long format, and the run."""
    title = f"Walk-through of layer {layer + 1}, head {head + 1}: {run.model_name}"
    export_name = f"walkthrough-layer-{layer + 1}-head-{head + 1}"
    ui.export_buttons(export_name, lambda: export.attention_long_csv(run.attentions[layer, head], run.tokens,
                                                                      run.tokens, layers=[layer], heads=[head]),
                      lambda: compose(drawn, title), {"": run})


# ---------------------------------------------------------------- lesson mode


def position_table():
    if model.config.positions == "learned":
        return model.learned_position_table()
    if model.config.positions == "sinusoidal":
        return sinusoidal_table(min(model.config.max_positions, 512), model.config.d_model)
    return None  # rotary positions have no table of vectors


def go_to(index: int) -> None:
    st.session_state.walk_step = index
    st.session_state.pop("walk_revealed", None)


def reveal(key: str) -> None:
    st.session_state.walk_revealed = key


def class_view(steps: list[int], index: int, number: int, revealed: bool) -> dict:
    """What a class in step follows: the step, the text, the model, the layer, the head, the token."""
    return {"steps": list(steps), "index": index, "step": number, "text_a": run.text_a, "text_b": run.text_b,
            "model": session.current_input().source, "layer": layer + 1, "head": head + 1,
            "token": st.session_state.get("att_follow"), "pad_text": st.session_state.get("walk_pad_text"),
            "revealed": lessons.STEPS[number].key if revealed else None}


def show_lesson() -> None:
    with st.expander("Prepare the lesson", icon=":material/edit_note:"):
        st.multiselect("Steps of this lesson", all_steps, key="walk_steps", on_change=go_to, args=(0,),
                       format_func=lambda i: f"{i + 1}. {lessons.STEPS[i].title}")
        st.caption("Pick the text in the sidebar, the layer, the head and the steps. The address bar now holds "
                   "the whole lesson (text, layer, head, steps and the current step): copy it to share.")
    steps = st.session_state.walk_steps or all_steps
    index = min(st.session_state.get("walk_step", 0), len(steps) - 1)
    with st.container(horizontal=True, vertical_alignment="center", gap="medium"):
        st.button("Back", key="walkbtn_back", icon=":material/arrow_back:", disabled=index == 0,
                  on_click=go_to, args=(index - 1,))
        st.progress((index + 1) / len(steps), text=f"Step {index + 1} of {len(steps)}")
        st.button("Next", key="walkbtn_next", icon=":material/arrow_forward:", disabled=index == len(steps) - 1,
                  on_click=go_to, args=(index + 1,))
    number = steps[index]
    key = lessons.STEPS[number].key
    demo = padding_demo() if key == "mask" else None
    questions = lessons.lesson_questions(labels, run.special, walk, head_statistics(run), position_table(),
                                         demo.padded_key_weight if demo else None, attentions=run.attentions)
    question = questions.get(key)
    revealed = st.session_state.get("walk_revealed") == key
    in_class = classroom.teach(class_view(steps, index, number, revealed), question, lessons.STEPS[number].title)
    show_heading(number)
    if question is not None:  # asked before the numbers are shown: predict, then reveal
        with st.container(border=True):
            asked, answers = st.columns([3, 2]) if in_class else (st.container(), None)
            with asked:
                st.caption("Ask the class")
                st.markdown(f"#### {literal(question.prompt)}")  # large enough to read from the back of a room
                if revealed:
                    st.success(f"#### {literal(question.answer)}", icon=":material/lightbulb:")
                    st.caption(literal(question.detail))
                else:
                    st.button("Reveal the answer", key="walkbtn_reveal", type="primary",
                              icon=":material/visibility:", on_click=reveal, args=(key,))
            if answers is not None:  # the class's answers, live, and beside the answer after the reveal
                with answers:
                    classroom.class_answers(in_class.code, key, revealed)
    if question is None or st.session_state.get("walk_revealed") == key:
        STAGES[key]()
    else:
        st.caption("The numbers of this stage appear with the answer.")


if lesson_mode:
    show_lesson()
else:
    show_overview()
    for number in all_steps:
        show_stage(number)
    show_export()
