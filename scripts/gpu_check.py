"""GPU check: throughput of this project's LoRA and QLoRA training and batched generation on a model of
Llama-3.2-1B's shape with random weights. Offline: the model and tokenizer are built here, the articles are
the synthetic corpus. It runs the project's own code (train_lora, load_for_inference, generate_predictions).

    scripts/gpu_check.sh                 # the 1B shape, on a CUDA GPU (a few minutes on one H200)
    scripts/gpu_check.sh --shape tiny    # a tiny shape, on CPU in about a minute (what the tests run)
"""

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from pressft.data.cleaning import clean_corpus
from pressft.model.generation import generate_predictions
from pressft.model.modeling import load_for_inference, train_tokenizer
from pressft.config import LoraConfig, ModelConfig, TrainConfig, load_config
from pressft.data.splits import split_articles
from pressft.data.synthetic import generate_corpus
from pressft.tasks import make_examples
from pressft.model.training import train_lora

# Llama-3.2-1B: 16 layers, hidden 2048, 32 heads, 8 KV heads, MLP 8192, vocabulary 128256, tied embeddings.
SHAPES = {
    "1b": {"hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
           "intermediate_size": 8192, "vocab_size": 128256},
    "tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "intermediate_size": 128, "vocab_size": 2048},
}
# Dense bf16 peak of the GPU, for model-FLOPs utilisation (NVIDIA datasheets; H100/H200 SXM).
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}


def build_model(shape: dict, out: Path, articles: list[dict]) -> int:
    """A Llama of the given shape with random weights and a BPE tokenizer trained on the articles; saved as safetensors."""
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    from pressft.model.chat import eot_id
    from pressft.model.modeling import article_text

    tokenizer = train_tokenizer([article_text(a) for a in articles], min(shape["vocab_size"], 8000))
    config = LlamaConfig(**shape, max_position_embeddings=131072, rope_theta=500000.0, tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=eot_id(tokenizer),
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):
        model = LlamaForCausalLM(config).to(dtype)
    model.generation_config = GenerationConfig(eos_token_id=eot_id(tokenizer), pad_token_id=tokenizer.pad_token_id,
                                               bos_token_id=tokenizer.bos_token_id)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    parameters = sum(p.numel() for p in model.parameters())
    del model
    return parameters


def peak_tflops() -> float | None:
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((value for key, value in PEAK_TFLOPS.items() if key in name), None)


def train_run(base: Path, examples: list, train: TrainConfig, model: ModelConfig, out: Path, parameters: int,
              label: str) -> dict:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    metrics = train_lora(str(base), examples, examples[:8], train, model, out / "adapter", out / "checkpoints").metrics
    tokens_per_second = metrics["tokens_per_second"]
    peak = peak_tflops()
    # PaLM's convention: 6 FLOPs per parameter per token (forward 2, backward 4). LoRA skips the gradients of
    # the frozen weights, so it needs about 4 of the 6; MFU is quoted against the usual 6 to stay comparable.
    mfu = 6 * parameters * tokens_per_second / (peak * 1e12) if peak else None
    return {"run": label, "steps": metrics["steps"], "tokens": metrics["tokens_seen"],
            "tokens_per_second": tokens_per_second, "seconds": metrics["runtime_seconds"],
            "peak_memory_gib": metrics["peak_memory_gib"], "mfu": round(mfu, 3) if mfu is not None else None}


def generation_run(adapter: Path, examples: list, tasks: list[str], settings: ModelConfig, batch_size: int) -> dict:
    model, tokenizer = load_for_inference(adapter, "auto")
    limits = {task: 64 for task in tasks}
    generate_predictions(model, tokenizer, examples[:batch_size], max_new_tokens=limits, log=lambda line: None,
                         max_length=settings.max_length, date_string=settings.date_string,
                         batch_size=batch_size)  # warm-up: kernels and caches
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    predictions = generate_predictions(model, tokenizer, examples, max_new_tokens=limits, log=lambda line: None,
                                       max_length=settings.max_length,
                                       date_string=settings.date_string, batch_size=batch_size)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    generated = sum(p["output_tokens"] for p in predictions)
    prompt = sum(p["prompt_tokens"] for p in predictions)
    return {"run": f"generation, batch {batch_size}, greedy", "prompts": len(predictions),
            "prompt_tokens": prompt, "generated_tokens": generated, "seconds": round(seconds, 2),
            "generated_tokens_per_second": round(generated / seconds, 1)}


