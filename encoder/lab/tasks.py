"""Synthetic sequence tasks whose right attention pattern is known, so a student can check a head.

Every task is encoder-only: an input sequence of fixed length T goes in, and a classifier on top
of the encoder predicts one target symbol at every position. Each task can say, for a given
input, which keys the output at each position needs (`expected_attention`), and, for any input,
which positions an output may depend on at all (`dependencies`), which is what a causal mask
can hide.

Generators take a numpy `Generator`, so a seed fixes the data exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

DIGITS = tuple("0123456789")
BRACKETS = tuple("()[]")


@dataclass(frozen=True)
class Task:
    """A fixed-length sequence-to-sequence task: inputs and targets are both (N, T) int arrays.

    Subclasses define `answer` (targets for given inputs, the known answer) and
    `expected_attention`; most also override `sample_inputs`.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""  # one line: what the output at each position is
    pattern: ClassVar[str] = ""  # one line: the attention pattern that solves it
    input_symbols: ClassVar[tuple[str, ...]] = DIGITS
    length: int = 8

    def __post_init__(self) -> None:
        if self.length < 2:
            raise ValueError(f"A task needs at least 2 positions, not {self.length}.")

    # --- vocabularies -------------------------------------------------------------------------
    @property
    def output_symbols(self) -> tuple[str, ...]:
        """DIGITS unless a task answers with counts or positions, which depend on `length`."""
        return DIGITS

    @property
    def n_classes(self) -> int:
        return len(self.output_symbols)

    # --- data ---------------------------------------------------------------------------------
    def sample_inputs(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n random input sequences, (n, T) indices into `input_symbols`."""
        return rng.integers(0, len(self.input_symbols), size=(n, self.length))

    def answer(self, inputs: np.ndarray) -> np.ndarray:
        """The correct targets, (N, T) indices into `output_symbols`, for (N, T) inputs."""
        raise NotImplementedError

    def generate(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, targets), each (n, T) int64."""
        inputs = self.sample_inputs(rng, n).astype(np.int64)
        return inputs, self.answer(inputs).astype(np.int64)

    # --- what attention should do -------------------------------------------------------------
    def expected_attention(self, inputs: np.ndarray) -> np.ndarray:
        """bool (N, T, T): row i marks the keys holding what output i needs, for these inputs."""
        raise NotImplementedError

    def dependencies(self) -> np.ndarray:
        """bool (T, T): row i marks every key output i can depend on, over all inputs.

        Defaults to everything (sorting or counting needs the whole sequence).
        """
        return np.ones((self.length, self.length), dtype=bool)

    # --- text ---------------------------------------------------------------------------------
    def encode(self, text: str) -> np.ndarray:
        """A typed sequence ("31415926") as (T,) input indices; spaces are ignored.

        Raises ValueError naming what does not fit, so a page can show it as is.
        """
        symbols = [c for c in text if not c.isspace()]
        unknown = sorted({c for c in symbols if c not in self.input_symbols})
        if unknown:
            raise ValueError(
                f"{self.name} reads only {' '.join(self.input_symbols)}; found {' '.join(unknown)}."
            )
        if len(symbols) != self.length:
            raise ValueError(f"{self.name} reads exactly {self.length} symbols, not {len(symbols)}.")
        return np.array([self.input_symbols.index(c) for c in symbols], dtype=np.int64)

    def decode_inputs(self, indices: np.ndarray) -> list[str]:
        return [self.input_symbols[int(i)] for i in indices]

    def decode_outputs(self, indices: np.ndarray) -> list[str]:
        return [self.output_symbols[int(i)] for i in indices]

    def spec(self) -> dict[str, object]:
        """Name and parameters, enough for `make_task(**spec)` to rebuild this task."""
        return {"name": self.name, **{f.name: getattr(self, f.name) for f in fields(self)}}


def _permutation_attention(sources: np.ndarray, n: int) -> np.ndarray:
    """(T,) source key per query -> bool (n, T, T) with one True per row."""
    T = len(sources)
    pattern = np.zeros((T, T), dtype=bool)
    pattern[np.arange(T), sources] = True
    return np.broadcast_to(pattern, (n, T, T)).copy()  # (N, T, T)


@dataclass(frozen=True)
class PermutationTask(Task):
    """Output i is input `sources()[i]`, a position fixed by i alone: whatever the input, the right
    pattern is one key per query, and it is all an output can depend on."""

    def sources(self) -> np.ndarray:
        """(T,) int: the input position each output copies."""
        raise NotImplementedError

    def answer(self, inputs: np.ndarray) -> np.ndarray:
        return np.take(inputs, self.sources(), axis=1)  # (N, T), C-contiguous (inputs[:, sources] is not)

    def expected_attention(self, inputs: np.ndarray) -> np.ndarray:
        return _permutation_attention(self.sources(), len(inputs))

    def dependencies(self) -> np.ndarray:
        return _permutation_attention(self.sources(), 1)[0]


@dataclass(frozen=True)
class ReverseTask(PermutationTask):
    name: ClassVar[str] = "reverse"
    summary: ClassVar[str] = "Output i is input T-1-i: the sequence read backwards."
    pattern: ClassVar[str] = "The anti-diagonal: query i attends to key T-1-i."

    def sources(self) -> np.ndarray:
        return np.arange(self.length)[::-1].copy()


@dataclass(frozen=True)
class CopyTask(PermutationTask):
    """Copy shifted right by `offset`, wrapping around: output i is input (i - offset) mod T.

    Wrap-around (rather than a padding token) keeps every position a real prediction, so the
    pattern is a shifted diagonal that re-enters at the top right: under a causal mask the
    first `offset` positions need a later token and cannot be learned.
    """

    name: ClassVar[str] = "copy"
    summary: ClassVar[str] = "Output i is input i - offset, wrapping around at the start."
    pattern: ClassVar[str] = "A shifted diagonal: query i attends to key (i - offset) mod T."
    offset: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.offset < self.length:
            raise ValueError(f"offset must be in 0..{self.length - 1}, not {self.offset}.")

    def sources(self) -> np.ndarray:
        return (np.arange(self.length) - self.offset) % self.length


@dataclass(frozen=True)
class SortTask(Task):
    name: ClassVar[str] = "sort"
    summary: ClassVar[str] = "The digits in ascending order."
    pattern: ClassVar[str] = "Query i attends to the keys holding the i-th smallest digit."

    def answer(self, inputs: np.ndarray) -> np.ndarray:
        return np.sort(inputs, axis=1)

    def expected_attention(self, inputs: np.ndarray) -> np.ndarray:
        # Any key holding the right value will do, so ties mark every copy of it.
        targets = self.answer(inputs)
        return targets[:, :, None] == inputs[:, None, :]  # (N, T, T)


@dataclass(frozen=True)
class CountTask(Task):
    name: ClassVar[str] = "count"
    summary: ClassVar[str] = "Output i is how many times input i's digit occurs in the sequence."
    pattern: ClassVar[str] = "Query i attends to every key with the same digit as itself."

    @property
    def output_symbols(self) -> tuple[str, ...]:
        return tuple(str(c) for c in range(1, self.length + 1))  # class k means a count of k + 1

    def answer(self, inputs: np.ndarray) -> np.ndarray:
        return (inputs[:, :, None] == inputs[:, None, :]).sum(axis=2) - 1  # (N, T): count - 1

    def expected_attention(self, inputs: np.ndarray) -> np.ndarray:
        return inputs[:, :, None] == inputs[:, None, :]  # (N, T, T)


@dataclass(frozen=True)
class MajorityTask(Task):
    """Every position outputs the most frequent digit. Generated sequences always have one
    strict winner (ties are redrawn); a typed sequence with a tie is answered with the smallest
    of the tied digits."""

    name: ClassVar[str] = "majority"
    summary: ClassVar[str] = "Every output is the sequence's most frequent digit."
    pattern: ClassVar[str] = "Every query attends to the keys holding the most frequent digit."

    def sample_inputs(self, rng: np.random.Generator, n: int) -> np.ndarray:
        kept: list[np.ndarray] = []
        while sum(len(k) for k in kept) < n:
            draw = rng.integers(0, 10, size=(2 * n, self.length))
            counts = np.stack([(draw == d).sum(axis=1) for d in range(10)], axis=1)  # (2n, 10)
            top2 = np.sort(counts, axis=1)[:, -2:]  # (2n, 2): second largest, largest
            kept.append(draw[top2[:, 1] > top2[:, 0]])
        return np.concatenate(kept)[:n]

    def answer(self, inputs: np.ndarray) -> np.ndarray:
        counts = np.stack([(inputs == d).sum(axis=1) for d in range(10)], axis=1)  # (N, 10)
        winner = counts.argmax(axis=1)  # argmax returns the first, i.e. smallest, tied digit
        return np.repeat(winner[:, None], self.length, axis=1)  # (N, T)

    def expected_attention(self, inputs: np.ndarray) -> np.ndarray:
        winner = self.answer(inputs)[:, :1]  # (N, 1)
        holds_winner = inputs == winner  # (N, T)
        return np.repeat(holds_winner[:, None, :], self.length, axis=1)  # (N, T, T)


@dataclass(frozen=True)
class BracketsTask(Task):
    """Balanced strings over two bracket types; output i is the position of i's partner.

    Strings are grown left to right, opening with probability 1/2 while both moves are legal,
    so they are balanced but not uniform over all balanced strings. The output names a
    position (0..T-1), so the answer is literally where attention should go.
    """

    name: ClassVar[str] = "brackets"
    summary: ClassVar[str] = "Output i is the position of the bracket that matches bracket i."
    pattern: ClassVar[str] = "Each bracket attends to its partner."
    input_symbols: ClassVar[tuple[str, ...]] = BRACKETS
    length: int = 12
    n_types: ClassVar[int] = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.length % 2:
            raise ValueError(f"Balanced brackets need an even length, not {self.length}.")

    @property
    def output_symbols(self) -> tuple[str, ...]:
        return tuple(str(p) for p in range(self.length))

    def sample_inputs(self, rng: np.random.Generator, n: int) -> np.ndarray:
        T, half = self.length, self.length // 2
        moves = rng.random((n, T))  # one coin per step decides open or close
        types = rng.integers(0, self.n_types, size=(n, half))  # type of each opening, in order
        out = np.empty((n, T), dtype=np.int64)
        for row in range(n):
            stack: list[int] = []
            opened = 0
            for i in range(T):
                can_open = opened < half
                must_open = not stack
                if must_open or (can_open and moves[row, i] < 0.5):
                    kind = int(types[row, opened])
                    opened += 1
                    stack.append(kind)
                    out[row, i] = 2 * kind  # "(" or "["
                else:
                    out[row, i] = 2 * stack.pop() + 1  # ")" or "]"
        return out

    def answer(self, inputs: np.ndarray) -> np.ndarray:
        """Partner positions. A closer matches the nearest unmatched opener if it is of the same
        type; a bracket left without a partner (only in typed, unbalanced strings) gets itself."""
        partners = np.tile(np.arange(inputs.shape[1]), (len(inputs), 1))  # (N, T)
        for row, sequence in enumerate(inputs):
            stack: list[int] = []
            for i, symbol in enumerate(sequence):
                if symbol % 2 == 0:
                    stack.append(i)
                elif stack and sequence[stack[-1]] == symbol - 1:
                    j = stack.pop()
                    partners[row, i], partners[row, j] = j, i
        return partners

    def expected_attention(self, inputs: np.ndarray) -> np.ndarray:
        partners = self.answer(inputs)
        T = inputs.shape[1]
        return partners[:, :, None] == np.arange(T)[None, None, :]  # (N, T, T)


HELD_OUT_SEED = 2017  # one held-out set for every training seed, so runs compare fairly


def held_out_set(task: Task, size: int = 1000, seed: int = HELD_OUT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets), each (size, T). Drawn from the stream [1, seed]; training draws from
    [0, seed], so no training seed shares it."""
    return task.generate(np.random.default_rng([1, seed]), size)


TASKS: dict[str, type[Task]] = {
    cls.name: cls for cls in (ReverseTask, CopyTask, SortTask, CountTask, MajorityTask, BracketsTask)
}


def make_task(name: str, **params: int) -> Task:
    """The task called `name`, e.g. make_task("copy", offset=3). Raises ValueError for an unknown name."""
    if name not in TASKS:
        raise ValueError(f"Unknown task '{name}'; choose one of {', '.join(TASKS)}.")
    return TASKS[name](**params)

