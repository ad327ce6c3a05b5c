"""Chat formatting shared by training and inference: one rendering, one token budget, one loss mask."""

from typing import Any

from pressft.errors import UserError

EOT = "<|eot_id|>"
PAD = "<|finetune_right_pad_id|>"

# Llama-3.2 style: the same headers and end-of-turn token as the real model's template, without tools.
# `date_string` is always passed by `prompt_ids`; the default only guards direct use of the template,
# because the real template falls back to today's date and would change every prompt daily.
CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- if not date_string is defined %}{%- set date_string = '26 Jul 2024' %}{%- endif %}"
    "{%- if messages[0]['role'] == 'system' %}"
    "{%- set system_message = messages[0]['content'] | trim %}{%- set messages = messages[1:] %}"
    "{%- else %}{%- set system_message = '' %}{%- endif %}"
    "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}"
    "{{- 'Cutting Knowledge Date: December 2023\\nToday Date: ' + date_string + '\\n\\n' }}"
    "{{- system_message + '<|eot_id|>' }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)


def eot_id(tokenizer) -> int:
    return tokenizer.convert_tokens_to_ids(EOT)


def _render(tokenizer, example: dict[str, Any], input_text: str, date_string: str) -> list[int]:
    # The instruction follows the article: a small model placed before a long input loses track of the task.
    messages = [
        {"role": "system", "content": example["system"]},
        {"role": "user", "content": f"{input_text}\n\n{example['instruction']}"},
    ]
    # verbose=False: an article longer than model_max_length is expected; prompt_ids cuts it to the budget.
    encoded = tokenizer.apply_chat_template(
        messages,
        add_generation_prompt=True,
        tokenize=True,
        date_string=date_string,
        tokenizer_kwargs={"verbose": False},
    )
    return list(encoded["input_ids"])


def prompt_ids(tokenizer, example: dict[str, Any], budget: int, date_string: str) -> tuple[list[int], int]:
    """Prompt token ids within `budget`, shortening the article input at its end. Returns (ids, tokens cut)."""
    if budget <= 0:
        raise UserError(f"param model.max_length is too small for the {example['task']} answers; raise it")
    ids = _render(tokenizer, example, example["input"], date_string)
    if len(ids) <= budget:
        return ids, 0
    input_ids = tokenizer(example["input"], add_special_tokens=False, verbose=False)["input_ids"]
    keep = len(input_ids) - (len(ids) - budget)
    # Re-tokenising the cut text can merge differently at the cut; a few more tokens off settles it.
    for slack in (0, 4, 16, 64):
        if keep - slack <= 0:
            break
        shortened = tokenizer.decode(input_ids[: keep - slack])
        ids = _render(tokenizer, example, shortened, date_string)
        if len(ids) <= budget:
            return ids, len(input_ids) - (keep - slack)
    raise UserError(
        f"param model.max_length is too small: the {example['task']} prompt alone needs more than {budget} tokens"
    )


def encode_for_training(tokenizer, example: dict[str, Any], max_length: int, date_string: str) -> dict[str, Any]:
    """input_ids and completion_mask (1 on the answer and its end-of-turn token, the only tokens trained).

    The answer is never truncated: the prompt's input gives way instead, so the model always learns to stop.
    """
    answer = tokenizer(example["answer"], add_special_tokens=False)["input_ids"] + [eot_id(tokenizer)]
    prompt, cut = prompt_ids(tokenizer, example, max_length - len(answer), date_string)
    return {
        "input_ids": prompt + answer,
        "completion_mask": [0] * len(prompt) + [1] * len(answer),
        "input_tokens_cut": cut,
    }