def speed_comparison(base: Path, adapter: Path, examples: list, tasks: list[str], settings: ModelConfig,
                     batch_size: int, per_task: int) -> dict:
    """benchmarking's side-by-side run (reference loop vs this project's ingredients), same dtype for all:
    bf16 on a GPU, fp32 on a CPU."""
    from peft import PeftModel

    from benchmarking import compare_methods, reference_dtype
    from pressft.model.modeling import load_model

    chosen = [e for task in tasks for e in [x for x in examples if x["task"] == task][:per_task]]
    model, tokenizer = load_model(base)
    unmerged = PeftModel.from_pretrained(model, adapter).eval()
    merged, _ = load_for_inference(adapter, reference_dtype())
    unmerged = unmerged.to(device=merged.device, dtype=merged.dtype)
    limits = {task: 64 for task in tasks}
    rows = compare_methods(unmerged, merged, tokenizer, chosen, max_new_tokens=limits,
                           max_length=settings.max_length, date_string=settings.date_string,
                           batch_size=batch_size)
    return {"prompts": len(chosen), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="1b")
    parser.add_argument("--articles", type=int, default=None, help="training articles (default: 1b 64, tiny 8)")
    parser.add_argument("--max-length", type=int, default=None, help="tokens per example (default: 1b 1024, tiny 256)")
    parser.add_argument("--batch-size", type=int, default=None, help="training batch (default: 1b 8, tiny 4)")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    big = args.shape == "1b"
    if big and not torch.cuda.is_available():
        sys.exit("error: the 1b shape needs a CUDA GPU; run with --shape tiny on CPU")
    n_articles = args.articles or (64 if big else 8)
    config = load_config("tasks", "model", "train")
    model = replace(config.model, max_length=args.max_length or (1024 if big else 256))
    train = replace(
        config.train, size=n_articles, epochs=1, batch_size=args.batch_size or (8 if big else 4), grad_accum=1,
        lr=2e-4, warmup_steps=2, eval_steps=10**6, keep_best=False, type_oversample_cap=1, precision="auto",
        lora=LoraConfig(r=32, alpha=16, dropout=0.0,
                        target_modules=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")),
    )
    corpus, _, _ = clean_corpus(generate_corpus(4 * n_articles + 64, seed=1), min_content_words=1, max_chars=10**6)
    split = split_articles(corpus, test=32, val=8, seed=0)
    tasks, prompts = config.tasks.names, config.tasks.prompts
    train_examples = [e for a in split["pool"][:n_articles] for e in make_examples(a, tasks, prompts)]
    test_examples = [e for a in split["test"] for e in make_examples(a, tasks, prompts)]

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        parameters = build_model(SHAPES[args.shape], tmp / "base", split["pool"])
        print(f"gpu_check: {args.shape} model, {parameters / 1e6:.1f}M parameters, built in "
              f"{time.perf_counter() - start:.0f}s; device {torch.cuda.get_device_name() if big else 'cpu'}",
              flush=True)
        rows.append(train_run(tmp / "base", train_examples, train, model, tmp / "lora", parameters,
                              "LoRA r32, " + ("bf16" if torch.cuda.is_available() else "fp32")))
        try:
            import bitsandbytes  # noqa: F401 - only to know whether QLoRA can run here
        except ImportError:
            bitsandbytes = None
        if torch.cuda.is_available() and bitsandbytes is not None:
            qlora = replace(model, load_in_4bit=True)
            rows.append(train_run(tmp / "base", train_examples, train, qlora, tmp / "qlora", parameters,
                                  "QLoRA r32, 4-bit nf4"))
        else:
            print("gpu_check: QLoRA skipped (needs a CUDA GPU and `pip install bitsandbytes`)", flush=True)
        batch = 64 if big else 8
        rows.append(generation_run(tmp / "lora" / "adapter", test_examples, list(tasks), model, batch))
        speed = speed_comparison(tmp / "base", tmp / "lora" / "adapter", test_examples, list(tasks), model, batch,
                                 32 if big else 8)

    print("\n| run | tokens/s | seconds | peak memory GiB | MFU (6N) |")
    print("|---|---|---|---|---|")
    for row in rows:
        if "tokens_per_second" in row:
            mfu = f"{row['mfu']:.1%}" if row["mfu"] is not None else "n/a"
            print(f"| {row['run']} ({row['steps']} steps, {row['tokens']} tokens) | {row['tokens_per_second']:.0f} | "
                  f"{row['seconds']} | {row['peak_memory_gib']} | {mfu} |")
        else:
            print(f"| {row['run']} ({row['prompts']} prompts, {row['generated_tokens']} new tokens) | "
                  f"{row['generated_tokens_per_second']:.0f} generated | {row['seconds']} | | |")
    print(f"\nthe reference study's generation against this project's, same model and {speed['prompts']} prompts:\n")
    print("| method | seconds | speed-up | prefill s | decode s |")
    print("|---|---|---|---|---|")
    for row in speed["rows"]:
        print(f"| {row['method']} | {row['seconds']} | {row['speedup']}× | {row['prefill_seconds']} | "
              f"{row['decode_seconds']} |")
    project = next(row for row in speed["rows"] if row["role"] == "project")
    print(f"\nthis project's generation: {project['speedup']}× the reference's method (target with the 1b shape: 10×)")
    if args.out:
        Path(args.out).write_text(json.dumps({"shape": args.shape, "parameters": parameters, "rows": rows,
                                              "speed": speed}, indent=2))


if __name__ == "__main__":
    main()
