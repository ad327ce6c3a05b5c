"""Chat formatting shared by training and inference, for any chat model: one rendering, one token budget, one
loss mask. The end-of-turn token comes from the model's own chat template, never from a hard-wired name."""

from typing import Any

from pressft.errors import UserError

# The embedded (from-scratch) model's tokens and template: Llama-3.2 style headers and end of turn, without tools.
# Hub and packaged models bring their own template; these are used only where the embedded model is built.
EOT = "<|eot_id|>"
PAD = "<|finetune_right_pad_id|>"

# `date_string` is always passed by `prompt_ids`; the default only guards direct use of the template,
# because the real Llama-3.2 template falls back to today's date and would change every prompt daily.
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

_PROBE = "pressft probe answer"


def eot_id(tokenizer) -> int:
    """The model's end-of-turn token: the first special token its chat template writes after an assistant answer
    (<|eot_id|> for Llama 3, <|im_end|> for ChatML models such as SmolLM2 and Qwen2.5, <end_of_turn> for Gemma).

    Training teaches the model to emit it after every answer, and generation stops at it.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise UserError("param model.base names a model without a chat template; use a chat (instruct) model")
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": _PROBE}], tokenize=False
    )
    after = rendered.split(_PROBE, 1)[1] if _PROBE in rendered else ""
    special = set(tokenizer.all_special_ids) | {
        token_id for token_id, token in tokenizer.added_tokens_decoder.items() if token.special
    }
    for token_id in tokenizer(after, add_special_tokens=False)["input_ids"]:
        if token_id in special:
            return token_id
    raise UserError(
        "param model.base names a model whose chat template ends an assistant turn without a special token, "
        "so generation could not stop at the end of an answer; use another chat model"
    )


def chat_messages(example: dict[str, Any], input_text: str) -> list[dict[str, str]]:
    # The instruction follows the article: a small model placed before a long input loses track of the task. A hint
    # (the candidates of data.neighbours) sits between them, after the article's cut, so it is never shortened.
    parts = [input_text, example["hint"], example["instruction"]] if example.get("hint") else [
        input_text, example["instruction"]]
    return [
        {"role": "system", "content": example["system"]},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def _ids(tokenizer, messages: list[dict[str, str]], date_string: str, generation_prompt: bool) -> list[int]:
    # verbose=False: an article longer than model_max_length is expected; prompt_ids cuts it to the budget.
    # date_string is used by templates that write a date (Llama 3.x) and ignored by the others.
    encoded = tokenizer.apply_chat_template(
        messages,
        add_generation_prompt=generation_prompt,
        tokenize=True,
        date_string=date_string,
        tokenizer_kwargs={"verbose": False},
    )
    return list(encoded["input_ids"])


def _render(tokenizer, example: dict[str, Any], input_text: str, date_string: str) -> list[int]:
    return _ids(tokenizer, chat_messages(example, input_text), date_string, generation_prompt=True)


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


def answer_ids(tokenizer, example: dict[str, Any], date_string: str) -> list[int]:
    """The assistant answer and its end-of-turn token exactly as the chat template renders them after the prompt.

    Taken from the rendered conversation rather than tokenized alone, so whatever the template writes around an
    answer (a trim, a leading space of a SentencePiece vocabulary) is what the model learns and is asked for.
    """
    messages = chat_messages(example, example["input"])
    prompt = _ids(tokenizer, messages, date_string, generation_prompt=True)
    full = _ids(tokenizer, messages + [{"role": "assistant", "content": example["answer"]}], date_string, False)
    end = eot_id(tokenizer)
    if full[: len(prompt)] != prompt or end not in full[len(prompt) :]:
        raise UserError(
            "param model.base names a model whose chat template renders the prompt differently once an answer "
            "follows (e.g. a reasoning block), so the answer tokens cannot be masked exactly; use another chat model"
        )
    answer = full[len(prompt) :]
    return answer[: answer.index(end) + 1]


def encode_for_training(tokenizer, example: dict[str, Any], max_length: int, date_string: str) -> dict[str, Any]:
    """input_ids and completion_mask (1 on the answer and its end-of-turn token, the only tokens trained).

    The answer is never truncated: the prompt's input gives way instead, so the model always learns to stop.
    """
    answer = answer_ids(tokenizer, example, date_string)
    prompt, cut = prompt_ids(tokenizer, example, max_length - len(answer), date_string)
    return {
        "input_ids": prompt + answer,
        "completion_mask": [0] * len(prompt) + [1] * len(answer),
        "input_tokens_cut": cut,
    }


def kept_input(tokenizer, example: dict[str, Any], cut: int) -> str:
    """The article input as a prompt holds it once prompt_ids() has cut `cut` tokens off its end."""
    if not cut:
        return example["input"]
    input_ids = tokenizer(example["input"], add_special_tokens=False, verbose=False)["input_ids"]
    return tokenizer.decode(input_ids[: len(input_ids) - cut])
