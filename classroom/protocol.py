"""What teacher and students may do to a class, over a store (`classroom.store`).

Authority: starting a class returns a secret teacher token (kept server-side in the teacher's
Streamlit session, never in a link). The document keeps only its SHA-256, and every change of the
view, every reveal and the end need it. A join code gives no more than a new student seat: a code
guessed or replayed by someone else joins as one more student and can only answer.

Student input is hostile: a nickname is cut to `MAX_NICKNAME` characters with control characters
removed (and the pages show it literally); an answer must be one of the question's options, or a
number; each student has a rate limit; a class has a student limit. Students are keyed by the hash
of a random id, so nothing in the class names a student who gave no nickname.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from encoder.export import csv_text

from .store import ClassFull, Limits, MemoryStore, RedisStore, TooLarge

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read off a projector, typed on a phone
CODE_LENGTH = 6  # 31^6 ≈ 8.9e8 codes: a guessed code finds a class about once in 44 million tries at 20 classes
MAX_NICKNAME = 24
MAX_ANSWER = 24  # a normalised number or an option's value
MAX_VIEW_TEXT = 4000  # characters of the lesson's text (and second sentence) a class carries
RATE_WINDOW = 10.0  # seconds
RATE_ACTIONS = 8  # answers a student may send per window
KINDS = ("choice", "token", "number")


class ClassError(Exception):
    """Something a student or teacher is told, in words (never a traceback)."""


class NotFound(ClassError):
    pass


class NotTeacher(ClassError):
    pass


class RateLimited(ClassError):
    pass


@dataclass(frozen=True)
class Teacher:
    code: str
    token: str  # the secret: only in the teacher's server-side session


@dataclass(frozen=True)
class Student:
    code: str
    sid: str  # random, only in the student's server-side session
    nickname: str = ""


@dataclass(frozen=True)
class Question:
    """What a class answers at a step: how (`kind`), from which options (value, label), and which
    values count as right (`accepted`); `answer` is shown at the reveal."""

    step: str
    prompt: str
    kind: str
    options: tuple[tuple[str, str], ...]
    accepted: tuple[str, ...]
    answer: str
    detail: str = ""

    def as_json(self) -> dict:
        return {"step": self.step, "prompt": self.prompt, "kind": self.kind, "options": [list(o) for o in self.options],
                "accepted": list(self.accepted), "answer": self.answer, "detail": self.detail}

    @staticmethod
    def from_json(data: dict | None) -> Question | None:
        if not data:
            return None
        return Question(data["step"], data["prompt"], data["kind"], tuple(tuple(o) for o in data["options"]),
                        tuple(data["accepted"]), data["answer"], data.get("detail", ""))

    def label(self, value: str) -> str:
        return dict(self.options).get(value, value)

    def is_right(self, value: str | None) -> bool:
        return value is not None and value in self.accepted


@dataclass(frozen=True)
class Snapshot:
    """A class as one screen reads it."""

    code: str
    version: int
    view: dict  # the teacher's step, text, model, layer, head, token, revealed (empty before the first)
    question: Question | None
    students: int
    answers: dict[str, str]  # this step's answers, student key -> value (only tallies leave this module)

    @property
    def revealed(self) -> bool:
        return bool(self.question and self.view.get("revealed") == self.question.step)

    def distribution(self) -> Counter:
        """Answer label -> how many gave it (no student named)."""
        if self.question is None:
            return Counter()
        return Counter(self.question.label(v) for v in self.answers.values())


def nickname(text: str | None) -> str:
    """A nickname as stored: no control characters, one line, at most MAX_NICKNAME characters."""
    cleaned = "".join(c for c in str(text or "")[: MAX_NICKNAME * 4] if unicodedata.category(c)[0] != "C")
    return " ".join(cleaned.split())[:MAX_NICKNAME]


def normal_number(text: str | float | None) -> str | None:
    """A typed number as the class compares it ("0.50" and ".5" alike), None if it is not one."""
    try:
        value = float(str(text).strip().replace(",", ".")[:MAX_ANSWER])
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return f"{round(value, 4):g}"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def clean_code(text: str | None) -> str:
    """A typed or linked code, upper-cased with spaces and dashes dropped; '' if it cannot be one."""
    code = "".join(str(text or "")[:32].split()).replace("-", "").upper()
    return code if len(code) == CODE_LENGTH and all(c in CODE_ALPHABET for c in code) else ""


class Classroom:
    """The protocol over one store. `max_students` per class; the store's limits hold the rest."""

    def __init__(self, store: MemoryStore | RedisStore, max_students: int = 60,
                 clock: Callable[[], float] = time.time):
        self.store = store
        self.max_students = max_students
        self._clock = clock

    @property
    def limits(self) -> Limits:
        return self.store.limits

    # ------------------------------------------------------------ teacher

    def start(self) -> Teacher:
        token = secrets.token_urlsafe(32)
        doc = {"teacher": _hash(token), "created": self._clock(), "version": 0, "view": {}, "question": None,
               "students": {}, "answers": {}, "titles": {}}
        for _ in range(20):
            code = new_code()
            try:
                if self.store.create(code, doc):
                    return Teacher(code, token)
            except ClassFull:
                raise ClassError(f"This server already holds its limit of {self.limits.max_classes} classes. "
                                 "Try again when one has ended.") from None
        raise ClassError("No free class code was found; try again.")

    def _update(self, code: str, change: Callable[[dict], dict]) -> dict | None:
        try:
            return self.store.update(code, change)
        except TooLarge:
            raise ClassError(f"This class holds as much as it can ({self.limits.max_bytes // 1024} KiB): "
                             "a shorter text, or a new class, makes room.") from None

    def _as_teacher(self, teacher: Teacher, change: Callable[[dict], dict]) -> dict:
        def checked(doc: dict) -> dict:
            if not hmac.compare_digest(doc["teacher"], _hash(teacher.token)):
                raise NotTeacher("Only the teacher who started this class can change it.")
            return change(doc)

        doc = self._update(teacher.code, checked)
        if doc is None:
            raise NotFound("This class has ended.")
        return doc

    def publish(self, teacher: Teacher, view: dict, question: Question | None, title: str = "") -> int:
        """The teacher's current view (step, text, model, layer, head, token, revealed): every
        student's screen follows it. Returns the new version."""
        view = {k: (str(v)[:MAX_VIEW_TEXT] if isinstance(v, str) else v) for k, v in view.items()}

        def change(doc: dict) -> dict:
            if doc["view"] == view and doc["question"] == (question.as_json() if question else None):
                return doc  # nothing new: the students need not rerun
            doc["view"], doc["question"] = view, (question.as_json() if question else None)
            if question is not None and title:
                doc["titles"][question.step] = title[:80]
            doc["version"] += 1
            return doc

        return int(self._as_teacher(teacher, change)["version"])

    def end(self, teacher: Teacher) -> None:
        self._as_teacher(teacher, lambda doc: doc)  # authority first
        self.store.delete(teacher.code)

    def answers_csv(self, teacher: Teacher) -> str:
        """Every step's answers: step, nickname (empty without one), answer, right; no other personal data."""
        doc = self._as_teacher(teacher, lambda d: d)
        rows = []
        for step, answers in doc["answers"].items():
            for key, value in answers.items():
                rows.append({"step": step, "question": doc["titles"].get(step, ""),
                             "nickname": doc["students"].get(key, {}).get("nick", ""),
                             "answer": value["label"], "right": value["right"]})
        frame = pd.DataFrame(rows, columns=["step", "question", "nickname", "answer", "right"])
        return csv_text(frame)

    # ------------------------------------------------------------ student

    def join(self, code: str, nick: str | None = None) -> Student:
        code = clean_code(code)
        sid = secrets.token_urlsafe(16)
        name = nickname(nick)
        now = self._clock()

        def change(doc: dict) -> dict:
            if len(doc["students"]) >= self.max_students:
                raise ClassError(f"This class is full: at most {self.max_students} students.")
            doc["students"][_hash(sid)[:20]] = {"nick": name, "joined": now, "times": []}
            return doc

        if not code or self._update(code, change) is None:
            raise NotFound("No class has this code (it may have ended). Check the code on the projector.")
        return Student(code, sid, name)

    def answer(self, student: Student, step: str, value: str) -> bool:
        """A student's answer at the current question step (again: replaces it). Returns whether it
        is right, which the student sees only after the reveal."""
        key = _hash(student.sid)[:20]
        now = self._clock()

        def change(doc: dict) -> dict:
            me = doc["students"].get(key)
            if me is None:
                raise NotFound("You are not in this class any more: join again.")
            question = Question.from_json(doc["question"])
            if question is None or question.step != step:
                raise ClassError("The class has moved on to another step.")
            if doc["view"].get("revealed") == step:
                raise ClassError("The answer has been revealed: answers are closed.")
            normal = normal_number(value) if question.kind == "number" else str(value)[:MAX_ANSWER]
            if normal is None or (question.kind != "number" and normal not in dict(question.options)):
                raise ClassError("That is not one of the answers this question takes.")
            recent = [t for t in me["times"] if now - t < RATE_WINDOW]
            if len(recent) >= RATE_ACTIONS:
                raise RateLimited(f"Too many answers: wait a few seconds (at most {RATE_ACTIONS} in "
                                  f"{RATE_WINDOW:.0f} s).")
            me["times"] = [*recent, now]
            doc["answers"].setdefault(step, {})[key] = {"value": normal, "label": question.label(normal)[:80],
                                                        "right": question.is_right(normal)}
            return doc

        doc = self._update(student.code, change)
        if doc is None:
            raise NotFound("This class has ended.")
        return bool(doc["answers"][step][key]["right"])

    def my_answer(self, student: Student, snapshot_doc: dict | None = None) -> str | None:
        doc = snapshot_doc if snapshot_doc is not None else self.store.read(student.code)
        question = (doc or {}).get("question")
        if not doc or not question:
            return None
        entry = doc["answers"].get(question["step"], {}).get(_hash(student.sid)[:20])
        return None if entry is None else entry["value"]

    def is_member(self, student: Student, doc: dict | None = None) -> bool:
        doc = doc if doc is not None else self.store.read(student.code)
        return bool(doc) and _hash(student.sid)[:20] in doc["students"]

    # ------------------------------------------------------------ everyone

    def version(self, code: str) -> int | None:
        return self.store.version(code)

    def read(self, code: str) -> dict | None:
        return self.store.read(code)

    def snapshot(self, code: str, doc: dict | None = None) -> Snapshot | None:
        doc = doc if doc is not None else self.store.read(code)
        if doc is None:
            return None
        question = Question.from_json(doc["question"])
        step = question.step if question else None
        answers = {k: v["value"] for k, v in doc["answers"].get(step, {}).items()} if step else {}
        return Snapshot(code, int(doc["version"]), dict(doc["view"]), question, len(doc["students"]), answers)

    def nicknames(self, code: str) -> list[str]:
        doc = self.store.read(code) or {"students": {}}
        return [s["nick"] for s in doc["students"].values() if s["nick"]]
