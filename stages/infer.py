"""Stage infer: batched greedy generation of one model (base, or base + adapter merged) on the fixed test set."""

import argparse

from pressft.errors import run_stage
from pressft.generation import generate_predictions
from pressft.modeling import load_for_inference
from pressft.params import load_params
from pressft.sources import read_records, write_jsonl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="base model directory or adapter directory")
    parser.add_argument("--test", required=True)
    parser.add_argument("--out", required=True, help="predictions JSONL")
    args = parser.parse_args()
    params = load_params()
    model, tokenizer = load_for_inference(args.model)
    predictions = generate_predictions(
        model,
        tokenizer,
        read_records(args.test),
        max_new_tokens=params["infer"]["max_new_tokens"],
        max_length=params["model"]["max_length"],
        date_string=params["model"]["date_string"],
        batch_size=params["infer"]["batch_size"],
    )
    write_jsonl(predictions, args.out)
    limited = sum(p["hit_limit"] for p in predictions)
    print(f"infer: {len(predictions)} predictions from {args.model} ({limited} hit the token limit) -> {args.out}")


if __name__ == "__main__":
    run_stage(main)
