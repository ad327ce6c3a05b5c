"""Batched greedy generation on the fixed test set: left padding, length-sorted batches, stop at end-of-turn."""

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import torch

from pressft.model.chat import answer_ids, eot_id, prompt_ids
from pressft.tasks import get_task


class Job(NamedTuple):
    """One prompt to answer: its task and token limit, where it sits in the examples, its ids and how much of its
    input was cut to fit."""

    task: str
    prompt_length: int
    index: int
    prompt: list[int]
    cut: int
    limit: int


def _jobs(tokenizer, examples, max_new_tokens: dict[str, int], max_length: int, date_string: str) -> list[Job]:
    """One job per example, grouped by task and sorted by length: a batch then holds prompts of similar length, so
    little padding goes into prefill and no short answer waits on a long one's limit."""
    jobs = []
    for index, example in enumerate(examples):
        limit = max_new_tokens[example["task"]]
        ids, cut = prompt_ids(tokenizer, example, max_length - limit, date_string)
        jobs.append(Job(example["task"], len(ids), index, ids, cut, limit))
    return sorted(jobs, key=lambda job: (job.task, job.prompt_length, job.index))


def plan_batches(tokenizer, examples, max_new_tokens: dict[str, int], max_length: int, date_string: str,
                 batch_size: int) -> list[list[Job]]:
    """Batches of jobs: one task per batch (one token limit), prompts of similar length together."""
    jobs = _jobs(tokenizer, examples, max_new_tokens, max_length, date_string)
    batches = []
    for task in dict.fromkeys(job.task for job in jobs):
        group = [job for job in jobs if job.task == task]
        batches.extend(group[i : i + batch_size] for i in range(0, len(group), batch_size))
    return batches


def _record(example: dict[str, Any], job: Job, text: str, output_tokens: int, stopped: bool) -> dict[str, Any]:
    """The prediction record of one answer: what is used and scored (Task.complete: a tag list without the tag its
    token limit cut short), with the text as generated kept beside it where the two differ."""
    text = text.strip()
    prediction = get_task(job.task).complete(text, stopped)
    return {
        "id": example["id"],
        "task": job.task,
        "reference": example["reference"],
        "prediction": prediction,
        "prompt_tokens": job.prompt_length,
        "output_tokens": output_tokens,
        "hit_limit": not stopped,
        "input_tokens_cut": job.cut,
    } | ({"generated": text} if prediction != text else {})


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


def _batch_inputs(model, tokenizer, batch: list[Job], prefix: list[int], prefix_cache, room: int):
    """(input ids, attention mask, KV cache with `room` free positions after the prompts) for one batch whose prompts
    all start with `prefix`.

    The rows are the prefix, then each prompt's remainder left-padded, so the padding sits between the two.
    Positions come from the attention mask (generate() derives them from it), so every row sees exactly its
    own prompt at its own positions: in fp32 the outputs are those of a full prefill, token for token (tested; in
    bf16 the rounding of a differently shaped matmul can flip a near-tie now and then). The cache is static (written in
    place, where the default cache concatenates every layer's keys and values at every step) and holds the
    prefix for every row before generate() runs, which then computes only the remainders.
    """
    from transformers import StaticCache

    padded = tokenizer.pad({"input_ids": [job.prompt[len(prefix):] for job in batch]}, padding_side="left",
                           return_tensors="pt")
    rows = len(batch)
    mask = padded["attention_mask"]
    input_ids = torch.cat([torch.tensor([prefix], dtype=padded["input_ids"].dtype).expand(rows, -1),
                           padded["input_ids"]], dim=1)
    mask = torch.cat([torch.ones(rows, len(prefix), dtype=mask.dtype), mask], dim=1)
    cache = StaticCache(config=model.config, max_cache_len=input_ids.shape[1] + room)
    if prefix_cache is not None:
        for layer, source in zip(cache.layers, prefix_cache.layers, strict=True):
            layer.update(source.keys.expand(rows, -1, -1, -1), source.values.expand(rows, -1, -1, -1))
    return input_ids.to(model.device), mask.to(model.device), cache


def _positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids of left- or right-padded rows, as generate() derives them from the attention mask."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def _prefill(model, input_ids: torch.Tensor, mask: torch.Tensor, start: int, cache) -> None:
    """Run the prompts' columns from `start` on through the model into `cache`: what generate() does first."""
    if input_ids.shape[1] == start:  # the prefix was all of them (one prompt of a task: all but its last token)
        return
    with torch.inference_mode():
        model.base_model(input_ids=input_ids[:, start:], attention_mask=mask,
                         position_ids=_positions(mask)[:, start:], cache=cache, use_cache=True)


