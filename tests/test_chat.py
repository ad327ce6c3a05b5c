"""Chat encoding: the loss mask (answer + end-of-turn only), the fixed-date template, the token budget,
and the labels trl actually trains on when it gets our rows."""

import copy
import json
from dataclasses import replace

import pytest

from pressft.tasks import REGISTRY
from pressft.model.chat import EOT, PAD, _render, answer_ids, encode_for_training, eot_id, prompt_ids
from pressft.errors import UserError
from pressft.tasks import make_examples

DATE = "26 Jul 2024"
ASSISTANT_HEADER = "<|start_header_id|>assistant<|end_header_id|>\n\n"
BOS = "<|begin_of_text|>"


@pytest.fixture
def examples(normalised_articles, config):
    """All four tasks for a few articles of different lengths."""
    return [
        example
        for article in normalised_articles(4)
        for example in make_examples(article, list(REGISTRY), config.tasks.prompts)
    ]


def long_example(example: dict, repeat: int = 30) -> dict:
    return example | {"input": " ".join([example["input"]] * repeat)}


def skeleton_length(tokenizer, example: dict) -> int:
    """Tokens of the prompt with an empty input: the part that can never be shortened."""
    return len(_render(tokenizer, example, "", DATE))


# ------------------------------------------------------------------ the end of turn, from the chat template


def with_template(tokenizer, template):
    other = copy.deepcopy(tokenizer)
    other.chat_template = template
    return other


def test_eot_id_is_the_first_special_token_after_an_assistant_answer(tokenizer):
    assert eot_id(tokenizer) == tokenizer.convert_tokens_to_ids(EOT)
    # the same vocabulary under a ChatML-like template that closes turns with <|end_of_text|>: that is the end
    chatml = ("{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '\\n' + m['content'] + "
              "'<|end_of_text|>' + '<|eot_id|>' }}{% endfor %}")
    assert eot_id(with_template(tokenizer, chatml)) == tokenizer.convert_tokens_to_ids("<|end_of_text|>")


@pytest.mark.parametrize("template", [None, ""])
def test_eot_id_without_chat_template_is_a_user_error(tokenizer, template):
    with pytest.raises(UserError) as info:
        eot_id(with_template(tokenizer, template))
    message = str(info.value)
    assert message.startswith("param model.base ") and "without a chat template" in message and "\n" not in message


def test_eot_id_of_a_template_ending_answers_without_a_special_token(tokenizer):
    # special tokens before the answer do not count: only what follows the answer
    plain_end = ("{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>' + m['content'] "
                 "+ '\\n\\n' }}{% endfor %}")
    with pytest.raises(UserError) as info:
        eot_id(with_template(tokenizer, plain_end))
    message = str(info.value)
    assert message.startswith("param model.base ") and "without a special token" in message and "\n" not in message


def test_answer_ids_refuses_a_prompt_that_changes_once_an_answer_follows(tokenizer, examples):
    """A template that writes the generation prompt unlike a past assistant turn (as reasoning templates do):
    the answer's tokens cannot be cut from the full conversation, so no loss mask is guessed."""
    template = ("{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>' + m['content'] "
                "+ '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant"
                "<|end_header_id|>' + 'Thinking' }}{% endif %}")
    odd = with_template(tokenizer, template)
    assert eot_id(odd) == tokenizer.convert_tokens_to_ids(EOT)
    with pytest.raises(UserError) as info:
        answer_ids(odd, examples[0], DATE)
    assert str(info.value).startswith("param model.base ") and "\n" not in str(info.value)
    with pytest.raises(UserError):
        encode_for_training(odd, examples[0], 512, DATE)
    # the real template: the answer and its end of turn, as rendered after the prompt
    assert answer_ids(tokenizer, examples[0], DATE) == (
        tokenizer(examples[0]["answer"], add_special_tokens=False)["input_ids"] + [eot_id(tokenizer)]
    )


