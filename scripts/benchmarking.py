"""Speed, measured side by side: for inference, the reference study's method (one prompt at a time, top-p sampling
at temperature 0.7, adapter not merged) on the same model and prompts, then this project's ingredients added one at
a time, with where the time goes; for training, a plain LoRA loop as the reference's (scripts/benchmark_training.py
sets it against the train stage)."""

import copy
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from pressft.config import InferConfig, ModelConfig, TrainConfig
from pressft.model.chat import eot_id
from pressft.model.generation import Job, generate_predictions, plan_batches, shared_prefix_length
from pressft.model.modeling import ADAPTER_FILE

Batch = list[Job]


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _generate(model, tokenizer, batches: list[Batch], *, sample: bool, seed: int, limit: int | None = None):
    """Seconds, and the number of new tokens (end-of-turn included) of each row, batch by batch; plain
    generate() on left-padded batches. `limit` overrides the tasks' token limits (1: the prefill alone)."""
    end = eot_id(tokenizer)
    torch.manual_seed(seed)
    lengths = []
    _sync()
    start = time.perf_counter()
    for batch in batches:
        padded = tokenizer.pad({"input_ids": [job.prompt for job in batch]}, padding_side="left", return_tensors="pt")
        sampling = {"do_sample": True, "temperature": 0.7, "top_p": 0.9} if sample else {"do_sample": False}
        with torch.inference_mode():
            output = model.generate(input_ids=padded["input_ids"].to(model.device),
                                    attention_mask=padded["attention_mask"].to(model.device),
                                    max_new_tokens=limit or max(job.limit for job in batch), eos_token_id=end,
                                    pad_token_id=tokenizer.pad_token_id, **sampling)
        rows = output[:, padded["input_ids"].shape[1]:].tolist()
        lengths.append([row.index(end) + 1 if end in row else len(row) for row in rows])
    _sync()
    return time.perf_counter() - start, lengths


def _project(model, tokenizer, examples, planned: list[Batch], settings: dict, limit: int | None = None):
    """Seconds and new tokens per row of generate_predictions, exactly as the infer stage runs it."""
    limits = {task: limit for task in settings["max_new_tokens"]} if limit else settings["max_new_tokens"]
    _sync()
    start = time.perf_counter()
    records = generate_predictions(model, tokenizer, examples, **{**settings, "max_new_tokens": limits},
                                   log=lambda line: None)
    _sync()
    seconds = time.perf_counter() - start
    return seconds, [[records[job.index]["output_tokens"] + (0 if records[job.index]["hit_limit"] else 1) for job in batch]
                     for batch in planned]


def _prompt_tokens(batches: list[Batch], prefix_reuse: bool) -> tuple[int, int]:
    """(real prompt tokens, prompt tokens run through the model: padding included, a reused prefix once per task)."""
    real = sum(job.prompt_length for batch in batches for job in batch)
    if not prefix_reuse:
        return real, sum(len(batch) * max(job.prompt_length for job in batch) for batch in batches)
    run = 0
    for task in dict.fromkeys(batch[0].task for batch in batches):
        group = [batch for batch in batches if batch[0].task == task]
        shared = shared_prefix_length([job.prompt for batch in group for job in batch])
        run += shared + sum(len(batch) * (max(job.prompt_length for job in batch) - shared) for batch in group)
    return real, run


def _row(method: str, seconds: float, lengths: list[list[int]], prefill_seconds: float, tokens: tuple[int, int],
         prompts: int) -> dict:
    real, run = tokens
    generated = sum(map(sum, lengths))
    # A batch keeps decoding until its longest row ends; every row pays for those steps.
    slots = sum(len(rows) * max(rows) for rows in lengths)
    return {
        "method": method,
        "seconds": round(seconds, 2),
        "prompts_per_second": round(prompts / seconds, 2),
        "prefill_seconds": round(prefill_seconds, 2),
        "decode_seconds": round(max(seconds - prefill_seconds, 0.0), 2),
        "prompt_tokens_run": run,
        "prompt_tokens_run_share": round(run / max(real, 1), 3),
        "wasted_decode_share": round(1 - generated / max(slots, 1), 3),
        "generated_tokens": generated,
    }


