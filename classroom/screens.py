"""The class on screen: the Streamlit side of `classroom` (issue 22).

- The teacher, in the Walk-through's lesson mode: *Start a class*; then the join code, link and
  QR code, the number who joined, the class's answers live beside the question, *End the class* and
  the answers as CSV. Every rerun of the teacher's lesson publishes its view (a no-op when nothing
  changed), so the students follow Back, Next, Reveal, the sliders and the text.
- A student, on the Join page: the code and an optional nickname; then the teacher's step (its
  question, the answer box, after the reveal the answer and whether they were right, and the step's
  main chart), one column wide enough for a phone. A small fragment polls the class's version
  number every `POLL_SECONDS` and reruns the page when it changed; *Explore on your own* opens the
  whole Walk-through at the teacher's view, and *Back to the class* returns.

The teacher token and the student id live only in each one's server-side session state.
"""

from __future__ import annotations

import io
import os
import time
from urllib.parse import quote, urlsplit

import segno
import streamlit as st

import sources
import state
import ui
from encoder import lesson as lessons
from encoder.walkthrough import walkthrough, walkthrough_unavailable
from figures import walkthrough as figures

from .protocol import ClassError, Classroom, Question, Snapshot, Student, Teacher, clean_code, normal_number
from .store import Limits, open_store

# A student's check for a change: 0.5 s kept the p95 under 2 s for 30 students (bench/classroom.py).
POLL_SECONDS = float(os.environ.get("HEADLIGHT_CLASS_POLL_SECONDS", "0.5"))
TEACHER_POLL_SECONDS = 2.0  # the teacher's count and distribution
TEACHER, STUDENT, SEEN, TRIES, AWAY = "_class_teacher", "_class_student", "_class_seen", "_class_tries", "_class_away"
JOIN_TRIES = 10  # codes one session may try per minute: a typo is fine, a scan of codes is not
MAX_ROWS = 64  # tokens a student's chart draws (the Walk-through's limit)


def _env_number(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


@st.cache_resource(show_spinner=False)
def classroom() -> Classroom:
    """One class store per server process: in memory, or Redis when HEADLIGHT_CLASS_STORE names it."""
    limits = Limits(max_classes=int(_env_number("HEADLIGHT_CLASS_MAX", 20)),
                    idle_seconds=_env_number("HEADLIGHT_CLASS_IDLE_MINUTES", 120) * 60)
    return Classroom(open_store(os.environ.get("HEADLIGHT_CLASS_STORE"), limits),
                     max_students=int(_env_number("HEADLIGHT_CLASS_STUDENTS", 60)))


def store_ready() -> bool:
    """Whether this server's class store could be set up; if not, says so (HEADLIGHT_CLASS_STORE is
    the operator's setting: its value is not echoed, it may hold a password)."""
    try:
        classroom()
    except Exception:
        st.error("Classes are not available on this server: its HEADLIGHT_CLASS_STORE setting is not "
                 "'memory' or a redis:// address.", icon=":material/error:")
        return False
    return True


def limits_text() -> str:
    room = classroom()
    return (f"At most {room.limits.max_classes} classes on this server and {room.max_students} students per class. "
            f"A class ends when the teacher ends it, or after {room.limits.idle_seconds / 60:.0f} minutes without "
            "a new step or answer.")


def guarded(action, *args):
    """Run a class action; a refusal is said in words, a store that does not answer too (no traceback)."""
    try:
        return action(*args)
    except ClassError as refusal:
        st.warning(ui.markdown_literal(str(refusal)), icon=":material/warning:")
    except Exception:  # Redis down, a timeout: the page goes on without the class
        st.error("The class store is not answering. Try again in a moment.", icon=":material/error:")
    return None


def class_question(question: lessons.Question | None) -> Question | None:
    """The lesson's question as a class answers it (numbers compared as the class normalises them)."""
    if question is None or not question.kind:
        return None
    accepted = (tuple(normal_number(a) or a for a in question.accepted) if question.kind == "number"
                else question.accepted)
    return Question(question.step, question.prompt, question.kind, question.options, accepted, question.answer,
                    question.detail)


def join_link(code: str) -> str:
    """The Join page's address on the server this page was served from, with the code."""
    parts = urlsplit(st.context.url or "")
    base = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
    return f"{base}/join?join_code={quote(code)}"


def qr_svg(text: str) -> str:
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="svg", scale=5, border=2, xmldecl=False, svgns=True)
    return buffer.getvalue().decode()


# ---------------------------------------------------------------- the teacher


def teacher() -> Teacher | None:
    return st.session_state.get(TEACHER)


def _start() -> None:
    started = guarded(classroom().start)
    if started is not None:
        st.session_state[TEACHER] = started


def _end() -> None:
    ended = st.session_state.pop(TEACHER, None)
    if ended is not None:
        guarded(classroom().end, ended)