# ------------------------------------------------------------------ the loss mask


def test_completion_mask_covers_exactly_answer_and_eot(tokenizer, examples):
    eot = eot_id(tokenizer)
    for example in examples:
        row = encode_for_training(tokenizer, example, 512, DATE)
        ids, mask = row["input_ids"], row["completion_mask"]
        assert len(ids) == len(mask) <= 512
        assert set(mask) == {0, 1}
        n_prompt = mask.index(1)
        # one contiguous block: 0 on every prompt token, 1 on every answer token through the end
        assert mask == [0] * n_prompt + [1] * (len(ids) - n_prompt)
        answer_ids = tokenizer(example["answer"], add_special_tokens=False)["input_ids"]
        assert ids[n_prompt:] == answer_ids + [eot]
        assert ids[-1] == eot and mask[-1] == 1  # the model learns to stop
        assert tokenizer.decode([t for t, m in zip(ids, mask) if m]) == example["answer"] + EOT
        assert row["input_tokens_cut"] == 0


def test_prompt_part_is_the_fixed_date_chat_template(tokenizer, examples):
    for example in examples[:4]:
        row = encode_for_training(tokenizer, example, 512, DATE)
        prompt = tokenizer.decode([t for t, m in zip(row["input_ids"], row["completion_mask"]) if not m])
        expected = (
            f"{BOS}<|start_header_id|>system<|end_header_id|>\n\n"
            f"Cutting Knowledge Date: December 2023\nToday Date: {DATE}\n\n{example['system']}{EOT}"
            f"<|start_header_id|>user<|end_header_id|>\n\n{example['input']}\n\n{example['instruction']}{EOT}"
            f"{ASSISTANT_HEADER}"
        )
        assert prompt == expected
        assert prompt.endswith(ASSISTANT_HEADER)
        full = tokenizer.decode(row["input_ids"])
        assert full.count(BOS) == 1 and full.startswith(BOS)  # no double BOS
        assert row["input_ids"].count(tokenizer.bos_token_id) == 1
        assert full.count(ASSISTANT_HEADER) == 1
        assert PAD not in full


def test_date_string_is_used_and_never_today(tokenizer, examples):
    other = encode_for_training(tokenizer, examples[0], 512, "01 Jan 2030")
    assert "Today Date: 01 Jan 2030\n" in tokenizer.decode(other["input_ids"])
    # the template's own fallback, should a caller forget the date, is the same fixed date
    rendered = tokenizer.apply_chat_template(
        [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}], tokenize=False
    )
    assert "Today Date: 26 Jul 2024\n" in rendered


def test_training_prompt_equals_inference_prompt(tokenizer, examples):
    """Train/infer consistency: the tokens before the answer are the prompt generation is given."""
    for example in examples:
        row = encode_for_training(tokenizer, example, 512, DATE)
        n_prompt = row["completion_mask"].index(1)
        ids, cut = prompt_ids(tokenizer, example, 512 - 32, DATE)
        assert cut == 0
        assert ids == row["input_ids"][:n_prompt]


# ------------------------------------------------------------------ the token budget


@pytest.mark.parametrize("task_index", [0, 1, 2, 3])
def test_long_input_is_shortened_answer_kept(tokenizer, examples, task_index):
    example = long_example(examples[task_index])
    full_input_tokens = len(tokenizer(example["input"], add_special_tokens=False)["input_ids"])
    answer_ids = tokenizer(example["answer"], add_special_tokens=False)["input_ids"] + [eot_id(tokenizer)]
    max_length = skeleton_length(tokenizer, example) + len(answer_ids) + 40
    assert full_input_tokens > 200  # far above the 40 tokens of room
    row = encode_for_training(tokenizer, example, max_length, DATE)
    ids, mask = row["input_ids"], row["completion_mask"]
    assert len(ids) <= max_length
    assert row["input_tokens_cut"] > 0
    assert full_input_tokens - row["input_tokens_cut"] <= 40
    n_prompt = mask.index(1)
    assert ids[n_prompt:] == answer_ids and sum(mask) == len(answer_ids)  # the answer is intact
    prompt = tokenizer.decode(ids[:n_prompt])
    # the input is cut at its end: its start is kept, and the instruction still follows it
    assert example["input"][:30] in prompt
    assert prompt.endswith(f"\n\n{example['instruction']}{EOT}{ASSISTANT_HEADER}")
    assert prompt.count(BOS) == 1


