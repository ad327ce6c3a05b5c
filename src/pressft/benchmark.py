"""Inference speed, measured side by side on the same model and prompts: the reference study's method (one
prompt at a time, top-p sampling at temperature 0.7, adapter not merged), plain batching, and this project's
(batched greedy, grouped by task and sorted by length, adapter merged), with where the time goes."""

import random
import time
from typing import Any

import torch

from pressft.chat import eot_id
from pressft.generation import generate_predictions, plan_batches

# A job is (task, prompt length, example index, prompt ids, input tokens cut, token limit), as plan_batches makes it.
Batch = list[tuple]


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _prefill(model, tokenizer, batches: list[Batch]) -> tuple[float, int, int]:
    """Seconds of the prompt forward passes alone, real prompt tokens, padded prompt tokens."""
    real = padded_total = 0
    _sync()
    start = time.perf_counter()
    for batch in batches:
        padded = tokenizer.pad({"input_ids": [job[3] for job in batch]}, padding_side="left", return_tensors="pt")
        with torch.inference_mode():  # logits of the last position only, as generate() computes them
            model(input_ids=padded["input_ids"].to(model.device),
                  attention_mask=padded["attention_mask"].to(model.device), logits_to_keep=1)
        real += sum(job[1] for job in batch)
        padded_total += padded["input_ids"].numel()
    _sync()
    return time.perf_counter() - start, real, padded_total


def _generate(model, tokenizer, batches: list[Batch], *, sample: bool, seed: int) -> tuple[float, list[list[int]]]:
    """Seconds, and the number of new tokens (end-of-turn included) of each row, batch by batch."""
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
                                    max_new_tokens=max(job[5] for job in batch), eos_token_id=end,
                                    pad_token_id=tokenizer.pad_token_id, **sampling)
        rows = output[:, padded["input_ids"].shape[1]:].tolist()
        lengths.append([row.index(end) + 1 if end in row else len(row) for row in rows])
    _sync()
    return time.perf_counter() - start, lengths


def _row(method: str, seconds: float, lengths: list[list[int]], prefill: tuple[float, int, int], prompts: int) -> dict:
    prefill_seconds, real, padded = prefill
    generated = sum(map(sum, lengths))
    # A batch keeps decoding until its longest row ends; every row pays for those steps.
    slots = sum(len(rows) * max(rows) for rows in lengths)
    return {
        "method": method,
        "seconds": round(seconds, 2),
        "prompts_per_second": round(prompts / seconds, 2),
        "prefill_seconds": round(prefill_seconds, 2),
        "decode_seconds": round(max(seconds - prefill_seconds, 0.0), 2),
        "padding_share": round(1 - real / max(padded, 1), 3),
        "wasted_decode_share": round(1 - generated / max(slots, 1), 3),
        "generated_tokens": generated,
    }


def compare_methods(unmerged, merged, tokenizer, examples: list[dict], *, max_new_tokens: dict[str, int],
                    max_length: int, date_string: str, batch_size: int, seed: int = 0) -> list[dict[str, Any]]:
    """The same prompts through four methods; `unmerged` is base + LoRA as peft runs it, `merged` the merged model."""
    planned = plan_batches(tokenizer, examples, max_new_tokens, max_length, date_string, batch_size)
    jobs = sorted((job for batch in planned for job in batch), key=lambda job: job[2])  # back to example order
    one_by_one = [[job] for job in jobs]
    arrival = jobs[:]
    random.Random(seed).shuffle(arrival)  # mixed tasks and lengths, as requests would come
    plain = [arrival[i : i + batch_size] for i in range(0, len(arrival), batch_size)]
    for model in (unmerged, merged):  # first calls pay for kernel selection and allocation: not part of a method
        _generate(model, tokenizer, planned[:1], sample=False, seed=seed)
    rows = []
    for method, model, batches, sample in [
        ("reference: one at a time, sampled, adapter unmerged", unmerged, one_by_one, True),
        ("plain batches (arrival order), greedy, unmerged", unmerged, plain, False),
        ("grouped by task + sorted by length, unmerged", unmerged, planned, False),
    ]:
        seconds, lengths = _generate(model, tokenizer, batches, sample=sample, seed=seed)
        rows.append(_row(method, seconds, lengths, _prefill(model, tokenizer, batches), len(jobs)))
    # This project's path, exactly as the infer stage runs it.
    _sync()
    start = time.perf_counter()
    records = generate_predictions(merged, tokenizer, examples, max_new_tokens=max_new_tokens, max_length=max_length,
                                   date_string=date_string, batch_size=batch_size, log=lambda line: None)
    _sync()
    seconds = time.perf_counter() - start
    lengths = [[records[job[2]]["output_tokens"] + (0 if records[job[2]]["hit_limit"] else 1) for job in batch]
               for batch in planned]
    rows.append(_row("this project: grouped + sorted, greedy, adapter merged", seconds, lengths,
                     _prefill(merged, tokenizer, planned), len(jobs)))
    reference = rows[0]["seconds"]
    for row in rows:
        row["speedup"] = round(reference / row["seconds"], 2)
    return rows