def teach(view: dict, question: lessons.Question | None, title: str) -> Teacher | None:
    """Lesson mode's class bar: *Start a class*, or publish this view to the class and show how to
    join. Returns the teacher while a class runs."""
    if not store_ready():
        return None
    me = teacher()
    if me is None:
        st.button("Start a class", key="walkbtn_class_start", icon=":material/groups:", on_click=_start,
                  help="Students join on their phones or laptops with a code and follow your steps. " + limits_text())
        return None
    if guarded(classroom().publish, me, view, class_question(question), title) is None:
        st.session_state.pop(TEACHER, None)  # ended elsewhere or expired: said above
        return None
    link = join_link(me.code)
    with st.expander(f"Join the class: code {me.code}", expanded=True, icon=":material/qr_code_2:"):
        qr, words = st.columns([1, 3], vertical_alignment="center")
        with qr:
            st.image(qr_svg(link), width=180)
        with words:
            st.markdown(f"## `{me.code}`")
            st.markdown(f"Open **{ui.markdown_literal(link)}**, or the Join page, and type the code.")
            st.caption(limits_text())
    with st.container(horizontal=True, vertical_alignment="center", gap="medium"):
        joined_count(me.code)
        st.download_button("Answers (CSV)", data=guarded(classroom().answers_csv, me) or "",
                           file_name=f"class-{me.code}-answers.csv", mime="text/csv", key="walkbtn_class_csv",
                           icon=":material/download:", on_click="ignore",
                           help="Per step: the nickname (empty without one), the answer and whether it was right.")
        st.button("End the class", key="walkbtn_class_end", icon=":material/logout:", on_click=_end)
    return me


@st.fragment(run_every=TEACHER_POLL_SECONDS)
def joined_count(code: str) -> None:
    snapshot = guarded(classroom().snapshot, code)
    if snapshot is not None:
        st.markdown(f"**{snapshot.students}** joined · class in step", help="Updated every few seconds.")


def distribution_figure(snapshot: Snapshot, revealed: bool):
    question = snapshot.question
    counts = snapshot.distribution()
    if question.kind == "number":
        labels = sorted(counts, key=lambda label: float(label))
    else:
        labels = [label for _, label in question.options if label in counts]
    right = [question.is_right(next(v for v in snapshot.answers.values() if question.label(v) == label))
             for label in labels] if revealed else None
    return figures.answer_distribution(labels, [counts[label] for label in labels], right)


@st.fragment(run_every=TEACHER_POLL_SECONDS)
def class_answers(code: str, step: str, revealed: bool) -> None:
    """Beside the question on the projector: how many answered, and what (no names); after the
    reveal the right answers are green."""
    snapshot = guarded(classroom().snapshot, code)
    if snapshot is None or snapshot.question is None or snapshot.question.step != step:
        return
    st.metric("Answered", f"{len(snapshot.answers)} of {snapshot.students}")
    if snapshot.answers:
        ui.chart(distribution_figure(snapshot, revealed), "chart_class_answers")


# ---------------------------------------------------------------- a student


def student() -> Student | None:
    return st.session_state.get(STUDENT)


def join_form() -> None:
    st.caption("Type the code your teacher shows (or scan the QR code). A nickname is optional: without "
               "one, nothing you answer names you.")
    linked = st.session_state.get("join_code")
    if linked is not None:  # a link's value, capped like the box (a link is hostile input)
        st.session_state.join_code = str(linked)[:12]
    with st.form("join_form"):
        st.text_input("Class code", key="join_code", max_chars=12, placeholder="ABC123")
        st.text_input("Nickname (optional)", key="join_nick", max_chars=24)
        submitted = st.form_submit_button("Join", type="primary", icon=":material/login:")
    if not submitted:
        return
    now = time.monotonic()
    tries = [t for t in st.session_state.get(TRIES, []) if now - t < 60]
    st.session_state[TRIES] = [*tries, now]
    if len(tries) >= JOIN_TRIES:
        st.warning("Too many tries: wait a minute, then check the code on the projector.")
        return
    code = clean_code(st.session_state.get("join_code"))
    if not code:
        st.warning("A class code has 6 letters and digits, as the projector shows it.")
        return
    joined = guarded(classroom().join, code, st.session_state.get("join_nick"))
    if joined is not None:
        st.session_state[STUDENT] = joined
        st.session_state[SEEN] = None
        st.rerun()


@st.fragment(run_every=POLL_SECONDS)
def poll(code: str) -> None:
    """Reruns the page when the class's version changed (a number read from the store, nothing drawn)."""
    try:
        version = classroom().version(code)
    except Exception:  # the store is down: keep what is on screen, try again at the next poll
        return
    if version != st.session_state.get(SEEN):
        st.rerun()


def _leave() -> None:
    st.session_state.pop(STUDENT, None)