def _score_answers(model, cache, input_ids: torch.Tensor, mask: torch.Tensor,
                   answers: list[list[int]]) -> list[tuple[float, int]]:
    """(summed negative log-likelihood, token count) of each row's answer given its prompt, from a cache that holds
    the prompts (and, after generate(), whatever was generated since: overwritten here, never attended to).

    Only the last prompt column and the answers run through the model: the prompts' keys and values are those the
    generation used, so scoring an answer costs its own tokens, not its prompt's again.
    """
    rows, length = input_ids.shape
    width = max(map(len, answers))
    # Column 0 is each prompt's last token (left padding puts it in the last column); column j predicts answer token j.
    tokens = torch.zeros(rows, 1 + width, dtype=input_ids.dtype)
    tokens[:, 0] = input_ids[:, -1].cpu()
    answered = torch.zeros(rows, width, dtype=torch.bool)
    for row, answer in enumerate(answers):
        tokens[row, 1 : 1 + len(answer)] = torch.tensor(answer)
        answered[row, : len(answer)] = True
    cache.crop(-(int(cache.get_seq_length()) - (length - 1)))  # back to the prompts without their last column
    fed = torch.cat([torch.ones(rows, 1, dtype=torch.bool), answered[:, :-1]], dim=1)
    full = torch.cat([mask.bool().cpu()[:, :-1], fed], dim=1)
    # The static cache attends over all its positions: the mask must cover them (causality hides later ones).
    full = torch.cat([full, torch.zeros(rows, cache.layers[0].max_cache_len - full.shape[1], dtype=torch.bool)], dim=1)
    device = model.device
    with torch.inference_mode():
        hidden = model.base_model(input_ids=tokens[:, :-1].to(device), attention_mask=full.to(device),
                                  position_ids=_positions(full)[:, length - 1 : length - 1 + width].to(device),
                                  cache=cache, use_cache=True).last_hidden_state
        # Only the answer positions go through the LM head: full logits (rows x columns x vocabulary) cost more.
        logits = model.get_output_embeddings()(hidden[answered.to(device)]).float()
    nll = torch.nn.functional.cross_entropy(logits, tokens[:, 1:][answered].to(device), reduction="none")
    return [(float(chunk.sum()), len(chunk)) for chunk in nll.split(answered.sum(dim=1).tolist())]


def _run_batches(model, tokenizer, examples, *, max_new_tokens, max_length, date_string, batch_size, generate: bool,
                 score: bool, log: Callable[[str], None], labels: dict[str, tuple[str, ...]] | None = None,
                 ) -> tuple[list[dict[str, Any] | None], list[tuple | None], list[dict[str, float] | None]]:
    """Per example: its prediction record (if `generate`), its reference answer's (nll, tokens) (if `score`), and for
    the tasks in `labels` the summed nll of each label as the answer, all from one prefill of its prompt."""
    labels = labels or {}
    end = eot_id(tokenizer)
    batches = plan_batches(tokenizer, examples, max_new_tokens, max_length, date_string, batch_size)
    prefixes = {}
    for task in dict.fromkeys(batch[0].task for batch in batches):
        ids = [job.prompt for batch in batches if batch[0].task == task for job in batch]
        prefix = ids[0][: shared_prefix_length(ids)]
        prefixes[task] = (prefix, _prefix_cache(model, prefix))
    records: list[dict[str, Any] | None] = [None] * len(examples)
    scores: list[tuple | None] = [None] * len(examples)
    label_scores: list[dict[str, float] | None] = [None] * len(examples)
    start = time.time()
    done = 0
    for number, batch in enumerate(batches, start=1):
        task, limit = batch[0].task, batch[0].limit
        answers = [answer_ids(tokenizer, examples[job.index], date_string) for job in batch] if score else [[]]
        # Each label as every row's answer: scored from the same prompts' keys and values, one label at a time.
        candidates = {label: [answer_ids(tokenizer, examples[job.index] | {"answer": label}, date_string)
                              for job in batch] for label in labels.get(task, ())}
        prefix, prefix_cache = prefixes[task]
        room = max(limit if generate else 0, *map(len, answers), *(len(ids) for rows in candidates.values()
                                                                     for ids in rows))
        input_ids, mask, cache = _batch_inputs(model, tokenizer, batch, prefix, prefix_cache, room)
        if generate:
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
            for job, tokens in zip(batch, output[:, input_ids.shape[1] :].tolist(), strict=True):
                stopped = end in tokens
                # Padding only follows a row's end of turn; before it, every token is the model's (a pad id included).
                tokens = tokens[: tokens.index(end)] if stopped else tokens
                text = tokenizer.decode(tokens, skip_special_tokens=True)
                records[job.index] = _record(examples[job.index], job, text, len(tokens), stopped)
        else:
            _prefill(model, input_ids[:, :-1], mask[:, :-1], len(prefix), cache)
        if score:
            for job, scored in zip(batch, _score_answers(model, cache, input_ids, mask, answers), strict=True):
                scores[job.index] = scored
        for label, label_answers in candidates.items():
            for job, (nll, _) in zip(batch, _score_answers(model, cache, input_ids, mask, label_answers), strict=True):
                label_scores[job.index] = (label_scores[job.index] or {}) | {label: nll}
        done += len(batch)
        if number == 1 or number % 5 == 0 or number == len(batches):
            log(f"{'generated' if generate else 'scored'} {done}/{len(examples)} ({task})  {time.time() - start:.0f}s")
    return records, scores, label_scores