def reference_dtype() -> str:
    """The infer.dtype value of the reference's method: the weights as stored (fp32 for the embedded model on a
    CPU), bf16 on a GPU, as the reference study ran."""
    return "auto" if torch.cuda.is_available() else "fp32"


def compare_methods(unmerged, merged, tokenizer, examples: list[dict], *, max_new_tokens: dict[str, int],
                    max_length: int, date_string: str, batch_size: int, low_precision: torch.dtype | None = None,
                    seed: int = 0, steps: bool = True) -> list[dict[str, Any]]:
    """The same prompts through the reference's method and then this project's ingredients one at a time.

    `unmerged` is base + LoRA as peft runs it, `merged` the merged model (the same object for a model without an
    adapter), both in the dtype the reference would run. With `low_precision`, two more rows: this project in
    that dtype, and the reference's method in it as a control, so the gain of the dtype shows on its own.
    Prefill is timed as the same method with a limit of one new token. Without `steps`, only the reference's method
    and this project's rows: the comparison itself, at a fraction of the time on many prompts.
    """
    settings = dict(max_new_tokens=max_new_tokens, max_length=max_length, date_string=date_string,
                    batch_size=batch_size)
    planned = plan_batches(tokenizer, examples, max_new_tokens, max_length, date_string, batch_size)
    jobs = sorted((job for batch in planned for job in batch), key=lambda job: job.index)  # back to example order
    one_by_one = [[job] for job in jobs]
    arrival = jobs[:]
    random.Random(seed).shuffle(arrival)  # mixed tasks and lengths, as requests would come
    plain = [arrival[i : i + batch_size] for i in range(0, len(arrival), batch_size)]

    # The role says which rows the summary compares: the reference, this project as infer runs it, the control.
    def batched(method, model, batches, sample=False, role="step"):
        _generate(model, tokenizer, batches[:1], sample=sample, seed=seed)  # first calls pay for kernel selection
        seconds, lengths = _generate(model, tokenizer, batches, sample=sample, seed=seed)
        prefill, _ = _generate(model, tokenizer, batches, sample=sample, seed=seed, limit=1)
        return _row(method, seconds, lengths, prefill, _prompt_tokens(batches, False), len(jobs)) | {"role": role}

    def project(method, model, role):
        generate_predictions(model, tokenizer, [examples[job.index] for job in planned[0]], **settings,
                             log=lambda line: None)  # first calls pay for kernel selection
        seconds, lengths = _project(model, tokenizer, examples, planned, settings)
        prefill, _ = _project(model, tokenizer, examples, planned, settings, limit=1)
        return _row(method, seconds, lengths, prefill, _prompt_tokens(planned, True), len(jobs)) | {"role": role}

    dtype = str(merged.dtype).removeprefix("torch.")
    adapter = unmerged is not merged
    lower = low_precision is not None and low_precision != merged.dtype
    rows = [batched(f"reference: one at a time, sampled{', adapter unmerged' if adapter else ''} ({dtype})", unmerged,
                    one_by_one, sample=True, role="reference")]
    if steps:
        rows.append(batched("batches in arrival order, greedy", unmerged, plain))
        rows.append(batched("+ grouped by task, sorted by length", unmerged, planned))
        if adapter:
            rows.append(batched("+ adapter merged", merged, planned))
    last = "+ task prefix computed once, static KV cache" if steps else "this project (infer stage)"
    rows.append(project(last, merged, "step" if lower else "project"))
    if lower:
        name = str(low_precision).removeprefix("torch.")
        rows.append(project(f"+ {name} weights", copy.deepcopy(merged).to(low_precision), "project"))
        control = copy.deepcopy(unmerged).to(low_precision)
        rows.append(batched(f"control: the reference's method in {name}", control, one_by_one, sample=True,
                            role="control"))
    for row in rows:
        row["speedup"] = round(rows[0]["seconds"] / row["seconds"], 2)
    return rows


def median_step_speed(steps: list[tuple[float, int]]) -> float:
    """Real tokens/s of the median step, of (seconds, real tokens) per step: the pace a long run keeps once its
    one-off costs are paid (torch.compile compiles in the first steps and again at a new batch shape), where the
    whole run's tokens/s counts them."""
    return round(statistics.median(tokens / seconds for seconds, tokens in steps), 1)


