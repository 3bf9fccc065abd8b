"""Speed of `model.run` (tokenizing and capture included) against transformers' forward pass.

    python -m bench.forward [--repeats 12] [--device cuda]

Both run the bundled all-MiniLM-L6-v2 on the same tokens, interleaved repetition by repetition
so that machine noise hits both alike. The reference is BertModel with eager attention and
output_attentions=True under torch.no_grad(), the way people ask transformers for attention.
Both run on --device (the CPU by default), which is printed with the load average before and
after. Prints medians and the ratio ours / reference (target: at most 1.0 at every length), of
wall time and of CPU time (the process's, all threads: on a busy machine wall time also counts the
waits for a core, CPU time does not, though other work still slows both through shared caches).
"""

from __future__ import annotations

import argparse
import os
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
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, mps")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads for both (default: torch's choice); 1 steadies a busy machine")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    from transformers import BertModel

    model = load_model(device=args.device)
    device = model.device
    reference = BertModel.from_pretrained(str(bundled_model_dir()), attn_implementation="eager").train(False)
    reference.to(device)
    print(f"device {device}{' (' + torch.cuda.get_device_name(device) + ')' if device.type == 'cuda' else ''}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.repeats} interleaved repetitions, medians; load average {_load()}")
    print(f"{'tokens':>6} {'headlight ms':>13} {'transformers ms':>16} {'ratio':>6}"
          f" {'headlight CPU ms':>17} {'transformers CPU ms':>19} {'ratio':>6}")
    for n in LENGTHS:
        text = text_of_length(model, n)
        ids = torch.tensor([model.run(text).ids], device=device)

        def ours_once(text: str = text) -> None:
            model.run(text)

        def theirs_once(ids: torch.Tensor = ids) -> None:
            with torch.no_grad():
                out = reference(input_ids=ids, output_attentions=True)
            if device.type != "cpu":  # as `run` hands back numpy on the CPU, so do the attentions here
                [a.cpu() for a in out.attentions]

        ours, theirs, ours_cpu, theirs_cpu = [], [], [], []
        for _ in range(2):  # warm-up
            ours_once()
            theirs_once()
        for _ in range(args.repeats):
            for function, wall, cpu in ((ours_once, ours, ours_cpu), (theirs_once, theirs, theirs_cpu)):
                start, start_cpu = time.perf_counter(), time.process_time()
                function()
                wall.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
        a, b = median_ms(ours), median_ms(theirs)
        c, d = median_ms(ours_cpu), median_ms(theirs_cpu)
        print(f"{n:>6} {a:>13.1f} {b:>16.1f} {a / b:>6.2f} {c:>17.1f} {d:>19.1f} {c / d:>6.2f}")
    print(f"load average after: {_load()}")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
