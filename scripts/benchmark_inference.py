"""Inference benchmark: the reference study's generation (one prompt at a time, sampled) against this project's
(batched, grouped, sorted, merged, task prefix computed once, infer.dtype) on the same models and test prompts,
in one run; prints the speed ratio, each ingredient's share and where the time goes.

    python scripts/benchmark_inference.py                    # models from `dvc repro`, 64 prompts per task
    python scripts/benchmark_inference.py --per-task 100 --headline    # the infer stage's whole test set and batches
    python scripts/benchmark_inference.py --per-task 160 --out benchmark.json

With few prompts per task the project's batches are smaller than `infer.batch_size` and its speed-up is smaller than
the infer stage's: a decode step reads every weight once for the whole batch, so rows share that cost.
"""

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarking import compare_methods, reference_dtype  # noqa: E402
from pressft.model.modeling import ADAPTER_FILE, inference_dtype, load_for_inference, load_model  # noqa: E402
from pressft.io import read_json, read_jsonl, write_json  # noqa: E402
from pressft.config import load_config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", default="models/adapter", help="the fine-tuned adapter directory")
    parser.add_argument("--test", default="data/tasks/test.jsonl")
    parser.add_argument("--per-task", type=int, default=64, help="test prompts per task (first by article id)")
    parser.add_argument("--headline", action="store_true",
                        help="only the reference's method and this project's, not the ingredients one by one")
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    args = parser.parse_args()
    if args.per_task < 1:
        raise SystemExit(f"error: --per-task must be at least 1, got {args.per_task}")
    if not (Path(args.adapter) / ADAPTER_FILE).exists():
        raise SystemExit(f"error: {args.adapter} is not an adapter of this pipeline; run `dvc repro` first")
    config = load_config("tasks", "model", "infer")
    examples = []
    for task in config.tasks.names:
        examples += sorted((e for e in read_jsonl(args.test) if e["task"] == task), key=lambda e: e["id"])[: args.per_task]

    from peft import PeftModel

    settings = dict(max_new_tokens=config.infer.max_new_tokens, max_length=config.model.max_length,
                    date_string=config.model.date_string, batch_size=config.infer.batch_size,
                    low_precision=inference_dtype(config.infer.dtype), steps=not args.headline)
    base_dir = read_json(Path(args.adapter) / ADAPTER_FILE)["base_model"]
    base, tokenizer = load_model(base_dir)
    unmerged = PeftModel.from_pretrained(base, args.adapter).eval()
    merged, _ = load_for_inference(args.adapter, reference_dtype())
    unmerged = unmerged.to(device=merged.device, dtype=merged.dtype)
    results = {"finetuned": compare_methods(unmerged, merged, tokenizer, examples, **settings)}
    del unmerged, merged
    # The untouched base model: no adapter, so "unmerged" and "merged" are the same weights.
    plain, _ = load_for_inference(base_dir, reference_dtype())
    results["base"] = compare_methods(plain, plain, tokenizer, examples, **settings)

    largest = max(sum(1 for e in examples if e["task"] == task) for task in config.tasks.names)
    print(f"\n{len(examples)} prompts ({args.per_task} per task), batches of up to "
          f"{min(largest, settings['batch_size'])} (infer.batch_size {settings['batch_size']}), device {plain.device}")
    for name, rows in results.items():
        print(f"\n{name} model\n")
        print("| method | seconds | speed-up | prefill s | decode s | prompt tokens run / real | wasted decode slots |")
        print("|---|---|---|---|---|---|---|")
        for row in rows:
            print(f"| {row['method']} | {row['seconds']} | {row['speedup']}× | {row['prefill_seconds']} | "
                  f"{row['decode_seconds']} | {row['prompt_tokens_run_share']:.2f} | {row['wasted_decode_share']:.0%} |")
    def seconds(role: str) -> float:
        return sum(row["seconds"] for rows in results.values() for row in rows if row["role"] == role)

    reference, project = seconds("reference"), seconds("project")
    print(f"\ninfer stage's work (base + fine-tuned), infer.dtype={config.infer.dtype}: reference method "
          f"{reference:.1f} s, this project {project:.1f} s: {reference / project:.1f}× faster")
    if seconds("control"):
        print(f"against the reference's method in the same dtype ({seconds('control'):.1f} s): "
              f"{seconds('control') / project:.1f}× faster")
    if args.out:
        write_json(results, args.out)


if __name__ == "__main__":
    main()