def plain_lora_loop(base_dir: str, examples: list[dict[str, Any]], train: TrainConfig, model_params: ModelConfig,
                    out_dir) -> dict[str, Any]:
    """The reference study's way to train, as a plain loop: the same examples, LoRA, optimiser and schedule as the
    train stage, but batches in data order padded to their longest row, sdpa attention and the model's own loss
    (full logits at every position). Saves the adapter to out_dir; returns the train stage's metric names."""
    from peft import LoraConfig, get_peft_model
    from transformers import get_scheduler, set_seed

    from pressft.model.chat import encode_for_training
    from pressft.model.modeling import load_model

    set_seed(train.seed)
    model, tokenizer = load_model(base_dir, attn_implementation="sdpa")
    lora = train.lora
    model = get_peft_model(model, LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                             target_modules=list(lora.target_modules), task_type="CAUSAL_LM"))
    rows = [encode_for_training(tokenizer, example, model_params.max_length, model_params.date_string)
            for example in examples]
    size = train.batch_size
    batches = [rows[i : i + size] for i in range(0, len(rows), size)]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=train.lr,
                                  weight_decay=train.weight_decay)
    schedule = get_scheduler(train.scheduler, optimizer, train.warmup_steps, len(batches))
    model.train()
    losses, tokens, steps = [], 0, []
    start = time.perf_counter()
    for batch in batches:
        began = time.perf_counter()
        padded = tokenizer.pad({"input_ids": [row["input_ids"] for row in batch]}, padding_side="right",
                               return_tensors="pt")
        labels = torch.full_like(padded["input_ids"], -100)
        for b, row in enumerate(batch):
            answer = torch.tensor(row["completion_mask"]).bool()
            labels[b, : len(answer)][answer] = torch.tensor(row["input_ids"])[answer]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=train.precision == "bf16"):
            loss = model(**padded, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        real = int(padded["attention_mask"].sum())
        tokens += real
        steps.append((time.perf_counter() - began, real))
    seconds = time.perf_counter() - start
    model.save_pretrained(str(out_dir))
    (Path(out_dir) / ADAPTER_FILE).write_text(json.dumps({"base_model": base_dir}) + "\n")
    tokenizer.save_pretrained(str(out_dir))
    return {"train_examples": len(rows), "steps": len(batches), "tokens_seen": tokens,
            "tokens_per_second": round(tokens / seconds, 1), "median_step_tokens_per_second": median_step_speed(steps),
            "runtime_seconds": round(seconds, 1),
            "final_train_loss": round(sum(losses[-10:]) / len(losses[-10:]), 4),
            "parameters": model.get_nb_trainable_parameters()[1] - model.get_nb_trainable_parameters()[0]}


def answer_columns_loss(model, inputs: dict[str, Any], num_items_in_batch=None, processes: int = 1) -> torch.Tensor:
    """The train stage's answer-token loss as it was before it ran the LM head at each row's own answer positions: at
    every column where some row of the batch has an answer token (the same loss, more vocabulary projections)."""
    targets = inputs["labels"][:, 1:]
    keep = (targets != -100).any(dim=0).nonzero().squeeze(1)
    logits = model(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"), use_cache=False,
                   logits_to_keep=keep).logits
    total = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), targets[:, keep].flatten(),
                                              ignore_index=-100, reduction="sum")
    count = (targets != -100).sum() if num_items_in_batch is None else num_items_in_batch
    scale = processes if num_items_in_batch is not None else 1
    return total / torch.as_tensor(count, device=total.device).clamp(min=1) * scale


def eval_loss(adapter_dir, examples: list[dict[str, Any]], infer: InferConfig, model_params: ModelConfig) -> float:
    """Mean loss per answer token of an adapter on examples, in fp32, as the infer stage scores answers."""
    from pressft.model.generation import answer_nll
    from pressft.model.modeling import load_for_inference

    model, tokenizer = load_for_inference(adapter_dir, "fp32")
    scored = answer_nll(model, tokenizer, examples, max_new_tokens=infer.max_new_tokens,
                        max_length=model_params.max_length, date_string=model_params.date_string,
                        batch_size=infer.batch_size, log=lambda line: None)
    return round(sum(nll for nll, _ in scored) / sum(count for _, count in scored), 4)