def choose_label(record: dict[str, Any], nll_by_label: dict[str, float],
                 repeats: dict[str, int] | None = None) -> dict[str, Any]:
    """The record answering the most likely label (least summed nll of the label and its end of turn; ties: the
    first label), with each label's nll and the freely generated text kept beside it.

    `repeats` ({label: k}, training.label_repeats) corrects for oversampling: a class whose examples training
    repeated k times was learned with k times its prior, so ln k is added to its nll before choosing (Bayes' rule
    for a shifted prior; Saerens et al., 2002). No free parameter: k is what training did.
    """
    repeats = {label: count for label, count in (repeats or {}).items() if count != 1}
    score = {label: nll + math.log(repeats.get(label, 1)) for label, nll in nll_by_label.items()}
    best = min(score, key=lambda label: score[label])  # min keeps the first of equal values
    chosen = record | {"prediction": best, "generated": record["prediction"], "label_method": "likelihood",
                       "label_nll": {label: round(nll, 4) for label, nll in nll_by_label.items()}}
    return chosen | ({"label_repeats": repeats} if repeats else {})


def generate_predictions(
    model,
    tokenizer,
    examples: list[dict[str, Any]],
    *,
    max_new_tokens: dict[str, int],
    max_length: int,
    date_string: str,
    batch_size: int,
    score_answers: bool = False,
    labels: dict[str, tuple[str, ...]] | None = None,
    label_repeats: dict[str, dict[str, int]] | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """One prediction record per example, in the examples' order: batched greedy decoding, left padding.

    The prompts of one task share their start (chat header, system message), so that prefix is computed
    once per task and every batch continues from its keys and values (see _batch_inputs). With `score_answers`,
    each record also gets its reference answer's `answer_nll` and `answer_tokens` (see answer_nll), from the same
    prompts' keys and values. The tasks in `labels` ({task: its labels}) answer the most likely label (choose_label)
    instead of the generated text, which is kept as `generated`, corrected by `label_repeats` ({task: {label: k}}:
    trained_label_repeats of an adapter) for the oversampling that trained it.
    """
    records, scores, label_scores = _run_batches(
        model, tokenizer, examples, max_new_tokens=max_new_tokens, max_length=max_length, date_string=date_string,
        batch_size=batch_size, generate=True, score=score_answers, log=log, labels=labels)
    for index, (record, scored, nll_by_label) in enumerate(zip(records, scores, label_scores, strict=True)):
        if score_answers:
            record.update(answer_nll=round(scored[0], 4), answer_tokens=scored[1])
        if nll_by_label:
            records[index] = choose_label(record, nll_by_label, (label_repeats or {}).get(record["task"]))
    return records  # type: ignore[return-value]


def vllm_dtype(name: str) -> str:
    """vLLM's name for a value of param infer.dtype, auto resolved as for the transformers backend (vLLM's own auto
    would take the checkpoint's dtype, fp32 for a merged adapter)."""
    from pressft.model.modeling import inference_dtype

    return str(inference_dtype(name)).removeprefix("torch.")


def generate_with_vllm(
    model_dir: str,
    examples: list[dict[str, Any]],
    *,
    dtype: str,
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

    from pressft.model.modeling import ADAPTER_FILE, load_for_inference

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
        llm = vllm.LLM(model=served, tokenizer=served, dtype=vllm_dtype(dtype), seed=0, max_model_len=max_length)
        results: list[dict[str, Any] | None] = [None] * len(examples)
        # One group per task (one token limit); vLLM batches within it on its own.
        for group in plan_batches(tokenizer, examples, max_new_tokens, max_length, date_string, len(examples)):
            task = group[0].task
            # ignore_eos: vLLM would also stop at the tokenizer's EOS and the generation config's EOS ids (Llama
            # 3.2's <|eom_id|>, <|end_of_text|>), where the transformers path goes on; end-of-turn alone in both.
            sampling = vllm.SamplingParams(temperature=0.0, max_tokens=group[0].limit, stop_token_ids=[end],
                                           ignore_eos=True, skip_special_tokens=True)
            outputs = llm.generate([TokensPrompt(prompt_token_ids=job.prompt) for job in group], sampling)
            for job, output in zip(group, outputs, strict=True):
                completion = output.outputs[0]
                stopped = completion.finish_reason == "stop"
                tokens = [token for token in completion.token_ids if token != end]
                results[job.index] = _record(examples[job.index], job, completion.text, len(tokens), stopped)
            log(f"generated {len(group)} ({task}) with vLLM")
    return results  # type: ignore[return-value]


def answer_nll(
    model,
    tokenizer,
    examples: list[dict[str, Any]],
    *,
    max_new_tokens: dict[str, int],
    max_length: int,
    date_string: str,
    batch_size: int,
    log: Callable[[str], None] = print,
) -> list[tuple[float, int]]:
    """(summed negative log-likelihood, token count) of each reference answer and its end-of-turn token, given the
    very prompt the model answers in evaluation (cut to leave room for the task's max_new_tokens).

    The quantity fine-tuning minimises, on the answer tokens exactly as training masks them, so the perplexities of
    the base and the fine-tuned model compare like for like. Not the answer text alone: without its prompt an
    answer's likelihood says little about the task. generate_predictions(score_answers=True) gives the same numbers
    while it generates; this is for backends that only generate (vLLM).
    """
    _, scores, _ = _run_batches(model, tokenizer, examples, max_new_tokens=max_new_tokens, max_length=max_length,
                                date_string=date_string, batch_size=batch_size, generate=False, score=True, log=log)
    return scores  # type: ignore[return-value]


def likeliest(model, tokenizer, examples: list[dict[str, Any]], candidates: list[list[str]], *,
              max_new_tokens: dict[str, int], max_length: int, date_string: str, batch_size: int,
              log: Callable[[str], None] = print) -> list[int]:
    """Per example, the index of its candidate answer with the least summed nll (and end of turn) after its prompt,
    ties to the first: choose_label's rule, for candidates that differ from example to example (the tag lines a
    prompt offers). Each candidate costs its prompt again: for validation, not for every answer of infer."""
    owners, scored = [], []
    for index, (example, answers) in enumerate(zip(examples, candidates, strict=True)):
        for answer in answers:
            owners.append(index)
            scored.append(example | {"answer": answer})
    nlls = answer_nll(model, tokenizer, scored, max_new_tokens=max_new_tokens, max_length=max_length,
                      date_string=date_string, batch_size=batch_size, log=log)
    by_example: list[list[float]] = [[] for _ in examples]
    for owner, (nll, _) in zip(owners, nlls, strict=True):
        by_example[owner].append(nll)
    return [min(range(len(values)), key=values.__getitem__) for values in by_example]  # min keeps the first


def label_nll(model, tokenizer, examples: list[dict[str, Any]], labels: dict[str, tuple[str, ...]], *,
              max_new_tokens: dict[str, int], max_length: int, date_string: str, batch_size: int,
              log: Callable[[str], None] = print) -> list[dict[str, float] | None]:
    """{label: summed nll} of each example of the tasks in `labels` (None for the others), for backends that only
    generate (vLLM); generate_predictions(labels=...) gives the same while it generates."""
    _, _, label_scores = _run_batches(
        model, tokenizer, examples, max_new_tokens=max_new_tokens, max_length=max_length, date_string=date_string,
        batch_size=batch_size, generate=False, score=False, log=log, labels=labels)
    return label_scores