def follow(me: Student) -> None:
    """The teacher's step on a student's screen."""
    doc = guarded(classroom().read, me.code)
    room = classroom()
    if doc is None or not room.is_member(me, doc):
        st.info("This class has ended." if doc is None else "You are no longer in this class.",
                icon=":material/info:")
        st.button("Join another class", key="joinbtn_leave", on_click=_leave)
        return
    snapshot = room.snapshot(me.code, doc)
    show_view(me, room, snapshot, doc)
    # Seen once the whole view was drawn: a run cut short (by a rerun request, which raises inside
    # the page) leaves the old number, so the next poll draws the view again instead of half of it.
    # The poll comes last, as its first run (inside this one) compares with that number.
    st.session_state[SEEN] = snapshot.version
    poll(me.code)


def show_view(me: Student, room: Classroom, snapshot: Snapshot, doc: dict) -> None:
    who = f" as {ui.markdown_literal(me.nickname)}" if me.nickname else ""
    st.caption(f"Class {me.code}{who} · in step with the teacher")
    view = snapshot.view
    if not view:
        st.info("Waiting for the teacher to open the lesson…", icon=":material/hourglass_top:")
        return
    st.subheader(f"Step {view['index'] + 1} of {len(view['steps'])}: {lessons.STEPS[view['step']].title}")
    token = f" · token {view['token']}" if view.get("token") is not None else ""
    st.caption(f"Layer {view['layer']} · head {view['head']}{token}")
    st.text(view["text_a"] + (f"\n{view['text_b']}" if view.get("text_b") else ""))
    question = snapshot.question
    if question is not None:
        question_box(me, snapshot, question, room.my_answer(me, doc))
    if question is None or snapshot.revealed:
        main_chart(view)
    else:
        st.caption("The numbers of this step appear with the answer.")
    st.button("Explore on your own", key="joinbtn_explore", icon=":material/explore:", on_click=step_away,
              args=(view,), help="The whole Walk-through at the teacher's step; Back to the class returns here.")


def question_box(me: Student, snapshot: Snapshot, question: Question, mine: str | None) -> None:
    with st.container(border=True):
        st.markdown(f"#### {ui.markdown_literal(question.prompt)}")
        if snapshot.revealed:
            st.success(f"#### {ui.markdown_literal(question.answer)}", icon=":material/lightbulb:")
            if mine is None:
                st.info("You did not answer this one.")
            elif question.is_right(mine):
                st.success(f"You answered {ui.markdown_literal(question.label(mine))}: right!",
                           icon=":material/check_circle:")
            else:
                st.error(f"You answered {ui.markdown_literal(question.label(mine))}: not this time.",
                         icon=":material/cancel:")
            st.caption(ui.markdown_literal(question.detail))
            if snapshot.answers:
                ui.chart(distribution_figure(snapshot, True), "chart_class_student_answers")
            return
        answer_box(me, question, mine)


def answer_box(me: Student, question: Question, mine: str | None) -> None:
    values = [value for value, _ in question.options]
    with st.form(f"class_answer_{question.step}", border=False):
        if question.kind == "number":
            st.text_input("Your answer (a number)", key=f"join_answer_{question.step}", max_chars=24)
        elif len(values) <= 40:
            st.pills("Your answer", values, key=f"join_answer_{question.step}", format_func=question.label)
        else:
            st.selectbox("Your answer", values, key=f"join_answer_{question.step}", format_func=question.label,
                         index=None)
        sent = st.form_submit_button("Send", type="primary", icon=":material/send:")
    if sent:
        value = st.session_state.get(f"join_answer_{question.step}")
        if value in (None, ""):
            st.warning("Pick or type an answer first.")
        elif guarded(classroom().answer, me, question.step, str(value)) is not None:
            mine = normal_number(value) if question.kind == "number" else str(value)
    if mine is not None:
        st.caption(f"Your answer: {ui.markdown_literal(question.label(mine))}. You can change it until the "
                   "teacher reveals.")


@st.cache_resource(max_entries=8, show_spinner=False)
def _walk(source: str, text_a: str, text_b: str | None, layer: int, head: int):
    """One run and walk-through per view, shared by the whole class (30 students, one computation)."""
    model = state.get_model(source)
    if walkthrough_unavailable(model) is not None:
        return None, None
    run = state.get_run(source, text_a, text_b)
    layer, head = min(max(layer, 0), run.n_layers - 1), min(max(head, 0), run.n_heads - 1)
    return run, walkthrough(model, run, layer, head)


def main_chart(view: dict) -> None:
    refused = sources.unavailable_reason(view["model"])
    if refused:
        ui.show_problem("info", "This server cannot open the teacher's model.", refused)
        return
    try:
        run, walk = _walk(view["model"], view["text_a"], view.get("text_b"), int(view["layer"]) - 1,
                          int(view["head"]) - 1)
    except Exception:
        ui.show_problem("warning", "The teacher's text could not be run here.")
        return
    if walk is None:
        return
    ui.chart(main_figure(lessons.STEPS[view["step"]].key, run, walk), "chart_class_main")