def test_prompt_ids_budget(tokenizer, examples):
    example = long_example(examples[1])
    for budget in (skeleton_length(tokenizer, example) + 5, skeleton_length(tokenizer, example) + 80):
        ids, cut = prompt_ids(tokenizer, example, budget, DATE)
        assert len(ids) <= budget and cut > 0
        assert tokenizer.decode(ids).endswith(ASSISTANT_HEADER)


def test_impossible_budget_is_a_user_error(tokenizer, examples):
    example = long_example(examples[0])
    answer_len = len(tokenizer(example["answer"], add_special_tokens=False)["input_ids"]) + 1
    too_small = skeleton_length(tokenizer, example) + answer_len - 5
    with pytest.raises(UserError) as info:
        encode_for_training(tokenizer, example, too_small, DATE)
    message = str(info.value)
    assert "\n" not in message
    assert "model.max_length" in message and "summarization" in message


def test_grounded_answers_leave_out_answers_quoting_a_number_cut_from_their_input(tokenizer, examples):
    """train.grounded_answers: a summary quoting a figure that only the cut end of its article holds is left out; one
    whose figure the kept lead holds (in another spelling) stays, and so do tags, which are not free text."""
    from pressft.model.training import _dataset

    summary, tags = (next(e for e in examples if e["task"] == task) for task in ("summarization", "tags"))
    lead = "The plant in Leipzig built 1000 cars in 2024. "
    article = lead + " ".join([summary["input"]] * 30) + " At the end: a top speed of 287 km/h."
    kept = summary | {"input": article, "answer": "Leipzig built 1,000 cars in 2024."}
    cut_off = summary | {"input": article, "answer": "Leipzig built 1,000 cars with a top speed of 287 km/h."}
    labelled = tags | {"input": article, "answer": "Leipzig, 287 km/h"}
    assert encode_for_training(tokenizer, cut_off, 256, DATE)["input_tokens_cut"] > 0

    chosen = [kept, cut_off, labelled, cut_off]  # a repeated example is left out each time
    dataset, shortened, left_out = _dataset(tokenizer, chosen, 256, DATE, grounded=True)
    assert left_out == {"summarization": 2} and len(dataset) == 2 and shortened == 2
    dataset, _, left_out = _dataset(tokenizer, chosen, 256, DATE)
    assert left_out == {} and len(dataset) == 4
    # With the whole article in the prompt the figure is there to read: nothing is left out.
    assert _dataset(tokenizer, chosen, 4096, DATE, grounded=True)[2] == {}

    with pytest.raises(UserError) as info:
        _dataset(tokenizer, [cut_off], 256, DATE, grounded=True)
    assert "\n" not in str(info.value) and "train.grounded_answers" in str(info.value)


# ------------------------------------------------------------------ what trl trains on


