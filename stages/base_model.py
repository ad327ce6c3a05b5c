"""Stage base_model: build the tiny embedded Llama, or copy a hub/local model, into one model directory."""

import argparse

from pressft.config import EMBEDDED, load_config
from pressft.errors import run_stage
from pressft.io import read_jsonl
from pressft.model.modeling import build_embedded_model, prepare_base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pool", required=True, help="train-pool articles (the embedded model learns their text)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    model = load_config("model").model
    if model.base == EMBEDDED:
        summary = build_embedded_model(read_jsonl(args.pool), model.embedded, args.out)
    else:
        summary = prepare_base(model.base, args.out)
    print(f"base_model: {summary['source']}, {summary['parameters']:,} parameters -> {args.out}")


if __name__ == "__main__":
    run_stage(main)
