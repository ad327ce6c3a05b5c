"""Training benchmark: the train stage's throughput in fp32 and bf16 autocast, with glibc's default malloc and with
freed memory kept in the process (pressft.allocator), on the same examples, in one run; prints tokens/s, the
ratio to fp32 with the default malloc, and the final train loss (the settings must not change what is learnt).

    python scripts/benchmark_training.py                   # first 60 pool articles of `dvc repro`'s data, 2 rounds
    python scripts/benchmark_training.py --articles 200 --rounds 3

Each setting trains in its own process (malloc settings cannot be undone in a process), on the committed params
except train.precision; the settings take turns round by round, so a slow moment of the machine hits all alike.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pressft.errors import UserError, run_stage  # noqa: E402
from pressft.params import load_params  # noqa: E402
from pressft.sources import read_records  # noqa: E402

SETTINGS = [("fp32", "default"), ("fp32", "kept"), ("bf16", "default"), ("bf16", "kept")]
RESULT = "benchmark_training: "


def one_run(args) -> None:
    """Child process: train once with one setting and print the training metrics as a JSON line."""
    from pressft import training

    if args.malloc == "default":
        training.keep_freed_memory = lambda: False
    params = load_params()
    train = params["train"]
    examples = training.select_training(read_records(args.pool), args.articles, train["type_oversample_cap"])
    steps = math.ceil(len(examples) / (train["batch_size"] * train["grad_accum"]))
    train.update(precision=args.precision, epochs=1, keep_best=False, eval_steps=steps)  # one evaluation, at the end
    val = read_records(args.val)[:8]
    with tempfile.TemporaryDirectory() as tmp:
        metrics, _ = training.train_lora(args.base, examples, val, params, Path(tmp) / "adapter", Path(tmp) / "work")
    print(RESULT + json.dumps(metrics), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="models/base")
    parser.add_argument("--pool", default="data/tasks/pool.jsonl")
    parser.add_argument("--val", default="data/tasks/val.jsonl")
    parser.add_argument("--articles", type=int, default=60, help="first N articles of the training pool")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--precision", choices=["fp32", "bf16"], help=argparse.SUPPRESS)  # child process
    parser.add_argument("--malloc", choices=["default", "kept"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.precision:
        return one_run(args)
    if not Path(args.base, "config.json").exists() or not Path(args.pool).exists():
        raise UserError(f"{args.base} or {args.pool} is missing; run `dvc repro` first")
    pool = len({example["id"] for example in read_records(args.pool)})
    if not 1 <= args.articles <= pool or args.rounds < 1:
        raise UserError(f"--articles must be 1..{pool} (the training pool) and --rounds at least 1; "
                        f"got {args.articles} and {args.rounds}")
    runs: dict[tuple[str, str], list[dict]] = {setting: [] for setting in SETTINGS}
    for round_ in range(1, args.rounds + 1):
        for precision, malloc in SETTINGS:
            command = [sys.executable, __file__, "--precision", precision, "--malloc", malloc, "--articles",
                       str(args.articles), "--base", args.base, "--pool", args.pool, "--val", args.val]
            out = subprocess.run(command, capture_output=True, text=True)
            lines = [line for line in out.stdout.splitlines() if line.startswith(RESULT)]
            if out.returncode != 0 or not lines:
                print(out.stderr[-3000:], file=sys.stderr)
                raise UserError(f"the {precision}/{malloc} training run failed (its output is above)")
            metrics = json.loads(lines[-1][len(RESULT):])
            runs[(precision, malloc)].append(metrics)
            print(f"round {round_}: {precision:4} malloc {malloc:7} {metrics['tokens_per_second']:8.0f} tokens/s  "
                  f"final train loss {metrics['final_train_loss']}", flush=True)

    first = runs[SETTINGS[0]][0]
    print(f"\n{args.articles} articles, {first['train_examples']} examples, {first['steps']} steps, "
          f"{first['tokens_seen']:,} tokens per run; median of {args.rounds} rounds\n")
    print("| precision | malloc | tokens/s | vs fp32, default malloc | final train loss | peak memory GiB |")
    print("|---|---|---|---|---|---|")
    reference = statistics.median(m["tokens_per_second"] for m in runs[SETTINGS[0]])
    for (precision, malloc), metrics in runs.items():
        speed = statistics.median(m["tokens_per_second"] for m in metrics)
        losses = sorted({m["final_train_loss"] for m in metrics})
        print(f"| {precision} | {malloc} | {speed:,.0f} | {speed / reference:.2f}× | {', '.join(map(str, losses))} | "
              f"{max(m['peak_memory_gib'] for m in metrics)} |")


if __name__ == "__main__":
    run_stage(main)
