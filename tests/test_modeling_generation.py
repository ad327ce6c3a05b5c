"""Model loading (local directories through the hub's from_pretrained path), base preparation
(pad token, end-of-turn stopping) and batched greedy generation (left padding, record format)."""

import json

import pytest
import torch

from pressft.tasks import REGISTRY
from pressft.model.chat import CHAT_TEMPLATE, EOT, PAD, eot_id, prompt_ids
from pressft.errors import UserError
from pressft.model import modeling
from pressft.model.generation import generate_predictions, shared_prefix_length
from pressft.model.modeling import (
    PAD_CANDIDATES, SOURCE_FILE, SPECIAL_TOKENS, inference_dtype, load_for_inference, load_model, prepare_base,
)
from pressft.tasks import make_examples

DATE = "26 Jul 2024"
MAX_NEW = {"summarization": 10, "title": 6, "tags": 8, "type": 3}
RECORD_KEYS = {"id", "task", "reference", "prediction", "prompt_tokens", "output_tokens", "hit_limit", "input_tokens_cut"}


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def save(model, tokenizer, path):
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


# ------------------------------------------------------------------ load_model


def test_load_model_from_local_directory(saved_model_dir, tiny_model, tokenizer, monkeypatch):
    from transformers import AutoModelForCausalLM, LlamaForCausalLM

    calls = []
    real = AutoModelForCausalLM.from_pretrained.__func__

    def spy(cls, spec, *args, **kwargs):
        calls.append((spec, kwargs))
        return real(cls, spec, *args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", classmethod(spy))
    model, loaded_tokenizer = load_model(saved_model_dir)
    # the one from_pretrained path a hub id takes too, safetensors only
    assert calls == [(str(saved_model_dir), {"use_safetensors": True})]
    assert isinstance(model, LlamaForCausalLM)
    assert same_weights(model, tiny_model)
    assert loaded_tokenizer.chat_template == CHAT_TEMPLATE
    assert loaded_tokenizer.get_vocab() == tokenizer.get_vocab()
    assert loaded_tokenizer.pad_token == PAD and loaded_tokenizer.eos_token == EOT
    assert (saved_model_dir / "model.safetensors").is_file()


@pytest.mark.parametrize("spec", ["/nonexistent", "./no/such/model", "nobody-pressft/no-such-model"])
def test_load_model_missing_is_a_one_line_user_error(spec):
    with pytest.raises(UserError) as info:
        load_model(spec)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"cannot load model {spec}: ")


