"""Speed of `model.run` against transformers, both from text: tokenizing and the forward pass.

    python -m bench.forward [--repeats 12] [--device cuda] [--threads 2] [--before DIR] [--from-ids]

Both run the bundled all-MiniLM-L6-v2 on the same text (asserted to give the same tokens),
interleaved repetition by repetition so that machine noise hits both alike. Both start from text
and hand back at least the attentions and hidden states (`run` also its value norms, Q/K/V and
embeddings): the reference is the way people ask transformers for them, its tokenizer
(return_tensors="pt") and then BertModel with eager attention, output_attentions=True and
output_hidden_states=True under torch.no_grad(). The reference used to start from token ids,
skipping the tokenizer that `run` includes (0.07 / 0.35 / 1.3 ms at 16 / 128 / 510 tokens);
--from-ids times it that way.
Both run on --device (the CPU by default), which is printed with the load average before and
after. Prints medians and the ratio ours / reference (target: at most 1.0 at every length), of
wall time and of CPU time (the process's, all threads: on a busy machine wall time also counts the
waits for a core, CPU time does not, though other work still slows both through shared caches).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

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
    parser.add_argument("--before", type=Path, help="another checkout whose engine to time alongside")
    parser.add_argument("--from-ids", action="store_true",
                        help="the reference starts from token ids, skipping its tokenizer (`run` still tokenizes)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    from transformers import AutoTokenizer, BertModel

    model = load_model(device=args.device)
    device = model.device
    before = None if args.before is None else _engine_of(args.before).load_model(device=args.device)
    reference = BertModel.from_pretrained(str(bundled_model_dir()), attn_implementation="eager").train(False)
    reference.to(device)
    reference_tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_dir()))
    print(f"device {device}{' (' + torch.cuda.get_device_name(device) + ')' if device.type == 'cuda' else ''}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.repeats} interleaved repetitions, medians; load average {_load()}")
    print("transformers from token ids, without its tokenizer" if args.from_ids
          else "transformers from text, its tokenizer included (as `run`)")
    names = ["headlight", *(["before"] if before else []), "transformers"]
    print(f"{'tokens':>6} " + " ".join(f"{name + ' ms':>15}" for name in names)
          + " " + " ".join(f"{name + ' ratio':>18}" for name in names[:-1])
          + " " + " ".join(f"{name + ' CPU ratio':>22}" for name in names[:-1]))
    for n in LENGTHS:
        text = text_of_length(model, n)
        tokenized = reference_tokenizer(text, return_tensors="pt").to(device)
        assert tokenized["input_ids"][0].tolist() == model.run(text).ids, "the two tokenizers differ"

        def theirs_once(text: str = text, tokenized=tokenized) -> None:
            inputs = tokenized if args.from_ids else reference_tokenizer(text, return_tensors="pt").to(device)
            with torch.no_grad():
                out = reference(**inputs, output_attentions=True, output_hidden_states=True)
            if device.type != "cpu":  # as `run` hands back numpy on the CPU, so do these here
                [a.cpu() for a in (*out.attentions, *out.hidden_states)]

        contestants = [lambda text=text: model.run(text)]
        if before:
            contestants.append(lambda text=text: before.run(text))
        contestants.append(theirs_once)
        wall, cpu = _interleaved(contestants, args.repeats)
        ms = [median_ms(samples) for samples in wall]
        cpu_ms = [median_ms(samples) for samples in cpu]
        print(f"{n:>6} " + " ".join(f"{x:>15.1f}" for x in ms)
              + " " + " ".join(f"{x / ms[-1]:>18.3f}" for x in ms[:-1])
              + " " + " ".join(f"{x / cpu_ms[-1]:>22.3f}" for x in cpu_ms[:-1]))
    print(f"load average after: {_load()}")


def _interleaved(functions: list, repeats: int) -> tuple[list[list[float]], list[list[float]]]:
    """Wall and CPU seconds of each function, called in turn `repeats` times after two warm-ups."""
    wall: list[list[float]] = [[] for _ in functions]
    cpu: list[list[float]] = [[] for _ in functions]
    for _ in range(2):
        for function in functions:
            function()
    for _ in range(repeats):
        for function, wall_samples, cpu_samples in zip(functions, wall, cpu, strict=True):
            start, start_cpu = time.perf_counter(), time.process_time()
            function()
            wall_samples.append(time.perf_counter() - start)
            cpu_samples.append(time.process_time() - start_cpu)
    return wall, cpu


def _engine_of(checkout: Path):
    """The `encoder` package of another checkout, imported as `encoder_before` beside this one's."""
    init = checkout / "encoder" / "__init__.py"
    if not init.is_file():
        raise SystemExit(f"{checkout} has no encoder package.")
    spec = importlib.util.spec_from_file_location("encoder_before", init, submodule_search_locations=[str(init.parent)])
    package = importlib.util.module_from_spec(spec)
    sys.modules["encoder_before"] = package  # its relative imports resolve through this name
    spec.loader.exec_module(package)
    return package


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
