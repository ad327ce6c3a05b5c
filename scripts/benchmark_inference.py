"""Inference benchmark: the reference study's generation (one prompt at a time, sampled) against this project's
(batched, grouped, sorted, merged) on the same fine-tuned model and test prompts, in one run; prints the speed
ratio and where the time goes.

    python scripts/benchmark_inference.py                    # models/adapter from `dvc repro`, 16 prompts per task
    python scripts/benchmark_inference.py --per-task 40 --out benchmark.json
"""

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pressft.benchmark import compare_methods  # noqa: E402
from pressft.modeling import ADAPTER_FILE, load_for_inference, load_model  # noqa: E402
from pressft.params import load_params  # noqa: E402
from pressft.sources import read_records  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", default="models/adapter", help="the fine-tuned adapter directory")
    parser.add_argument("--test", default="data/tasks/test.jsonl")
    parser.add_argument("--per-task", type=int, default=16, help="test prompts per task (first by article id)")
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    args = parser.parse_args()
    if not (Path(args.adapter) / ADAPTER_FILE).exists():
        raise SystemExit(f"error: {args.adapter} is not an adapter of this pipeline; run `dvc repro` first")
    params = load_params()
    examples = []
    for task in params["tasks"]["names"]:
        examples += sorted((e for e in read_records(args.test) if e["task"] == task), key=lambda e: e["id"])[: args.per_task]

    from peft import PeftModel

    settings = dict(max_new_tokens=params["infer"]["max_new_tokens"], max_length=params["model"]["max_length"],
                    date_string=params["model"]["date_string"], batch_size=params["infer"]["batch_size"])
    base_dir = json.loads((Path(args.adapter) / ADAPTER_FILE).read_text())["base_model"]
    base, tokenizer = load_model(base_dir)
    unmerged = PeftModel.from_pretrained(base, args.adapter).eval()
    merged, _ = load_for_inference(args.adapter)
    if merged.device.type == "cuda":
        unmerged = unmerged.to(device=merged.device, dtype=merged.dtype)
    results = {"finetuned": compare_methods(unmerged, merged, tokenizer, examples, **settings)}
    del unmerged, merged
    # The untouched base model: no adapter, so "unmerged" and "merged" are the same weights.
    plain, _ = load_for_inference(base_dir)
    results["base"] = compare_methods(plain, plain, tokenizer, examples, **settings)

    print(f"\n{len(examples)} prompts ({args.per_task} per task), batch {settings['batch_size']}, device {plain.device}")
    for name, rows in results.items():
        print(f"\n{name} model\n")
        print("| method | seconds | speed-up | prefill s | decode s | padding in prefill | wasted decode slots |")
        print("|---|---|---|---|---|---|---|")
        for row in rows:
            print(f"| {row['method']} | {row['seconds']} | {row['speedup']}× | {row['prefill_seconds']} | "
                  f"{row['decode_seconds']} | {row['padding_share']:.0%} | {row['wasted_decode_share']:.0%} |")
    reference = sum(rows[0]["seconds"] for rows in results.values())
    ours = sum(rows[-1]["seconds"] for rows in results.values())
    print(f"\ninfer stage's work (base + fine-tuned): reference method {reference:.1f} s, this project {ours:.1f} s: "
          f"{reference / ours:.1f}× faster")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