def test_load_model_directory_without_weights_is_a_user_error(tiny_model, tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    tiny_model.config.save_pretrained(tmp_path)  # config but no model.safetensors
    with pytest.raises(UserError) as info:
        load_model(tmp_path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"cannot load model {tmp_path}: ")


@pytest.mark.parametrize("content", ["empty", "tokenizer only"])
def test_load_model_incomplete_directory_is_a_user_error(tokenizer, tmp_path, content):
    if content == "tokenizer only":
        tokenizer.save_pretrained(tmp_path)
    with pytest.raises(UserError) as info:
        load_model(tmp_path)
    assert "\n" not in str(info.value)


def test_load_model_4bit_needs_cuda(saved_model_dir, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="load_in_4bit=true needs a CUDA GPU") as info:
        load_model(saved_model_dir, load_in_4bit=True)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------ prepare_base


def test_prepare_base_from_local_directory(saved_model_dir, tiny_model, tokenizer, tmp_path):
    out = tmp_path / "base"
    summary = prepare_base(str(saved_model_dir), out)
    model, prepared = load_model(out)
    eot = eot_id(prepared)
    assert prepared.pad_token == PAD != EOT
    assert prepared.pad_token_id != eot
    assert model.generation_config.eos_token_id == eot
    assert model.generation_config.pad_token_id == prepared.pad_token_id == model.config.pad_token_id
    assert model.generation_config.do_sample is False
    assert prepared.chat_template == CHAT_TEMPLATE
    assert same_weights(model, tiny_model)  # nothing to fix: weights untouched
    written = json.loads((out / SOURCE_FILE).read_text())
    assert written == summary
    assert written["source"] == str(saved_model_dir)
    assert written["vocab_size"] == len(tokenizer)
    assert written["parameters"] == sum(p.numel() for p in tiny_model.parameters())


def test_prepare_base_replaces_pad_equal_to_end_of_turn(make_tiny_model, tokenizer, tmp_path):
    """A hub chat model often pads with its end-of-turn token: padding would then be trained as stopping."""
    from transformers import AutoTokenizer

    source = tmp_path / "hub-like"
    model = make_tiny_model(2)
    model.config.pad_token_id = eot_id(tokenizer)
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|end_of_text|>")
    model.generation_config.do_sample = True
    model.generation_config.temperature = 0.6
    save(model, tokenizer, source)
    hub_tokenizer = AutoTokenizer.from_pretrained(source)
    hub_tokenizer.pad_token = EOT
    hub_tokenizer.save_pretrained(source)

    prepare_base(str(source), tmp_path / "base")
    prepared_model, prepared = load_model(tmp_path / "base")
    assert prepared.pad_token == PAD
    assert prepared.pad_token_id == tokenizer.convert_tokens_to_ids(PAD) != eot_id(prepared)
    assert prepared_model.config.pad_token_id == prepared.pad_token_id
    assert prepared_model.generation_config.eos_token_id == eot_id(prepared)  # stop at end of turn
    assert prepared_model.generation_config.do_sample is False
    assert len(prepared) == len(tokenizer)  # PAD was in the vocabulary: no resize


def test_prepare_base_adds_a_pad_token_when_the_vocabulary_has_none(tmp_path):
    """No pad in the vocabulary: one is added and the embeddings grow by one row."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = [t for t in SPECIAL_TOKENS if t != PAD]
    backend.train_from_iterator(
        ["BMW press text"] * 5,
        trainers.BpeTrainer(vocab_size=300, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
    )
    no_pad = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=specials[0], eos_token=EOT,
                                     chat_template=CHAT_TEMPLATE)
    assert no_pad.pad_token is None
    assert not set(PAD_CANDIDATES) & set(no_pad.get_vocab())  # no pad token the vocabulary could lend
    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(vocab_size=len(no_pad), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                    num_attention_heads=2, num_key_value_heads=1, eos_token_id=eot_id(no_pad))
    )
    save(model, no_pad, tmp_path / "src")

    summary = prepare_base(str(tmp_path / "src"), tmp_path / "base")
    prepared_model, prepared = load_model(tmp_path / "base")
    assert summary["vocab_size"] == len(no_pad) + 1 == len(prepared)
    assert prepared.pad_token == "<|pad|>" and prepared.pad_token_id == len(no_pad)
    assert summary["pad"] == "<|pad|>" and summary["end_of_turn"] == EOT
    assert prepared_model.get_input_embeddings().weight.shape[0] >= len(prepared)
    assert prepared_model.config.pad_token_id == prepared.pad_token_id
    assert prepared.chat_template == CHAT_TEMPLATE
    assert prepared_model.generation_config.eos_token_id == eot_id(prepared) == no_pad.convert_tokens_to_ids(EOT)


def plain_model_dir(path, chat_template=None):
    """A model directory whose tokenizer has only <s> and </s> as special tokens, and the given chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.train_from_iterator(["x"], trainers.BpeTrainer(vocab_size=270, special_tokens=["<s>", "</s>"],
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    plain = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>",
                                    chat_template=chat_template)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(plain), hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1))
    return save(model, plain, path)


def test_prepare_base_rejects_a_model_without_chat_template(tmp_path):
    """A base (not instruct) model: no template to take the prompt format and the end of turn from."""
    source = plain_model_dir(tmp_path / "src")
    with pytest.raises(UserError) as info:
        prepare_base(str(source), tmp_path / "base")
    message = str(info.value)
    assert message.startswith("param model.base ") and "without a chat template" in message and "\n" not in message
    assert not (tmp_path / "base").exists()


def test_prepare_base_rejects_a_template_without_special_end_of_turn(tmp_path):
    """A template that ends an answer with plain text: generation could not stop at the end of an answer."""
    template = ("{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}"
                "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}")
    source = plain_model_dir(tmp_path / "src", template)
    with pytest.raises(UserError) as info:
        prepare_base(str(source), tmp_path / "base")
    message = str(info.value)
    assert message.startswith("param model.base ") and "without a special token" in message and "\n" not in message
    assert not (tmp_path / "base").exists()


