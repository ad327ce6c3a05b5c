"""Batched greedy generation on the fixed test set: left padding, length-sorted batches, stop at end-of-turn."""

import time
from collections.abc import Callable
from typing import Any

import torch

from pressft.chat import eot_id, prompt_ids


def generate_predictions(
    model,
    tokenizer,
    examples: list[dict[str, Any]],
    *,
    max_new_tokens: dict[str, int],
    max_length: int,
    date_string: str,
    batch_size: int,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """One prediction record per example, in the examples' order.

    Prompts are grouped by task (one max_new_tokens per batch) and sorted by length, so a batch holds
    prompts of similar length: little padding in prefill and no short answer waiting on a long one's limit.
    """
    end = eot_id(tokenizer)
    jobs = []
    for index, example in enumerate(examples):
        limit = max_new_tokens[example["task"]]
        ids, cut = prompt_ids(tokenizer, example, max_length - limit, date_string)
        jobs.append((example["task"], len(ids), index, ids, cut, limit))
    jobs.sort(key=lambda job: (job[0], job[1], job[2]))
    batches = []
    for task in dict.fromkeys(job[0] for job in jobs):  # one task per batch: one token limit
        group = [job for job in jobs if job[0] == task]
        batches.extend(group[i : i + batch_size] for i in range(0, len(group), batch_size))
    results: list[dict[str, Any] | None] = [None] * len(examples)
    start = time.time()
    done = 0
    for number, batch in enumerate(batches, start=1):
        padded = tokenizer.pad({"input_ids": [job[3] for job in batch]}, padding_side="left", return_tensors="pt")
        with torch.inference_mode():
            output = model.generate(
                input_ids=padded["input_ids"].to(model.device),
                attention_mask=padded["attention_mask"].to(model.device),
                max_new_tokens=batch[0][5],
                do_sample=False,
                eos_token_id=end,
                pad_token_id=tokenizer.pad_token_id,
            )
        new_tokens = output[:, padded["input_ids"].shape[1] :].tolist()
        for (task, n_prompt, index, _, cut, limit), tokens in zip(batch, new_tokens, strict=True):
            stopped = end in tokens
            tokens = tokens[: tokens.index(end)] if stopped else tokens
            tokens = [token for token in tokens if token != tokenizer.pad_token_id]
            example = examples[index]
            results[index] = {
                "id": example["id"],
                "task": task,
                "reference": example["reference"],
                "prediction": tokenizer.decode(tokens, skip_special_tokens=True).strip(),
                "prompt_tokens": n_prompt,
                "output_tokens": len(tokens),
                "hit_limit": not stopped,
                "input_tokens_cut": cut,
            }
        done += len(batch)
        if number == 1 or number % 5 == 0 or number == len(batches):
            log(f"generated {done}/{len(examples)} ({task})  {time.time() - start:.0f}s")
    return results  # type: ignore[return-value]


def answer_nll(
    model,
    tokenizer,
    examples: list[dict[str, Any]],
    *,
    max_length: int,
    date_string: str,
    batch_size: int,
) -> list[tuple[float, int]]:
    """(summed negative log-likelihood, token count) of each reference answer and its end-of-turn, given the prompt.

    The quantity fine-tuning minimises, computed exactly as in training (same prompt, same mask), so the
    perplexities of the base and the fine-tuned model compare like for like. Not the answer text alone: without
    its prompt an answer's likelihood says little about the task.
    """
    from pressft.chat import encode_for_training

    rows = [encode_for_training(tokenizer, example, max_length, date_string) for example in examples]
    order = sorted(range(len(rows)), key=lambda index: len(rows[index]["input_ids"]))
    results: list[tuple[float, int] | None] = [None] * len(rows)
    for start in range(0, len(order), batch_size):
        batch = [rows[index] for index in order[start : start + batch_size]]
        padded = tokenizer.pad({"input_ids": [row["input_ids"] for row in batch]}, padding_side="right",
                               return_tensors="pt")
        mask = torch.zeros_like(padded["input_ids"])
        for b, row in enumerate(batch):
            mask[b, : len(row["completion_mask"])] = torch.tensor(row["completion_mask"])
        with torch.inference_mode():
            logits = model(input_ids=padded["input_ids"].to(model.device),
                           attention_mask=padded["attention_mask"].to(model.device)).logits.float()
        # Token t is predicted from position t - 1.
        targets = padded["input_ids"][:, 1:].to(logits.device)
        nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), targets, reduction="none")
        trained = mask[:, 1:].to(logits.device).bool()
        for b, index in enumerate(order[start : start + batch_size]):
            results[index] = (float(nll[b][trained[b]].sum()), int(trained[b].sum()))
    return results  # type: ignore[return-value]
