"""The class store and protocol (issue 22): both stores, authority, limits, expiry, hostile input.

The Redis tests start Debian's redis-server on a free loopback port in a temporary folder (no
persistence); without redis-server they are skipped, unless HEADLIGHT_REQUIRE_BROWSER=1 (as CI
sets) makes that a failure.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import time

import pytest

from bench.app_server import free_port
from classroom import protocol
from classroom.protocol import ClassError, Classroom, NotFound, NotTeacher, Question, RateLimited, Teacher
from classroom.store import ClassFull, Limits, MemoryStore, RedisStore, TooLarge, open_store

QUESTION = Question("softmax", "Which word?", "token", (("1", "“a” (1)"), ("2", "“=b” (2)"), ("3", "“c” (3)")),
                    ("2",), "“=b” (position 2)")
VIEW = {"step": 7, "text_a": "a b c", "text_b": "", "model": "bundled", "layer": 2, "head": 3, "token": None,
        "revealed": None}


def start_redis(tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("HEADLIGHT_REQUIRE_BROWSER") == "1":
            pytest.fail("redis-server is missing (apt-get install -y redis-server); CI requires it")
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    port = free_port()
    process = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
                                "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return process, f"redis://127.0.0.1:{port}/0"


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    process, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    process.terminate()
    process.wait(10)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture(params=["memory", "redis"])
def make_store(request):
    def make(limits: Limits | None = None, prefix: str | None = None):
        limits = limits or Limits()
        if request.param == "memory":
            return MemoryStore(limits)
        url = request.getfixturevalue("redis_url")
        return RedisStore(url, limits, prefix=prefix or f"t{time.monotonic_ns()}:")

    return make


def test_teacher_publishes_and_students_follow(make_store):
    room = Classroom(make_store())
    teacher = room.start()
    assert len(teacher.code) == protocol.CODE_LENGTH and teacher.token not in teacher.code
    students = [room.join(teacher.code.lower(), f"kid {i}") for i in range(5)]
    assert room.version(teacher.code) == 0
    version = room.publish(teacher, VIEW, QUESTION, "Softmax")
    assert version == 1 and room.version(teacher.code) == 1
    assert room.publish(teacher, VIEW, QUESTION) == 1  # the same view again: no new version
    snap = room.snapshot(teacher.code)
    assert snap.view == VIEW and snap.question == QUESTION and snap.students == 5
    assert [room.answer(s, "softmax", v) for s, v in zip(students, "12223", strict=True)] == [
        False, True, True, True, False]
    assert room.snapshot(teacher.code).distribution() == {"“a” (1)": 1, "“=b” (2)": 3, "“c” (3)": 1}
    assert room.answer(students[0], "softmax", "2") and room.my_answer(students[0]) == "2"  # changed their mind
    assert not room.snapshot(teacher.code).revealed
    room.publish(teacher, {**VIEW, "revealed": "softmax"}, QUESTION)
    assert room.snapshot(teacher.code).revealed and room.version(teacher.code) == 2
    with pytest.raises(ClassError, match="revealed"):
        room.answer(students[1], "softmax", "1")
    rows = list(csv.DictReader(io.StringIO(room.answers_csv(teacher))))
    assert len(rows) == 5 and {r["nickname"] for r in rows} == {f"kid {i}" for i in range(5)}
    assert all(r["answer"].startswith(("“", "'")) for r in rows)
    assert set(rows[0]) == {"step", "question", "nickname", "answer", "right"}  # no id, no time
    room.end(teacher)
    assert room.snapshot(teacher.code) is None
    with pytest.raises(NotFound):
        room.join(teacher.code)


def test_authority_a_code_or_a_wrong_token_cannot_take_over(make_store):
    room = Classroom(make_store())
    teacher = room.start()
    room.publish(teacher, VIEW, QUESTION)
    intruder = room.join(teacher.code, "x")  # the join code, replayed: a student seat, nothing more
    for fake in (Teacher(teacher.code, intruder.sid), Teacher(teacher.code, ""), Teacher(teacher.code, "A" * 43)):
        with pytest.raises(NotTeacher):
            room.publish(fake, {**VIEW, "revealed": "softmax"}, QUESTION)
        with pytest.raises(NotTeacher):
            room.end(fake)
        with pytest.raises(NotTeacher):
            room.answers_csv(fake)
    other = room.start()  # another class's teacher token does not open this one
    with pytest.raises(NotTeacher):
        room.publish(Teacher(teacher.code, other.token), VIEW, None)
    assert room.snapshot(teacher.code).view == VIEW and not room.snapshot(teacher.code).revealed
    doc = room.read(teacher.code)
    assert teacher.token not in str(doc) and intruder.sid not in str(doc)  # only hashes are stored


def test_hostile_student_input(make_store):
    room = Classroom(make_store())
    teacher = room.start()
    room.publish(teacher, VIEW, QUESTION)
    student = room.join(teacher.code, "  <b>=HYPERLINK(\"x\")</b>\x00\n" + "y" * 500)
    assert len(student.nickname) == protocol.MAX_NICKNAME and "\x00" not in student.nickname
    assert room.nicknames(teacher.code) == [student.nickname]  # stored as typed (capped), shown literally
    for bad in ("9", "<script>", "2" * 5000, ""):
        with pytest.raises(ClassError):
            room.answer(student, "softmax", bad)
    with pytest.raises(ClassError, match="moved on"):
        room.answer(student, "scores", "2")
    for _ in range(protocol.RATE_ACTIONS):
        room.answer(student, "softmax", "1")
    with pytest.raises(RateLimited):
        room.answer(student, "softmax", "1")
    rows = list(csv.DictReader(io.StringIO(room.answers_csv(teacher))))
    assert rows[0]["nickname"].startswith("'") or rows[0]["nickname"].startswith("<")
    with pytest.raises(NotFound):
        room.join("ZZZZZZ")  # well formed, no such class
    with pytest.raises(NotFound):
        room.join("../../etc")
    outsider = protocol.Student(teacher.code, "made-up")
    with pytest.raises(NotFound):
        room.answer(outsider, "softmax", "1")


def test_limits_classes_students_and_bytes(make_store):
    store = make_store(Limits(max_classes=2, max_bytes=4096))
    room = Classroom(store, max_students=3)
    first = room.start()
    room.start()
    with pytest.raises(ClassError, match="limit of 2 classes"):
        room.start()
    for i in range(3):
        room.join(first.code, str(i))
    with pytest.raises(ClassError, match="at most 3 students"):
        room.join(first.code)
    room.end(first)
    teacher = room.start()  # an ended class frees its place
    with pytest.raises(TooLarge):
        store.create("AAAAAA", {"version": 0, "x": "y" * 5000})
    assert store.limits.budget_bytes == 2 * 4096
    with pytest.raises(ClassError, match="holds as much as it can"):
        room.publish(teacher, {**VIEW, "text_a": "z" * 3000, "text_b": "z" * 3000}, QUESTION)  # bytes, in words


def test_numbers_compare_as_numbers(make_store):
    room = Classroom(make_store())
    teacher = room.start()
    room.publish(teacher, VIEW, Question("concatenated", "How many?", "number", (), ("384",), "384"))
    student = room.join(teacher.code)
    assert room.answer(student, "concatenated", " 384.0 ")
    assert not room.answer(student, "concatenated", "383,9")
    for bad in ("nan", "inf", "12e999", "three"):
        with pytest.raises(ClassError):
            room.answer(student, "concatenated", bad)
    assert protocol.normal_number("0.50") == protocol.normal_number(".5") == "0.5"


def test_memory_store_expires_idle_classes():
    clock = Clock()
    store = MemoryStore(Limits(max_classes=1, idle_seconds=60), clock=clock)
    assert store.create("ABCDEF", {"version": 0})
    clock.now += 30
    store.update("ABCDEF", lambda d: {**d, "version": 1})  # a write keeps it alive
    clock.now += 59
    assert store.version("ABCDEF") == 1
    clock.now += 2
    assert store.read("ABCDEF") is None and store.count() == 0
    assert store.create("BCDEFG", {"version": 0})  # its place is free again
    with pytest.raises(ClassFull):
        store.create("CDEFGH", {"version": 0})
    assert store.bytes_held() == len('{"version":0}')


def test_redis_store_expires_and_is_shared(redis_url):
    prefix = f"x{time.monotonic_ns()}:"
    one = RedisStore(redis_url, Limits(max_classes=1, idle_seconds=1), prefix=prefix)
    two = RedisStore(redis_url, Limits(max_classes=1, idle_seconds=1), prefix=prefix)  # another replica
    room_one, room_two = Classroom(one), Classroom(two)
    teacher = room_one.start()
    student = room_two.join(teacher.code, "far")
    room_one.publish(teacher, VIEW, QUESTION)
    assert room_two.snapshot(teacher.code).view == VIEW and room_two.version(teacher.code) == 1
    assert room_two.answer(student, "softmax", "2")
    assert room_one.snapshot(teacher.code).distribution() == {"“=b” (2)": 1}
    with pytest.raises(ClassError):
        room_two.start()  # the limit counts the classes of every replica
    time.sleep(2.2)
    assert room_two.read(teacher.code) is None and two.version(teacher.code) is None
    room_two.start()  # the expired class no longer counts


def test_redis_concurrent_answers_are_all_kept(redis_url):
    from concurrent.futures import ThreadPoolExecutor

    room = Classroom(RedisStore(redis_url, prefix=f"c{time.monotonic_ns()}:"))
    teacher = room.start()
    room.publish(teacher, VIEW, QUESTION)
    students = [room.join(teacher.code) for _ in range(20)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda s: room.answer(s, "softmax", "3"), students))
    assert room.snapshot(teacher.code).distribution() == {"“c” (3)": 20}


def test_open_store_setting(redis_url):
    assert isinstance(open_store(""), MemoryStore) and isinstance(open_store("memory"), MemoryStore)
    assert isinstance(open_store(redis_url), RedisStore)
    with pytest.raises(ValueError):
        open_store("file:///tmp/x")


def test_lesson_questions_say_how_a_class_answers():
    """Every lesson question a class is asked has a kind, and its right answer is one of its options."""
    import encoder
    from encoder import lesson
    from encoder.analysis import head_statistics
    from encoder.walkthrough import walkthrough

    model = encoder.load_model()
    run = model.run("The animal didn't cross the street because it was too tired.")
    walk = walkthrough(model, run, 0, 0)
    questions = lesson.lesson_questions(run.tokenized.labels, run.special, walk, head_statistics(run),
                                        model.learned_position_table(), 0.0, attentions=run.attentions)
    assert {"softmax", "scores", "concatenated", "next_layer", "mask", "positions"} <= set(questions)
    for question in questions.values():
        assert question.kind in protocol.KINDS and question.accepted
        if question.kind != "number":
            assert set(question.accepted) <= {value for value, _ in question.options}


def test_pages_teacher_starts_student_joins_and_follows():
    """The Streamlit side without a browser: lesson mode starts a class, the Join page joins it,
    shows the teacher's step, refuses a wrong code in words, and says so when the store is unusable."""
    from apptest import app_test

    from classroom import screens

    screens.classroom.clear()
    text = "The animal didn't cross the street because it was too tired."
    teacher = app_test("walkthrough", text=text, walk_lesson=True, walk_steps=[0, 7], walk_step=1)
    teacher.button(key="walkbtn_class_start").click().run()
    assert not teacher.exception
    code = teacher.session_state["_class_teacher"].code
    assert f"## `{code}`" in [m.value for m in teacher.markdown]
    wrong = app_test("join")
    wrong.text_input(key="join_code").input("ZZZZZZ" if code != "ZZZZZZ" else "YYYYYY")
    wrong.get("form_submit_button")[0].click().run()
    assert not wrong.exception and any("No class has this code" in w.value for w in wrong.warning)
    student = app_test("join")
    student.text_input(key="join_code").input(code.lower())
    student.text_input(key="join_nick").input("**bold** [x](http://e.i)")
    student.get("form_submit_button")[0].click().run()
    assert not student.exception
    assert [h.value for h in student.subheader] == ["Step 2 of 2: Softmax"]
    assert any("attend to most?" in m.value for m in student.markdown)
    assert any("\\*\\*bold\\*\\*" in c.value for c in student.caption)  # the nickname, literally
    assert "_class_teacher" not in student.session_state and teacher.session_state["_class_teacher"].token not in str(
        student.session_state["_class_student"])


def test_pages_say_when_the_store_setting_is_unusable(monkeypatch):
    from apptest import app_test

    from classroom import screens

    monkeypatch.setenv("HEADLIGHT_CLASS_STORE", "file:///etc/passwd")
    screens.classroom.clear()
    try:
        page = app_test("join")
        assert not page.exception and any("not available on this server" in e.value for e in page.error)
        assert "passwd" not in str([e.value for e in page.error])
    finally:
        monkeypatch.delenv("HEADLIGHT_CLASS_STORE")
        screens.classroom.clear()


def test_a_join_link_is_capped_and_the_store_modules_need_no_streamlit():
    import sys

    from apptest import ROOT
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["join_code"] = "<script>" * 10
    at.run()
    at.switch_page("pages/join.py").run()
    assert not at.exception and at.text_input(key="join_code").value == "<script><scr"
    code = ("import sys, classroom.store, classroom.protocol; "
            "assert 'streamlit' not in sys.modules, 'the class store must not need streamlit'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