def test_prepare_base_takes_the_end_of_turn_from_the_template(tmp_path):
    """The same vocabulary with a template that closes each turn with </s>: </s> is the end of turn, and as no
    pad candidate is in the vocabulary, <|pad|> is added."""
    from transformers import AutoTokenizer

    template = ("{% for m in messages %}{{ m['role'] + ': ' + m['content'] + eos_token + '\\n' }}{% endfor %}"
                "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}")
    source = plain_model_dir(tmp_path / "src", template)
    end = AutoTokenizer.from_pretrained(source).convert_tokens_to_ids("</s>")
    summary = prepare_base(str(source), tmp_path / "base")
    model, prepared = load_model(tmp_path / "base")
    assert eot_id(prepared) == end == model.generation_config.eos_token_id == model.config.eos_token_id
    assert summary["end_of_turn"] == "</s>" and summary["pad"] == "<|pad|>" != "</s>"
    assert prepared.pad_token_id == summary["vocab_size"] - 1 == model.config.pad_token_id


def test_saved_tokenizer_does_not_depend_on_offline_mode(saved_model_dir, tmp_path, monkeypatch):
    import transformers.tokenization_utils_base as base

    saved = []
    for offline in (True, False):
        monkeypatch.setattr(base, "is_offline_mode", lambda offline=offline: offline)
        _, tokenizer = load_model(saved_model_dir)
        tokenizer.save_pretrained(tmp_path / str(offline))
        saved.append((tmp_path / str(offline) / "tokenizer_config.json").read_text())
    assert "local_files_only" not in saved[0] and saved[0] == saved[1]


# ------------------------------------------------------------------ load_for_inference


def test_load_for_inference_merges_an_adapter(saved_model_dir, tiny_model, tokenizer, tmp_path):
    from peft import LoraConfig, get_peft_model

    from pressft.model.modeling import ADAPTER_FILE

    base, _ = load_model(saved_model_dir)
    torch.manual_seed(5)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
                      task_type="CAUSAL_LM")
    peft_model = get_peft_model(base, lora).eval()
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)
    tokenizer.save_pretrained(adapter)
    (adapter / ADAPTER_FILE).write_text(json.dumps({"base_model": str(saved_model_dir)}))

    merged, merged_tokenizer = load_for_inference(adapter)
    assert not merged.training
    assert not any("lora" in name for name, _ in merged.named_parameters())  # merged, no LoRA matmuls left
    ids = torch.tensor([tokenizer("BMW iX3 presents", add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        expected = peft_model(input_ids=ids).logits
        got = merged(input_ids=ids).logits
        plain = tiny_model(input_ids=ids).logits
    assert torch.allclose(got, expected, atol=1e-4)
    assert not torch.allclose(got, plain, atol=1e-3)  # the adapter does change the model
    assert merged_tokenizer.get_vocab() == tokenizer.get_vocab()

    base_only, _ = load_for_inference(saved_model_dir)  # a base directory loads as is
    assert same_weights(base_only, tiny_model) and not base_only.training


# ------------------------------------------------------------------ generate_predictions


@pytest.fixture
def mixed_examples(normalised_articles, config):
    """8 examples: all four tasks, inputs of different lengths (1 to 5 sentences), in a shuffled task order."""
    articles = normalised_articles(8)
    examples = []
    for i, article in enumerate(articles):
        task = list(REGISTRY)[(i * 3) % 4]
        examples += make_examples(article, [task], config.tasks.prompts)
    return examples


def run_generation(model, tokenizer, examples, batch_size, max_length=512):
    return generate_predictions(
        model, tokenizer, examples, max_new_tokens=MAX_NEW, max_length=max_length, date_string=DATE,
        batch_size=batch_size, log=lambda line: None,
    )


def test_batched_generation_equals_one_by_one(tiny_model, tokenizer, mixed_examples):
    assert {e["task"] for e in mixed_examples} == set(REGISTRY)
    lengths = [len(prompt_ids(tokenizer, e, 500, DATE)[0]) for e in mixed_examples]
    assert len(set(lengths)) >= 6  # batches need real left padding
    single = run_generation(tiny_model, tokenizer, mixed_examples, batch_size=1)
    batched = run_generation(tiny_model, tokenizer, mixed_examples, batch_size=4)
    assert [r["prediction"] for r in batched] == [r["prediction"] for r in single]
    assert batched == single
    assert len({r["prediction"] for r in single}) >= 4  # the model really depends on its prompt


def test_shared_prefix_length_on_hand_made_sequences():
    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]]) == 2
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2  # each keeps one token of its own
    assert shared_prefix_length([[7, 8, 9]]) == 2
    assert shared_prefix_length([[1, 2], [3, 4]]) == 0
    assert shared_prefix_length([[5], [5, 6]]) == 0
    assert shared_prefix_length([]) == 0


