"""End to end: a class in step (issue 22). A teacher context and five student contexts in Chromium:
the students join by code, follow the teacher's step and head, answer, the teacher's count and
distribution include them, the reveal reaches every student, a student steps away and comes back,
and a student cannot change the class. Then the same against two replicas sharing a Redis."""

from __future__ import annotations

import contextlib
import re
import shutil
import time

import pytest

from bench.browser import MAIN, PAGES, RERUN_TIMEOUT, App, PlaywrightError, PlaywrightTimeout
from bench.classroom import redis_server

TEXT = "The animal didn't cross the street because it was too tired."
STUDENTS = 5


def main_text(app: App) -> str:
    return app.page.locator(MAIN).inner_text()


def expect_text(app: App, *texts: str, timeout: float = RERUN_TIMEOUT) -> None:
    try:
        app.page.wait_for_function(
            "([selector, texts]) => texts.every(t => document.querySelector(selector).innerText.includes(t))",
            arg=[MAIN, list(texts)], timeout=timeout)
    except PlaywrightTimeout:
        raise AssertionError(f"{texts} not shown; the page says: {main_text(app)[:2000]}") from None
    app.assert_no_exception()


def click(app: App, name: str) -> None:
    app.rerun_after(lambda: app.page.locator(MAIN).get_by_role("button", name=name).first.click(), charts=False)
    app.assert_no_exception()


def join(app: App, code: str, nickname: str) -> None:
    app.open(PAGES["join"][1], charts=False)
    app.page.get_by_label("Class code").fill(code.lower())
    app.page.get_by_label("Nickname (optional)").fill(nickname)
    click(app, "Join")


def class_in_step(make_app, teacher_base: str, student_bases: list[str], explore: bool = True) -> None:
    """The class's whole lesson; `explore`: also a student stepping away and back, trying to move the class."""
    teacher = make_app(teacher_base)
    teacher.open(PAGES["walkthrough"][1], charts=False, text=TEXT, walk_lesson="1", walk_steps="0,7",
                 walk_step="0")
    expect_text(teacher, "Step 1 of 2")
    click(teacher, "Start a class")
    expect_text(teacher, "Join the class: code", "/join?join_code=")
    code = re.search(r"code ([A-Z0-9]{6})", main_text(teacher)).group(1)
    assert teacher.page.locator(f'{MAIN} [data-testid="stImage"]').count() == 1  # the QR code

    students = []
    for number, base in enumerate(student_bases):
        student = make_app(base)
        join(student, code, f"<b>kid {number}</b>" if number else "")  # one without a nickname
        students.append(student)
    for student in students:
        expect_text(student, "Step 1 of 2: Tokens and ids", f"Class {code}")
    expect_text(students[1], "as <b>kid 1</b>")  # shown literally, never as HTML
    expect_text(teacher, f"{STUDENTS} joined")

    # The teacher moves on: every student follows the step, the head the question is about and its text.
    click(teacher, "Next")
    expect_text(teacher, "Step 2 of 2")
    teacher.wait_for_query(walk_step="1")
    layer, head = teacher.query()["layer"], teacher.query()["head"]
    prompt = re.search(r"In head \d+ of layer \d+, which other word will .* attend to most\?",
                       main_text(teacher)).group(0)
    for student in students:
        expect_text(student, "Step 2 of 2: Softmax", f"Layer {layer} · head {head}", prompt)

    # Each answers; the teacher's count and distribution include them (no names on the projector).
    options = students[0].page.locator(f'{MAIN} [data-testid="stButtonGroup"] button').all_inner_texts()
    assert len(options) >= 3, options
    chosen = [options[number % 2] for number in range(STUDENTS)]
    for number, (student, label) in enumerate(zip(students, chosen, strict=True)):
        student.page.locator(f'{MAIN} [data-testid="stButtonGroup"] button').nth(number % 2).click()
        click(student, "Send")
        expect_text(student, f"Your answer: {label}")
    expect_text(teacher, f"{STUDENTS} of {STUDENTS}")
    counts = [str(chosen.count(options[0])), str(chosen.count(options[1]))]
    chart_texts = f"[...document.querySelectorAll({MAIN + ' [data-testid=stPlotlyChart] svg text'!r})]"
    # The count is text; the chart beside it is drawn by Plotly a moment later (the assertion below
    # says what was drawn if it never is).
    with contextlib.suppress(PlaywrightError):
        teacher.page.wait_for_function(f"counts => {{ const t = {chart_texts}.map(e => e.textContent); "
                                       "return counts.every(c => t.includes(c)); }", arg=counts, timeout=30_000)
    drawn = teacher.page.locator(f"{MAIN} [data-testid='stPlotlyChart'] svg text").all_text_contents()
    assert counts[0] in drawn and counts[1] in drawn, drawn
    assert "kid" not in " ".join(drawn)

    # The reveal reaches every student, with whether they were right.
    click(teacher, "Reveal the answer")
    answer = teacher.page.locator(f"{MAIN} [data-testid='stAlertContentSuccess']").first.inner_text()
    right = re.search(r"\(position (\d+)\)", answer).group(1)
    for student, label in zip(students, chosen, strict=True):
        verdict = "right!" if label.endswith(f"({right})") else "not this time."
        expect_text(student, answer.strip(), f"You answered {label}: {verdict}")
    assert teacher.page.locator(f"{MAIN} [data-testid='stPlotlyChart']").count() >= 2  # distribution beside

    if explore:
        step_away_and_back(teacher, students, code)

    # The teacher ends the class; every student is told.
    click(teacher, "End the class")
    for student in students:
        expect_text(student, "This class has ended.")


def step_away_and_back(teacher: App, students: list[App], code: str) -> None:
    # A student steps away to explore, and comes back with one click.
    away = students[0]
    click(away, "Explore on your own")
    expect_text(away, "You are exploring on your own", "Step 2 of 2")
    # A student cannot change the class: going Back in their own lesson (the same page and buttons
    # the teacher uses, without the teacher's token) leaves the class where the teacher put it.
    click(away, "Back")
    expect_text(away, "Step 1 of 2")
    time.sleep(3)  # several polls
    for student in students[1:]:
        expect_text(student, "Step 2 of 2: Softmax")
    expect_text(teacher, "Step 2 of 2", f"code {code}")
    away.rerun_after(lambda: away.page.locator(MAIN).get_by_role("link", name="Back to the class").click(),
                     charts=False)
    expect_text(away, "Step 2 of 2: Softmax", "You answered")


def test_a_class_in_step(make_app, server):
    class_in_step(make_app, server, [server] * STUDENTS)


@pytest.fixture(scope="module")
def replicas(browser, serve, tmp_path_factory):
    """Two servers (replicas behind a proxy with session affinity) sharing one Redis."""
    if shutil.which("redis-server") is None:
        import os

        if os.environ.get("HEADLIGHT_REQUIRE_BROWSER") == "1":
            pytest.fail("redis-server is missing (apt-get install -y redis-server)")
        pytest.skip("redis-server is not installed")
    folder = tmp_path_factory.mktemp("replicas")
    with redis_server(folder) as url:
        env = {"HEADLIGHT_CLASS_STORE": url}
        with serve(folder / "one.log", env) as one, serve(folder / "two.log", env) as two:
            yield one, two


def test_a_class_in_step_across_two_replicas(make_app, replicas):
    one, two = replicas
    class_in_step(make_app, one, [one, two, two, one, two], explore=False)  # exploring is per replica
