"""Stage infer: batched greedy generation of one model (base, or base + adapter merged) on the fixed test set,
the likelihood of each reference answer given its prompt (for perplexity), and for a label task the most likely
label (infer.label_method)."""

import argparse

import torch

from pressft.config import load_config
from pressft.errors import run_stage
from pressft.io import read_jsonl, write_jsonl
from pressft.model.generation import answer_nll, choose_label, generate_predictions, generate_with_vllm, label_nll
from pressft.model.modeling import EMULATED_BF16, bf16_emulated, load_for_inference, trained_label_repeats
from pressft.tasks import label_choices, repeated_labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="base model directory or adapter directory")
    parser.add_argument("--test", required=True)
    parser.add_argument("--out", required=True, help="predictions JSONL")
    args = parser.parse_args()
    config = load_config("infer", "model")
    infer = config.infer
    examples = read_jsonl(args.test)
    settings = dict(max_new_tokens=infer.max_new_tokens, max_length=config.model.max_length,
                    date_string=config.model.date_string)
    labels = label_choices({example["task"] for example in examples}, infer.label_method)
    repeats = {task: counts for task, counts in trained_label_repeats(args.model).items() if task in labels}
    if repeated := repeated_labels(repeats):
        print(f"infer: label answers corrected for the repeats that trained the adapter: {repeated}")
    model, tokenizer = load_for_inference(args.model, infer.dtype)
    print(f"infer: {model.dtype} on {model.device}")
    if model.dtype == torch.bfloat16 and bf16_emulated():
        print(f"infer: warning: {EMULATED_BF16}; set infer.dtype to auto or fp32 (predictions then differ slightly)")
    if infer.backend == "vllm":
        likelihoods = answer_nll(model, tokenizer, examples, batch_size=infer.batch_size, **settings)
        by_label = label_nll(model, tokenizer, examples, labels, batch_size=infer.batch_size, **settings)
        del model  # vLLM claims most of the GPU's memory for itself
        torch.cuda.empty_cache()
        predictions = generate_with_vllm(args.model, examples, dtype=infer.dtype, **settings)
        for index, (record, (nll, tokens)) in enumerate(zip(predictions, likelihoods, strict=True)):
            record.update(answer_nll=round(nll, 4), answer_tokens=tokens)
            if by_label[index]:
                predictions[index] = choose_label(record, by_label[index], repeats.get(record["task"]))
    else:
        # The reference answers are scored from the keys and values of the prompts that generation computed.
        predictions = generate_predictions(model, tokenizer, examples, batch_size=infer.batch_size,
                                           score_answers=True, labels=labels, label_repeats=repeats,
                                           **settings)
    write_jsonl(predictions, args.out)
    limited = sum(p["hit_limit"] for p in predictions)
    print(f"infer: {len(predictions)} predictions from {args.model} ({limited} hit the token limit) -> {args.out}")


if __name__ == "__main__":
    run_stage(main)