def test_reused_prefix_gives_the_outputs_of_a_full_prefill(tiny_model, tokenizer, normalised_articles, config):
    """The task prefix computed once and padding placed after it must not change a single greedy token: each
    prompt generated on its own with plain generate() (no cache tricks, no padding) is the ground truth."""
    examples = [e for a in normalised_articles(6) for e in make_examples(a, ["summarization", "type"],
                                                                          config.tasks.prompts)]
    prompts = [prompt_ids(tokenizer, e, 512 - MAX_NEW[e["task"]], DATE)[0] for e in examples]
    assert shared_prefix_length([p for p, e in zip(prompts, examples) if e["task"] == "type"]) > 20
    records = run_generation(tiny_model, tokenizer, examples, batch_size=4)
    for record, example, prompt in zip(records, examples, prompts, strict=True):
        with torch.inference_mode():
            output = tiny_model.generate(input_ids=torch.tensor([prompt]), max_new_tokens=MAX_NEW[example["task"]],
                                         do_sample=False, eos_token_id=eot_id(tokenizer),
                                         pad_token_id=tokenizer.pad_token_id)
        tokens = output[0, len(prompt):].tolist()
        tokens = tokens[: tokens.index(eot_id(tokenizer))] if eot_id(tokenizer) in tokens else tokens
        assert record["prediction"] == tokenizer.decode(tokens, skip_special_tokens=True).strip()
        assert record["output_tokens"] == len(tokens)


@pytest.mark.parametrize(("cuda", "bf16", "auto"), [(False, True, torch.bfloat16), (False, False, torch.float32),
                                                  (True, True, torch.bfloat16), (True, False, torch.float16)])