def test_the_trainers_labels_mask_prompt_and_padding(tokenizer, saved_model_dir, examples, config, tmp_path):
    """Our rows through the trainer train_lora trains with (training.build_trainer): the labels of a batch are -100
    on prompt and padding, and equal to input_ids on answer tokens and the final end-of-turn."""
    from pressft.config import LoraConfig
    from pressft.model.training import build_trainer

    max_length = 512
    chosen = [examples[0], examples[3], examples[6], long_example(examples[9], 4)]  # 4 tasks, different lengths
    rows = [encode_for_training(tokenizer, example, max_length, DATE) for example in chosen]
    assert len({len(r["input_ids"]) for r in rows}) == 4  # padding will be needed
    assert max(len(r["input_ids"]) for r in rows) <= max_length  # trl's truncation must not bite

    lora = LoraConfig(r=4, alpha=8, dropout=0.0, target_modules=("q_proj", "v_proj"))
    train = replace(config.train, batch_size=2, lora=lora)
    run = build_trainer(str(saved_model_dir), chosen, chosen[:2], train,
                        replace(config.model, max_length=max_length, date_string=DATE), tmp_path / "work")
    trainer = run.trainer
    assert trainer.args.completion_only_loss is True and trainer.args.max_length == max_length
    assert run.inputs_shortened == {"train": sum(1 for r in rows if r["input_tokens_cut"]), "val": 0}
    by_ids = {tuple(r["input_ids"]): r for r in rows}
    seen = set()
    for batch in trainer.get_train_dataloader():
        input_ids, labels, attention = batch["input_ids"], batch["labels"], batch["attention_mask"]
        assert input_ids.shape == labels.shape == attention.shape and input_ids.shape[0] == 2
        for b in range(input_ids.shape[0]):
            length = int(attention[b].sum())
            assert attention[b, :length].all() and not attention[b, length:].any()  # right padding
            row = by_ids[tuple(input_ids[b, :length].tolist())]  # the row is unchanged (no truncation)
            seen.add(tuple(row["input_ids"]))
            mask = row["completion_mask"]
            for position in range(input_ids.shape[1]):
                label = int(labels[b, position])
                if position >= length:
                    assert label == -100, "padding must not be trained"
                    assert int(input_ids[b, position]) == tokenizer.pad_token_id != eot_id(tokenizer)
                elif mask[position] == 0:
                    assert label == -100, "prompt tokens must not be trained"
                else:
                    assert label == int(input_ids[b, position])
            trained = [int(t) for t in labels[b] if t != -100]
            assert tokenizer.decode(trained).endswith(EOT)
            assert trained == row["input_ids"][mask.index(1) :]
    assert len(seen) == 4  # every example came through once per epoch


def test_train_lora_trains_and_leaves_only_the_adapter(saved_model_dir, examples, config, tmp_path):
    """The real training entry point on the tiny model: the run's counts, and only the adapter left behind."""
    from pressft.model.modeling import ADAPTER_FILE, load_for_inference, trained_label_repeats
    from pressft.config import LoraConfig
    from pressft.model.training import label_repeats, train_lora

    lora = LoraConfig(r=4, alpha=8, dropout=0.0, target_modules=("q_proj", "v_proj"))
    train = replace(config.train, epochs=1, batch_size=2, eval_steps=2, early_stopping_patience=2, warmup_steps=0,
                    lr=0.01, lora=lora)
    out, work = tmp_path / "adapter", tmp_path / "checkpoints"
    result = train_lora(str(saved_model_dir), examples[:8], examples[8:12], train, replace(config.model, max_length=512),
                        out, work)
    metrics, history = result.metrics, result.history

    assert metrics["train_examples"] == 8 and metrics["val_examples"] == 4 and metrics["train_articles"] == 2
    assert metrics["steps"] == 4 and metrics["inputs_shortened"] == {"train": 0, "val": 0}
    assert any("eval_loss" in entry for entry in history)
    assert (out / "adapter_model.safetensors").is_file() and not work.exists()
    describe = json.loads((out / ADAPTER_FILE).read_text())
    assert describe["base_model"] == str(saved_model_dir)
    assert describe["label_repeats"] == metrics["label_repeats"] == label_repeats(examples[:8])
    assert trained_label_repeats(out) == describe["label_repeats"] and trained_label_repeats(saved_model_dir) == {}
    model, _ = load_for_inference(out)  # the adapter finds its base and merges
    assert not model.training
