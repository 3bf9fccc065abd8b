"""Speed of `model.run` (tokenizing and capture included) against transformers' forward pass.

    python -m bench.forward [--repeats 9]

Both run the bundled all-MiniLM-L6-v2 on the same tokens, interleaved repetition by repetition
so that machine noise hits both alike. The reference is BertModel with eager attention and
output_attentions=True under torch.no_grad(), the way people ask transformers for attention.
Prints medians and the ratio ours / reference (target: at most 0.8 at 128 and 510 tokens).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch

from encoder import bundled_model_dir, load_model

LENGTHS = (16, 128, 510)
FILLER = ("Attention lets every token look at every other token, and the heads of each layer "
          "learn different ways of looking. ") * 40


def text_of_length(model, n_tokens: int, prefix: str = "") -> str:
    """A text that tokenizes to exactly n_tokens, special tokens included; a distinct `prefix`
    makes a text no cache has seen."""
    ids = model.tokenizer.encode(prefix + FILLER).ids[1: n_tokens - 1]
    text = model.tokenizer.decode(ids)
    assert model.run(text).n_tokens == n_tokens, "filler text did not round-trip"
    return text


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from transformers import BertModel

    model = load_model()
    reference = BertModel.from_pretrained(str(bundled_model_dir()), attn_implementation="eager").train(False)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.repeats} interleaved repetitions, medians")
    print(f"{'tokens':>6} {'headlight ms':>13} {'transformers ms':>16} {'ratio':>6}")
    for n in LENGTHS:
        text = text_of_length(model, n)
        ids = torch.tensor([model.run(text).ids])
        ours, theirs = [], []
        for _ in range(2):  # warm-up
            model.run(text)
            with torch.no_grad():
                reference(input_ids=ids, output_attentions=True)
        for _ in range(args.repeats):
            start = time.perf_counter()
            model.run(text)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            with torch.no_grad():
                reference(input_ids=ids, output_attentions=True)
            theirs.append(time.perf_counter() - start)
        a, b = median_ms(ours), median_ms(theirs)
        print(f"{n:>6} {a:>13.1f} {b:>16.1f} {a / b:>6.2f}")


if __name__ == "__main__":
    main()