def test_inference_dtype_names(monkeypatch, cuda, bf16, auto):
    # auto is bf16 where the hardware computes it natively (a CPU with AVX512-BF16/AMX, an Ampere GPU), else fp32 on
    # a CPU and fp16 on a GPU.
    monkeypatch.setattr(modeling.torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(modeling.torch.cuda, "is_bf16_supported", lambda: bf16)
    monkeypatch.setattr(modeling, "cpu_has_bf16", lambda: bf16 and not cuda)
    assert inference_dtype("auto") == auto
    assert inference_dtype("fp32") == torch.float32 and inference_dtype("bf16") == torch.bfloat16
    assert inference_dtype("fp16") == torch.float16


def test_prediction_records(tiny_model, tokenizer, mixed_examples):
    records = run_generation(tiny_model, tokenizer, mixed_examples, batch_size=4)
    assert len(records) == len(mixed_examples)
    for record, example in zip(records, mixed_examples, strict=True):
        # The generated text beside the prediction only where the token limit cut a tag list (Task.complete).
        assert set(record) - {"generated"} == RECORD_KEYS
        if "generated" in record:
            assert record["task"] == "tags" and record["hit_limit"] and record["generated"] != record["prediction"]
        assert (record["id"], record["task"]) == (example["id"], example["task"])  # input order kept
        assert record["reference"] == example["reference"]
        assert 0 <= record["output_tokens"] <= MAX_NEW[example["task"]]
        if record["hit_limit"]:  # no end-of-turn: then it must have used every allowed token
            assert record["output_tokens"] == MAX_NEW[example["task"]]
        ids, cut = prompt_ids(tokenizer, example, 512 - MAX_NEW[example["task"]], DATE)
        assert record["prompt_tokens"] == len(ids) and record["input_tokens_cut"] == cut == 0
        assert isinstance(record["prediction"], str) and EOT not in record["prediction"]
    tags = [r for r in records if r["task"] == "tags"]
    assert tags and all(isinstance(r["reference"], list) and r["reference"] for r in tags)
    json.dumps(records)  # written as JSONL by the infer stage


def test_generation_respects_the_length_budget(tiny_model, tokenizer, mixed_examples):
    long = [e | {"input": " ".join([e["input"]] * 20)} for e in mixed_examples[:4]]
    max_length = 260
    records = run_generation(tiny_model, tokenizer, long, batch_size=4, max_length=max_length)
    for record, example in zip(records, long):
        assert record["input_tokens_cut"] > 0
        assert record["prompt_tokens"] + MAX_NEW[example["task"]] <= max_length


class ScriptedModel:
    """Stands in for a causal LM in generate(): returns given continuations, records what generate received.
    The forward pass (the task prefix's keys and values) is a real tiny model's."""

    def __init__(self, continuations, model):
        self.continuations = list(continuations)
        self.device = torch.device("cpu")
        self.config = model.config
        self.model = model
        self.calls = []

    def __call__(self, **kwargs):
        return self.model(**kwargs)

    def generate(self, input_ids, attention_mask, max_new_tokens, **kwargs):
        self.calls.append({"input_ids": input_ids, "attention_mask": attention_mask, "max_new_tokens": max_new_tokens,
                           **kwargs})
        rows = [self.continuations.pop(0) for _ in range(input_ids.shape[0])]
        width = max(len(r) for r in rows)
        pad = kwargs["pad_token_id"]
        new = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
        return torch.cat([input_ids, new], dim=1)


def test_generation_stops_at_end_of_turn_and_pads_after_the_shared_prefix(tiny_model, tokenizer, mixed_examples):
    eot, pad = eot_id(tokenizer), tokenizer.pad_token_id
    words = tokenizer("BMW iX3", add_special_tokens=False)["input_ids"]
    type_examples = [e | {"task": "type"} for e in mixed_examples[:2]]
    # first: answer then end-of-turn then padding; second: never stops, runs into the limit
    model = ScriptedModel([words + [eot], words + words[:1]], tiny_model)
    limit = len(words) + 1
    records = generate_predictions(
        model, tokenizer, type_examples, max_new_tokens={"type": limit}, max_length=512, date_string=DATE,
        batch_size=2, log=lambda line: None,
    )
    (call,) = model.calls
    assert call["max_new_tokens"] == limit and call["do_sample"] is False
    assert call["eos_token_id"] == eot and call["pad_token_id"] == pad
    prompts = [prompt_ids(tokenizer, e, 512 - limit, DATE)[0] for e in type_examples]
    shared = shared_prefix_length(prompts)
    assert shared > 20  # chat header and system message
    # The cache already holds the shared prefix for both rows; generate() computes only the rest.
    assert int(call["cache"].get_seq_length()) == shared
    # Sorted by length within the task; each row is the prefix, padding, the prompt's own rest: every prompt
    # ends right before generation, and the attention mask hides exactly the padding.
    order = sorted(range(2), key=lambda i: len(prompts[i]))
    width = max(len(p) for p in prompts)
    for row, index in enumerate(order):
        n = len(prompts[index])
        ids = call["input_ids"][row].tolist()
        assert ids[:shared] + ids[shared + width - n:] == prompts[index]
        assert set(ids[shared : shared + width - n]) <= {pad}
        assert call["attention_mask"][row].tolist() == [1] * shared + [0] * (width - n) + [1] * (n - shared)
    stopped, limited = records[order[0]], records[order[1]]
    assert stopped["prediction"] == "BMW iX3" and stopped["output_tokens"] == len(words)
    assert stopped["hit_limit"] is False
    assert limited["output_tokens"] == limit and limited["hit_limit"] is True
    assert model.continuations == []  # one generate call consumed both rows



def test_a_tag_list_cut_by_its_limit_loses_the_cut_tag(tiny_model, tokenizer, mixed_examples):
    """A tags answer that runs into its token limit keeps its complete tags as the prediction (scored and used) and
    its text as generated beside it; one that ended keeps everything, with no second text."""
    eot = eot_id(tokenizer)
    cut = tokenizer("BMW M, MINI John", add_special_tokens=False)["input_ids"]
    whole = tokenizer("BMW M, MINI", add_special_tokens=False)["input_ids"]
    tag_examples = [e | {"task": "tags"} for e in mixed_examples[:2]]
    prompts = [prompt_ids(tokenizer, e, 512 - len(cut), DATE)[0] for e in tag_examples]
    order = sorted(range(2), key=lambda i: len(prompts[i]))  # the batch's rows, shortest prompt first
    model = ScriptedModel([cut, whole + [eot]], tiny_model)
    records = generate_predictions(model, tokenizer, tag_examples, max_new_tokens={"tags": len(cut)}, max_length=512,
                                   date_string=DATE, batch_size=2, log=lambda line: None)
    limited, ended = records[order[0]], records[order[1]]
    assert limited["hit_limit"] is True and limited["prediction"] == "BMW M"
    assert limited["generated"] == "BMW M, MINI John"
    assert ended["hit_limit"] is False and ended["prediction"] == "BMW M, MINI" and "generated" not in ended


# ------------------------------------------------------------------ likelihood of the reference answers


@pytest.mark.parametrize("max_length", [512, 300])
def test_answer_nll_is_the_loss_on_the_answer_given_the_evaluation_prompt(tiny_model, tokenizer, mixed_examples,
                                                                           max_length):
    """Summed over the answer and its end-of-turn, given the prompt generation answers (cut at 300 tokens): the
    training loss of that sequence, from a plain forward pass without any cache."""
    from pressft.model.chat import answer_ids
    from pressft.model.generation import answer_nll

    results = answer_nll(tiny_model, tokenizer, mixed_examples, max_new_tokens=MAX_NEW, max_length=max_length,
                         date_string=DATE, batch_size=3, log=lambda line: None)
    cuts = 0
    for example, (nll, tokens) in zip(mixed_examples, results, strict=True):
        prompt, cut = prompt_ids(tokenizer, example, max_length - MAX_NEW[example["task"]], DATE)
        answer = answer_ids(tokenizer, example, DATE)
        cuts += cut > 0
        ids = torch.tensor([prompt + answer])
        labels = torch.tensor([[-100] * len(prompt) + answer])
        with torch.no_grad():
            loss = tiny_model(input_ids=ids, labels=labels).loss.item()
        assert tokens == len(answer) and answer[-1] == eot_id(tokenizer)
        assert nll / tokens == pytest.approx(loss, rel=1e-5)
    assert (cuts > 0) == (max_length == 300)
    # Alone in its task, a prompt is all shared prefix but its last token: nothing is left to prefill.
    (alone,) = answer_nll(tiny_model, tokenizer, mixed_examples[:1], max_new_tokens=MAX_NEW, max_length=max_length,
                          date_string=DATE, batch_size=3, log=lambda line: None)
    assert alone[1] == results[0][1] and alone[0] == pytest.approx(results[0][0], rel=1e-5)


def test_likeliest_is_the_candidate_with_the_least_answer_nll_the_first_of_equals(tiny_model, tokenizer,
                                                                                  mixed_examples):
    """Each example's own candidates (as the tag lines a prompt offers), scored as its answer after its prompt: the
    index of the least summed nll, and of the first where a candidate repeats."""
    from pressft.model.generation import answer_nll, likeliest

    settings = dict(max_new_tokens=MAX_NEW, max_length=512, date_string=DATE, batch_size=3, log=lambda line: None)
    examples = mixed_examples[:3]
    candidates = [["BMW M, MINI", "Motorsport", "BMW Group, Design, Production"], ["Speech", "Press Kit"],
                  ["BMW i", "BMW i"]]
    expected = []
    for example, answers in zip(examples, candidates, strict=True):
        scored = answer_nll(tiny_model, tokenizer, [example | {"answer": answer} for answer in answers], **settings)
        nlls = [nll for nll, _ in scored]
        expected.append(nlls.index(min(nlls)))
    assert likeliest(tiny_model, tokenizer, examples, candidates, **settings) == expected
    assert expected[2] == 0  # the repeated candidate: the first of the two


def test_answers_scored_while_generating_equal_answer_nll_and_leave_the_predictions_alone(tiny_model, tokenizer,
                                                                                        mixed_examples):
    """generate_predictions(score_answers=True) scores from the cache generation filled (and wrote past): the same
    numbers as the scoring-only path, at every batch size, and the same predictions as without scoring."""
    from pressft.model.generation import answer_nll

    plain = run_generation(tiny_model, tokenizer, mixed_examples, batch_size=4)
    alone = answer_nll(tiny_model, tokenizer, mixed_examples, max_new_tokens=MAX_NEW, max_length=512,
                       date_string=DATE, batch_size=1, log=lambda line: None)
    for batch_size in (1, 3, 8):
        scored = generate_predictions(tiny_model, tokenizer, mixed_examples, max_new_tokens=MAX_NEW, max_length=512,
                                      date_string=DATE, batch_size=batch_size, score_answers=True,
                                      log=lambda line: None)
        assert [r["prediction"] for r in scored] == [r["prediction"] for r in plain]
        for record, (nll, tokens) in zip(scored, alone, strict=True):
            assert record["answer_tokens"] == tokens
            assert record["answer_nll"] == pytest.approx(nll, rel=1e-4, abs=1e-4)
    assert "answer_nll" not in plain[0]


# ------------------------------------------------------------------ the vLLM backend, wired to a stand-in


@pytest.mark.parametrize("dtype,expected", [("fp32", "float32"), ("bf16", "bfloat16"), ("fp16", "float16")])
def test_vllm_gets_the_dtype_of_infer_dtype(dtype, expected):
    from pressft.model.generation import vllm_dtype

    assert vllm_dtype(dtype) == expected


@pytest.mark.parametrize("native_bf16,expected", [(True, "bfloat16"), (False, "float32")])
def test_vllm_auto_dtype_is_resolved_as_for_transformers(monkeypatch, native_bf16, expected):
    from pressft.model import modeling
    from pressft.model.generation import vllm_dtype

    monkeypatch.setattr(modeling.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(modeling, "cpu_has_bf16", lambda: native_bf16)
    assert vllm_dtype("auto") == expected


def test_vllm_backend_gets_our_prompts_and_gives_the_same_records(saved_model_dir, tokenizer, mixed_examples,
                                                                  monkeypatch):
    """vLLM is not installed here: a stand-in module checks what the backend sends and answers like vLLM does."""
    import sys
    import types
    from types import SimpleNamespace

    from pressft.model.chat import eot_id, prompt_ids
    from pressft.model.generation import generate_with_vllm

    seen = {}
    end = eot_id(tokenizer)

    class LLM:
        def __init__(self, **kwargs):
            seen["init"] = kwargs

        def generate(self, prompts, sampling):
            seen.setdefault("calls", []).append((prompts, sampling))
            outputs = []
            for n, prompt in enumerate(prompts):
                stop = n % 2 == 0  # every other answer stops at end-of-turn, the rest run into the limit
                ids = [5, 6] + ([end] if stop else [7] * (sampling.max_tokens - 2))
                text = tokenizer.decode([t for t in ids if t != end], skip_special_tokens=True)
                outputs.append(SimpleNamespace(outputs=[SimpleNamespace(
                    token_ids=ids, text=text, finish_reason="stop" if stop else "length")]))
            return outputs

    vllm = types.ModuleType("vllm")
    vllm.LLM = LLM
    vllm.SamplingParams = lambda **kwargs: SimpleNamespace(**kwargs)
    inputs = types.ModuleType("vllm.inputs")
    inputs.TokensPrompt = lambda prompt_token_ids: {"prompt_token_ids": prompt_token_ids}
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.inputs", inputs)

    records = generate_with_vllm(str(saved_model_dir), mixed_examples, dtype="fp32", max_new_tokens=MAX_NEW,
                                 max_length=512, date_string=DATE, log=lambda line: None)
    assert seen["init"]["model"] == str(saved_model_dir) and seen["init"]["max_model_len"] == 512
    assert seen["init"]["dtype"] == "float32"  # infer.dtype, not a fixed one
    for prompts, sampling in seen["calls"]:
        # end-of-turn alone stops, as in the transformers path: not vLLM's default EOS ids as well
        assert sampling.temperature == 0.0 and sampling.stop_token_ids == [end] and sampling.ignore_eos
    sent = {tuple(p["prompt_token_ids"]) for prompts, _ in seen["calls"] for p in prompts}
    for example, record in zip(mixed_examples, records, strict=True):
        ids, _ = prompt_ids(tokenizer, example, 512 - MAX_NEW[example["task"]], DATE)
        assert tuple(ids) in sent  # the very prompt the transformers path would build
        assert record["id"] == example["id"] and record["task"] == example["task"]
        assert record["prompt_tokens"] == len(ids)
        if record["hit_limit"]:
            assert record["output_tokens"] == MAX_NEW[example["task"]]
        else:
            assert record["output_tokens"] == 2
    assert set(records[0]) == {"id", "task", "reference", "prediction", "prompt_tokens", "output_tokens",
                               "hit_limit", "input_tokens_cut"}


def test_a_label_task_answers_its_most_likely_label(tiny_model, tokenizer, mixed_examples):
    """With labels, each type example answers the label of least summed nll, and that nll is the one answer_nll gives
    for the example with the label as its answer (from a separate pass); the other tasks are untouched, and the
    generated text stays beside the chosen label."""
    from pressft.model.generation import answer_nll, label_nll
    from pressft.tasks import ARTICLE_TYPES

    labels = {"type": ARTICLE_TYPES}
    plain = run_generation(tiny_model, tokenizer, mixed_examples, batch_size=3)
    chosen = generate_predictions(tiny_model, tokenizer, mixed_examples, max_new_tokens=MAX_NEW, max_length=512,
                                  date_string=DATE, batch_size=3, labels=labels, log=lambda line: None)
    typed = [i for i, example in enumerate(mixed_examples) if example["task"] == "type"]
    assert typed
    for index, (example, record) in enumerate(zip(mixed_examples, chosen, strict=True)):
        if index not in typed:
            assert record == plain[index]
            continue
        expected = {label: answer_nll(tiny_model, tokenizer, [example | {"answer": label}], max_new_tokens=MAX_NEW,
                                      max_length=512, date_string=DATE, batch_size=1, log=lambda line: None)[0][0]
                    for label in ARTICLE_TYPES}
        assert record["label_nll"] == pytest.approx(expected, rel=1e-4)
        assert record["prediction"] == min(expected, key=expected.get)
        assert record["generated"] == plain[index]["prediction"] and record["label_method"] == "likelihood"
    # The scoring-only path (for vLLM) gives the same numbers.
    alone = label_nll(tiny_model, tokenizer, mixed_examples, labels, max_new_tokens=MAX_NEW, max_length=512,
                      date_string=DATE, batch_size=8, log=lambda line: None)
    assert [scores is not None for scores in alone] == [i in typed for i in range(len(mixed_examples))]
    for index in typed:
        assert alone[index] == pytest.approx(chosen[index]["label_nll"], abs=1e-3)


def test_a_label_repeated_in_training_needs_ln_k_more_evidence():
    """Prior-shift correction, by hand: Press Kit repeated 4 times adds ln 4 = 1.386 to its nll before choosing."""
    from pressft.model.generation import choose_label

    record = {"id": "a", "task": "type", "prediction": "Press Kit"}
    close = {"Press Release": 1.0, "Press Kit": 0.5, "Speech": 3.0}  # 0.5 + 1.386 > 1.0: the prior decided
    clear = {"Press Release": 2.0, "Press Kit": 0.5, "Speech": 3.0}  # 0.5 + 1.386 < 2.0: the article decided
    repeats = {"Press Release": 1, "Press Kit": 4, "Speech": 4}
    assert choose_label(record, close)["prediction"] == "Press Kit"
    corrected = choose_label(record, close, repeats)
    assert corrected["prediction"] == "Press Release" and corrected["generated"] == "Press Kit"
    assert corrected["label_nll"] == close and corrected["label_repeats"] == {"Press Kit": 4, "Speech": 4}
    assert choose_label(record, clear, repeats)["prediction"] == "Press Kit"
    assert "label_repeats" not in choose_label(record, close, {"Press Release": 1, "Press Kit": 1})