def main_figure(key: str, run, walk):
    """The one chart of a step a phone shows (the Walk-through draws more)."""
    shown = slice(0, min(run.n_tokens, MAX_ROWS))
    rows = run.tokenized.labels[shown]
    layer, head = walk.layer + 1, walk.head + 1
    norms = lessons.token_norms
    pictures = {
        "tokens": lambda: figures.token_bars({"id": run.ids[shown]}, rows, "Tokens and their ids", "id"),
        "token_embeddings": lambda: figures.window(walk.token_embeddings[shown], rows, "Token embeddings"),
        "positions": lambda: figures.side_by_side({"token": walk.token_embeddings[shown],
                                                   "position": walk.position_embeddings[shown],
                                                   "sum": walk.summed[shown]}, rows, "token + position = sum"),
        "layer_norm": lambda: figures.token_bars(
            {"std before": lessons.row_mean_std((walk.layer_input if walk.norm_first else walk.summed)[shown])[1],
             "std after": lessons.row_mean_std((walk.attention_input if walk.norm_first
                                                else walk.embedding_output)[shown])[1]},
            rows, "Each token's spread, before and after LayerNorm", "std"),
        "qkv": lambda: figures.side_by_side({"Q": walk.queries[shown], "K": walk.keys[shown], "V": walk.values[shown]},
                                            rows, f"Q, K, V of head {head}, layer {layer}",
                                            n_columns=walk.queries.shape[1]),
        "scores": lambda: figures.scores_heatmap(walk.scores[shown, shown], rows, "Scaled scores QKᵀ/√d_k"),
        "mask": lambda: figures.mask_heatmap(walk.mask[shown, shown], rows, rows, "This text's mask"),
        "softmax": lambda: figures.weights_heatmap(walk.weights[shown, shown], rows,
                                                   f"Attention weights, layer {layer} head {head}"),
        "weighted_values": lambda: figures.signed_matrix(walk.head_output[shown], rows,
                                                         f"Head {head}'s output: weights × values"),
        "concatenated": lambda: figures.window(walk.concatenated[shown], rows, "The heads side by side"),
        "output_projection": lambda: figures.window(walk.attention_output[shown], rows, "After W_O"),
        "residual_attention": lambda: figures.token_bars(
            {"input x": norms(walk.layer_input[shown]),
             "after residual + LayerNorm": norms(walk.after_attention[shown])}, rows,
            "Vector lengths through the residual step", "length"),
        "feed_forward": lambda: figures.token_bars(
            {"active units": lessons.active_share(walk.feed_forward_hidden[shown])}, rows,
            "Share of hidden units switched on", "share", percent=True),
        "residual_feed_forward": lambda: figures.token_bars(
            {"after attention": norms(walk.after_attention[shown]), "layer output": norms(walk.layer_output[shown])},
            rows, "Vector lengths through the second residual step", "length"),
        "next_layer": lambda: figures.token_bars(
            {"turn": lessons.token_turn(walk.layer_input[shown], walk.layer_output[shown])}, rows,
            f"How far each token's vector turned in layer {layer}", "1 − cos"),
    }
    return pictures[key]()


def step_away(view: dict) -> None:
    """The whole Walk-through at the teacher's view, in this student's own session (the sliders are theirs)."""
    key = lessons.STEPS[view["step"]].key
    st.session_state.update(text=view["text_a"], pair=view.get("text_b") or "", model_source=view["model"],
                            layer=int(view["layer"]), head=int(view["head"]), walk_lesson=True,
                            walk_steps=list(view["steps"]), walk_step=int(view["index"]),
                            walk_pad_text=view.get("pad_text") or "It was tired.",
                            _walk_opened_on=(view["text_a"], view.get("text_b"), key))
    if view.get("revealed") == key:
        st.session_state.walk_revealed = key
    else:
        st.session_state.pop("walk_revealed", None)
    st.session_state[AWAY] = True  # the page switch happens in the run this click starts (join_page)


def back_to_class_bar() -> None:
    """On the Walk-through, for a student exploring on their own: one click back."""
    me = student()
    if me is None or teacher() is not None:
        return
    with st.container(border=True, horizontal=True, vertical_alignment="center"):
        st.caption(f"You are exploring on your own; class {me.code} goes on without you.")
        st.page_link("pages/join.py", label="Back to the class", icon=":material/groups:")


def join_page() -> None:
    if st.session_state.pop(AWAY, False):
        st.switch_page("pages/walkthrough.py")
    if not store_ready():
        return
    me = student()
    if me is None:
        join_form()
    else:
        follow(me)
