"""Batched greedy generation on the fixed test set: left padding, length-sorted batches, stop at end-of-turn."""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from pressft.chat import eot_id, prompt_ids


def _jobs(tokenizer, examples, max_new_tokens: dict[str, int], max_length: int, date_string: str) -> list[tuple]:
    """(task, prompt length, index, prompt ids, input tokens cut, token limit) per example, grouped by task and
    sorted by length: a batch then holds prompts of similar length, so little padding goes into prefill and no
    short answer waits on a long one's limit."""
    jobs = []
    for index, example in enumerate(examples):
        limit = max_new_tokens[example["task"]]
        ids, cut = prompt_ids(tokenizer, example, max_length - limit, date_string)
        jobs.append((example["task"], len(ids), index, ids, cut, limit))
    return sorted(jobs, key=lambda job: (job[0], job[1], job[2]))


def plan_batches(tokenizer, examples, max_new_tokens: dict[str, int], max_length: int, date_string: str,
                 batch_size: int) -> list[list[tuple]]:
    """Batches of jobs: one task per batch (one token limit), prompts of similar length together."""
    jobs = _jobs(tokenizer, examples, max_new_tokens, max_length, date_string)
    batches = []
    for task in dict.fromkeys(job[0] for job in jobs):
        group = [job for job in jobs if job[0] == task]
        batches.extend(group[i : i + batch_size] for i in range(0, len(group), batch_size))
    return batches


def _record(example: dict[str, Any], job: tuple, text: str, output_tokens: int, stopped: bool) -> dict[str, Any]:
    task, n_prompt, _, _, cut, _ = job
    return {
        "id": example["id"],
        "task": task,
        "reference": example["reference"],
        "prediction": text.strip(),
        "prompt_tokens": n_prompt,
        "output_tokens": output_tokens,
        "hit_limit": not stopped,
        "input_tokens_cut": cut,
    }


def shared_prefix_length(sequences: list[list[int]]) -> int:
    """Tokens that every sequence starts with, leaving each at least one token of its own (the last prompt
    position's logits choose the first new token, so it must run in the batch)."""
    if not sequences:
        return 0
    first, limit = sequences[0], min(map(len, sequences)) - 1
    for position in range(limit):
        if any(sequence[position] != first[position] for sequence in sequences[1:]):
            return position
    return limit


def _prefix_cache(model, prefix: list[int]):
    """The keys and values of a prompt prefix, computed once for a whole task."""
    if not prefix:
        return None
    with torch.inference_mode():
        return model(input_ids=torch.tensor([prefix], device=model.device), use_cache=True).cache


def _batch_inputs(model, tokenizer, batch: list[tuple], prefix: list[int], prefix_cache, limit: int):
    """(input ids, attention mask, KV cache) for one batch whose prompts all start with `prefix`.

    The rows are the prefix, then each prompt's remainder left-padded, so the padding sits between the two.
    Positions come from the attention mask (generate() derives them from it), so every row sees exactly its
    own prompt at its own positions: in fp32 the outputs are those of a full prefill, token for token (tested; in
    bf16 the rounding of a differently shaped matmul can flip a near-tie now and then). The cache is static (written in
    place, where the default cache concatenates every layer's keys and values at every step) and holds the
    prefix for every row before generate() runs, which then computes only the remainders.
    """
    from transformers import StaticCache

    padded = tokenizer.pad({"input_ids": [job[3][len(prefix):] for job in batch]}, padding_side="left",
                           return_tensors="pt")
    rows = len(batch)
    mask = padded["attention_mask"]
    input_ids = torch.cat([torch.tensor([prefix], dtype=padded["input_ids"].dtype).expand(rows, -1),
                           padded["input_ids"]], dim=1)
    mask = torch.cat([torch.ones(rows, len(prefix), dtype=mask.dtype), mask], dim=1)
    cache = StaticCache(config=model.config, max_cache_len=input_ids.shape[1] + limit)
    if prefix_cache is not None:
        for layer, source in zip(cache.layers, prefix_cache.layers, strict=True):
            layer.update(source.keys.expand(rows, -1, -1, -1), source.values.expand(rows, -1, -1, -1))
    return input_ids.to(model.device), mask.to(model.device), cache


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
    """One prediction record per example, in the examples' order: batched greedy decoding, left padding.

    The prompts of one task share their start (chat header, system message), so that prefix is computed
    once per task and every batch continues from its keys and values (see _batch_inputs).
    """
    end = eot_id(tokenizer)
    batches = plan_batches(tokenizer, examples, max_new_tokens, max_length, date_string, batch_size)
    prefixes = {}
    for task in dict.fromkeys(batch[0][0] for batch in batches):
        ids = [job[3] for batch in batches if batch[0][0] == task for job in batch]
        prefix = ids[0][: shared_prefix_length(ids)]
        prefixes[task] = (prefix, _prefix_cache(model, prefix))
    results: list[dict[str, Any] | None] = [None] * len(examples)
    start = time.time()
    done = 0
    for number, batch in enumerate(batches, start=1):
        task, limit = batch[0][0], batch[0][5]
        input_ids, mask, cache = _batch_inputs(model, tokenizer, batch, *prefixes[task], limit)
        with torch.inference_mode():
            output = model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                cache=cache,
                max_new_tokens=limit,
                do_sample=False,
                eos_token_id=end,
                pad_token_id=tokenizer.pad_token_id,
            )
        new_tokens = output[:, input_ids.shape[1] :].tolist()
        for job, tokens in zip(batch, new_tokens, strict=True):
            stopped = end in tokens
            # Padding only follows a row's end of turn; before it, every token is the model's (a pad id included).
            tokens = tokens[: tokens.index(end)] if stopped else tokens
            text = tokenizer.decode(tokens, skip_special_tokens=True)
            results[job[2]] = _record(examples[job[2]], job, text, len(tokens), stopped)
        done += len(batch)
        if number == 1 or number % 5 == 0 or number == len(batches):
            log(f"generated {done}/{len(examples)} ({task})  {time.time() - start:.0f}s")
    return results  # type: ignore[return-value]


