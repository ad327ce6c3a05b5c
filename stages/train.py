"""Stage train: LoRA fine-tuning on the first train.size pool articles; adapter, training metrics, and the loss curves
logged with dvclive step by step while it trains."""

import argparse
import os
from pathlib import Path

from pressft.config import load_config
from pressft.errors import run_stage
from pressft.io import read_jsonl, write_json
from pressft.model.modeling import EMULATED_BF16, bf16_emulated
from pressft.model.training import select_training, train_lora


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True, help="base model directory (relative to the repository root)")
    parser.add_argument("--pool", required=True)
    parser.add_argument("--val", required=True)
    parser.add_argument("--out", required=True, help="adapter directory")
    parser.add_argument("--metrics", required=True, help="training metrics JSON")
    parser.add_argument("--curves", required=True, help="dvclive folder of the curves (pressft.model.curves)")
    args = parser.parse_args()
    config = load_config("train", "model")
    train = config.train
    examples = select_training(read_jsonl(args.pool), train.size, train.type_oversample_cap)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"train: {len({e['id'] for e in examples})} articles -> {len(examples)} examples (minority types "
              "oversampled)")
        if train.precision == "bf16" and bf16_emulated():
            print(f"train: warning: {EMULATED_BF16}; set train.precision to auto or fp32 (the adapter then differs)")
    result = train_lora(args.base, examples, read_jsonl(args.val), train, config.model, args.out,
                        work_dir=Path(args.out).with_name("checkpoints"), curves=args.curves)
    if result is None:  # another process of a multi-process (accelerate) run: the main process writes the outputs
        return
    metrics = result.metrics
    write_json(metrics, args.metrics)
    print(
        f"train: {metrics['steps']} steps in {metrics['runtime_seconds']}s ({metrics['tokens_per_second']:.0f} tokens/s, "
        f"peak memory {metrics['peak_memory_gib']} GiB), best eval loss {metrics['best_eval_loss']} "
        f"at step {metrics['best_step']} -> {args.out}"
    )


if __name__ == "__main__":
    run_stage(main)
