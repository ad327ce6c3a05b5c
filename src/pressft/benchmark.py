"""Inference speed, measured side by side on the same model and prompts: the reference study's method (one
prompt at a time, top-p sampling at temperature 0.7, adapter not merged), then this project's ingredients added
one at a time, with where the time goes."""

import copy
import random
import time
from typing import Any

import torch

from pressft.chat import eot_id
from pressft.generation import generate_predictions, plan_batches, shared_prefix_length

# A job is (task, prompt length, example index, prompt ids, input tokens cut, token limit), as plan_batches makes it.
Batch = list[tuple]


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
        padded = tokenizer.pad({"input_ids": [job[3] for job in batch]}, padding_side="left", return_tensors="pt")
        sampling = {"do_sample": True, "temperature": 0.7, "top_p": 0.9} if sample else {"do_sample": False}
        with torch.inference_mode():
            output = model.generate(input_ids=padded["input_ids"].to(model.device),
                                    attention_mask=padded["attention_mask"].to(model.device),
                                    max_new_tokens=limit or max(job[5] for job in batch), eos_token_id=end,
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
    return seconds, [[records[job[2]]["output_tokens"] + (0 if records[job[2]]["hit_limit"] else 1) for job in batch]
                     for batch in planned]


def _prompt_tokens(batches: list[Batch], prefix_reuse: bool) -> tuple[int, int]:
    """(real prompt tokens, prompt tokens run through the model: padding included, a reused prefix once per task)."""
    real = sum(job[1] for batch in batches for job in batch)
    if not prefix_reuse:
        return real, sum(len(batch) * max(job[1] for job in batch) for batch in batches)
    run = 0
    for task in dict.fromkeys(batch[0][0] for batch in batches):
        group = [batch for batch in batches if batch[0][0] == task]
        shared = shared_prefix_length([job[3] for batch in group for job in batch])
        run += shared + sum(len(batch) * (max(job[1] for job in batch) - shared) for batch in group)
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
                    seed: int = 0) -> list[dict[str, Any]]:
    """The same prompts through the reference's method and then this project's ingredients one at a time.

    `unmerged` is base + LoRA as peft runs it, `merged` the merged model (the same object for a model without an
    adapter), both in the dtype the reference would run. With `low_precision`, two more rows: this project in
    that dtype, and the reference's method in it as a control, so the gain of the dtype shows on its own.
    Prefill is timed as the same method with a limit of one new token.
    """
    settings = dict(max_new_tokens=max_new_tokens, max_length=max_length, date_string=date_string,
                    batch_size=batch_size)
    planned = plan_batches(tokenizer, examples, max_new_tokens, max_length, date_string, batch_size)
    jobs = sorted((job for batch in planned for job in batch), key=lambda job: job[2])  # back to example order
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
        generate_predictions(model, tokenizer, [examples[job[2]] for job in planned[0]], **settings,
                             log=lambda line: None)  # first calls pay for kernel selection
        seconds, lengths = _project(model, tokenizer, examples, planned, settings)
        prefill, _ = _project(model, tokenizer, examples, planned, settings, limit=1)
        return _row(method, seconds, lengths, prefill, _prompt_tokens(planned, True), len(jobs)) | {"role": role}

    dtype = str(merged.dtype).removeprefix("torch.")
    adapter = unmerged is not merged
    lower = low_precision is not None and low_precision != merged.dtype
    rows = [
        batched(f"reference: one at a time, sampled{', adapter unmerged' if adapter else ''} ({dtype})", unmerged,
                one_by_one, sample=True, role="reference"),
        batched("batches in arrival order, greedy", unmerged, plain),
        batched("+ grouped by task, sorted by length", unmerged, planned),
    ]
    if adapter:
        rows.append(batched("+ adapter merged", merged, planned))
    rows.append(project("+ task prefix computed once, static KV cache", merged, "step" if lower else "project"))
    if lower:
        name = str(low_precision).removeprefix("torch.")
        rows.append(project(f"+ {name} weights", copy.deepcopy(merged).to(low_precision), "project"))
        control = copy.deepcopy(unmerged).to(low_precision)
        rows.append(batched(f"control: the reference's method in {name}", control, one_by_one, sample=True,
                            role="control"))
    for row in rows:
        row["speedup"] = round(rows[0]["seconds"] / row["seconds"], 2)
    return rows