def generate_with_vllm(
    model_dir: str,
    examples: list[dict[str, Any]],
    *,
    max_new_tokens: dict[str, int],
    max_length: int,
    date_string: str,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """The same records as generate_predictions, decoded greedily by vLLM (GPU, continuous batching).

    vLLM gets the very prompt token ids the transformers path builds, and stops at end-of-turn. An adapter
    is merged into its base and written to a temporary directory first, so vLLM serves one plain model.
    """
    import tempfile

    import vllm
    from vllm.inputs import TokensPrompt

    from pressft.modeling import ADAPTER_FILE, load_for_inference

    with tempfile.TemporaryDirectory() as tmp:
        served = model_dir
        if (Path(model_dir) / ADAPTER_FILE).exists():
            model, tokenizer = load_for_inference(model_dir)
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            served = tmp
            del model
        else:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(model_dir)
        end = eot_id(tokenizer)
        llm = vllm.LLM(model=served, tokenizer=served, dtype="bfloat16", seed=0, max_model_len=max_length)
        results: list[dict[str, Any] | None] = [None] * len(examples)
        # One group per task (one token limit); vLLM batches within it on its own.
        for group in plan_batches(tokenizer, examples, max_new_tokens, max_length, date_string, len(examples)):
            task = group[0][0]
            sampling = vllm.SamplingParams(temperature=0.0, max_tokens=group[0][5], stop_token_ids=[end],
                                           skip_special_tokens=True)
            outputs = llm.generate([TokensPrompt(prompt_token_ids=job[3]) for job in group], sampling)
            for job, output in zip(group, outputs, strict=True):
                completion = output.outputs[0]
                stopped = completion.finish_reason == "stop"
                tokens = [token for token in completion.token_ids if token != end]
                results[job[2]] = _record(examples[job[2]], job, completion.text, len(tokens), stopped)
            log(f"generated {len(group)} ({task}) with vLLM")
    return results  # type: ignore[return-value]


# Rows per forward pass when scoring answers: unlike generation, scoring gains nothing from wide batches, and on a
# CPU 25 rows of SmolLM2 ran faster than 100 (the attention scores of a wide batch leave the caches).
SCORING_BATCH = 25


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
        # Token t is predicted from position t - 1. Only the answer positions go through the LM head: the full
        # logits of a batch (rows x length x vocabulary) would be mostly prompt and cost more than the model.
        trained = mask[:, 1:].bool()
        with torch.inference_mode():
            hidden = model.base_model(input_ids=padded["input_ids"].to(model.device),
                                      attention_mask=padded["attention_mask"].to(model.device)).last_hidden_state
            logits = model.get_output_embeddings()(hidden[:, :-1][trained.to(hidden.device)]).float()
        targets = padded["input_ids"][:, 1:][trained].to(logits.device)
        nll = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
        counts = trained.sum(dim=1).tolist()
        for index, chunk in zip(order[start : start + batch_size], nll.split(counts), strict=True):
            results[index] = (float(chunk.sum()), len(chunk))
    return results  # type: ignore[return-value]
