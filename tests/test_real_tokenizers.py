"""The chat code on real tokenizers: SmolLM2-135M-Instruct's (ChatML, the committed default) and the Llama-3.2
vocabulary with the Llama-3.2-style template. Each goes through prepare_base with a tiny random Llama of its
vocabulary size; then the loss mask, the stop token, the pad token, the prompt budget and generation with a
shared prefix are checked against what the template itself renders."""

from types import SimpleNamespace

import pytest
import torch

from pressft.model.chat import encode_for_training, eot_id, prompt_ids
from pressft.data.cleaning import clean_article
from pressft.model.generation import generate_predictions, shared_prefix_length
from pressft.model.modeling import load_model, prepare_base
from pressft.tasks import make_examples

DATE = "26 Jul 2024"
SMOLLM_DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM"

# A realistic PressClub article: non-ASCII text (€, –, ü), quotes, paragraphs; every task's answer differs in kind.
ARTICLE = {
    "title": "BMW Group Plant Oxford builds its 3,000,000th vehicle – a MINI Cooper SE",
    "date": "14.05.2024",
    "type": "Press Release",
    "summary": "Plant Oxford has reached a production milestone of 3,000,000 vehicles. The jubilee vehicle, "
               "a MINI Cooper SE, will be handed over to a customer in June.",
    "tags": ["Production", "MINI", "Electromobility"],
    "url": "https://www.press.bmwgroup.com/global/article/detail/T0440001EN/oxford-milestone",
    "content": (
        "Oxford. BMW Group Plant Oxford has built its 3,000,000th vehicle, a new MINI Cooper SE. The jubilee "
        "vehicle is finished in a special paint colour. The site currently builds up to 220,000 vehicles per year."
        "\n\nThe model comes with an all-electric drive, a 54.2 kWh battery and a range of up to 402 km (WLTP). "
        "Prices in Germany start at € 34,900.\n\n\"The 3,000,000th vehicle is a tribute to the people in Oxford,\" "
        "said Jürgen Müller, Head of Plant Oxford. \"I would like to thank everyone involved.\"\n\nProduction at "
        "the site runs in three shifts, six days a week. The BMW Group site in Oxford, the UK, dates back to 1913 "
        "and employs around 4,000 people."
    ),
}

# What each template writes, by hand: the prompt around the system text, the input and the instruction; the
# end of turn and the pad prepare_base picks; what the template writes after an answer's end of turn.
EXPECTED = {
    "smollm2": SimpleNamespace(
        prompt="<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{input}\n\n{instruction}<|im_end|>\n"
               "<|im_start|>assistant\n",
        end="<|im_end|>", end_id=2,
        pad="<|endoftext|>", pad_id=0,  # the raw tokenizer pads with <|im_end|>, its end of turn
        vocab=49152,
        after_end="\n",
    ),
    "llama3": SimpleNamespace(
        prompt="<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023"
               f"\nToday Date: {DATE}\n\n{{system}}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{{input}}"
               "\n\n{instruction}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
        end="<|eot_id|>", end_id=128009,
        pad="<|finetune_right_pad_id|>", pad_id=128004,  # the raw tokenizer has no pad
        vocab=128257,  # 128,000 + 256 reserved/special + <|image|>
        after_end="",
    ),
}


def tiny_llama(vocab_size: int, tokenizer, seed: int = 0):
    """A random 2-layer Llama of the tokenizer's vocabulary, configured as its hub release would be (eos and pad
    as the tokenizer has them), with weights large enough that greedy output depends on the prompt."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=1024, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    ))
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() > 1:
                parameter.normal_(0.0, 0.3)
    return model.eval()


@pytest.fixture(scope="module", params=["smollm2", "llama3"])
def real(request, tmp_path_factory):
    """The raw tokenizer, and model + tokenizer of the base prepare_base wrote, loaded as the pipeline loads it."""
    name = request.param
    raw = request.getfixturevalue(f"{name}_tokenizer")
    source = tmp_path_factory.mktemp(f"{name}-hub-like")
    tiny_llama(len(raw), raw).save_pretrained(source)
    raw.save_pretrained(source)
    out = tmp_path_factory.mktemp(f"{name}-base") / "base"
    summary = prepare_base(str(source), out)
    model, tokenizer = load_model(out)  # AutoTokenizer / AutoModelForCausalLM from the prepared directory
    return SimpleNamespace(name=name, raw=raw, tokenizer=tokenizer, model=model.eval(), summary=summary,
                           expect=EXPECTED[name])


@pytest.fixture
def examples(config):
    """The four tasks of the realistic article, with the repository's prompts."""
    article = clean_article(ARTICLE, min_content_words=1, max_chars=10**6)[0]
    return make_examples(article, ["summarization", "title", "tags", "type"], config.tasks.prompts)


def messages(example, answer: bool) -> list[dict[str, str]]:
    """The conversation as the pipeline defines it (instruction after the article), written out independently."""
    chat = [{"role": "system", "content": example["system"]},
            {"role": "user", "content": f"{example['input']}\n\n{example['instruction']}"}]
    return chat + ([{"role": "assistant", "content": example["answer"]}] if answer else [])


def expected_prompt(real, example, input_text=None) -> str:
    return real.expect.prompt.format(system=example["system"], instruction=example["instruction"],
                                     input=example["input"] if input_text is None else input_text)


# ------------------------------------------------------------------ prepare_base: stop token and pad token


def test_prepared_base_stops_at_the_end_of_turn_and_pads_with_another_token(real):
    expect, tokenizer, model = real.expect, real.tokenizer, real.model
    assert eot_id(real.raw) == eot_id(tokenizer) == expect.end_id
    assert tokenizer.convert_ids_to_tokens(expect.end_id) == expect.end
    # not the tokenizer's eos for Llama (<|end_of_text|>, 128001): the end of turn comes from the template
    assert real.raw.eos_token_id == (2 if real.name == "smollm2" else 128001)
    assert model.generation_config.eos_token_id == model.config.eos_token_id == expect.end_id
    assert model.generation_config.do_sample is False
    assert (tokenizer.pad_token, tokenizer.pad_token_id) == (expect.pad, expect.pad_id)
    assert tokenizer.pad_token_id != expect.end_id
    assert model.config.pad_token_id == model.generation_config.pad_token_id == expect.pad_id
    # the pad was in the vocabulary: nothing added, no embedding rows grown
    assert len(tokenizer) == len(real.raw) == expect.vocab == model.get_input_embeddings().weight.shape[0]
    assert tokenizer.chat_template == real.raw.chat_template
    assert real.summary["end_of_turn"] == expect.end and real.summary["pad"] == expect.pad
    assert real.summary["vocab_size"] == expect.vocab and real.summary["architecture"] == "LlamaForCausalLM"


# ------------------------------------------------------------------ the loss mask on a rendered example


def test_loss_mask_is_the_templates_answer_and_end_of_turn(real, examples):
    tokenizer, expect = real.tokenizer, real.expect
    for example in examples:
        row = encode_for_training(tokenizer, example, 1024, DATE)
        ids, mask = row["input_ids"], row["completion_mask"]
        n_prompt = mask.index(1)
        assert mask == [0] * n_prompt + [1] * (len(ids) - n_prompt) and row["input_tokens_cut"] == 0
        assert tokenizer.decode(ids[:n_prompt]) == expected_prompt(real, example)
        # the trained tokens: the answer as the template renders it, then the end of turn, nothing else
        assert tokenizer.decode(ids[n_prompt:]) == example["answer"] + expect.end
        assert ids[n_prompt:] == tokenizer(example["answer"], add_special_tokens=False)["input_ids"] + [expect.end_id]
        # prompt + answer is the start of the template's own rendering of the whole conversation
        full = list(tokenizer.apply_chat_template(messages(example, answer=True), tokenize=True,
                                                  date_string=DATE)["input_ids"])
        assert full[: len(ids)] == ids
        assert tokenizer.decode(full[len(ids):]) == expect.after_end
        # the prompt alone is what generation gets, and saving and loading the tokenizer changed nothing
        assert prompt_ids(tokenizer, example, 1024, DATE) == (ids[:n_prompt], 0)
        assert encode_for_training(real.raw, example, 1024, DATE) == row


def test_smollm2_default_system_message_stays_out_of_our_prompts(smollm2_tokenizer, examples):
    # the template writes its own system message when a conversation has none...
    default = smollm2_tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False)
    assert SMOLLM_DEFAULT_SYSTEM in default
    # ...and ours always has one
    for example in examples:
        row = encode_for_training(smollm2_tokenizer, example, 1024, DATE)
        text = smollm2_tokenizer.decode(row["input_ids"])
        assert example["system"] in text and SMOLLM_DEFAULT_SYSTEM not in text
        assert text.count("<|im_start|>system\n") == 1
        prompt, _ = prompt_ids(smollm2_tokenizer, example, 384, DATE)
        assert SMOLLM_DEFAULT_SYSTEM not in smollm2_tokenizer.decode(prompt)


# ------------------------------------------------------------------ the prompt budget


@pytest.mark.parametrize("task_index", [0, 3])  # summarization (the longest answer), type (the shortest)
def test_long_input_is_cut_to_the_budget_and_the_answer_kept(real, examples, task_index):
    tokenizer, expect = real.tokenizer, real.expect
    example = examples[task_index] | {"input": "\n\n".join([examples[task_index]["input"]] * 12)}
    input_tokens = len(tokenizer(example["input"], add_special_tokens=False)["input_ids"])
    skeleton = len(tokenizer.apply_chat_template(messages(example | {"input": ""}, answer=False), tokenize=True,
                                                 add_generation_prompt=True, date_string=DATE)["input_ids"])
    answer = tokenizer(example["answer"], add_special_tokens=False)["input_ids"] + [expect.end_id]
    max_length = skeleton + len(answer) + 60
    assert input_tokens > 1500  # far more than the 60 tokens of room

    row = encode_for_training(tokenizer, example, max_length, DATE)
    ids, mask = row["input_ids"], row["completion_mask"]
    n_prompt = mask.index(1)
    assert len(ids) <= max_length
    assert ids[n_prompt:] == answer and sum(mask) == len(answer)  # the answer is intact
    assert 0 < input_tokens - row["input_tokens_cut"] <= 60
    prompt = tokenizer.decode(ids[:n_prompt])
    start, end = expected_prompt(real, example, "\0").split("\0")
    assert prompt.startswith(start + example["input"][:40])  # the input is cut at its end...
    assert prompt.endswith(end)  # ...and the instruction, the end of turn and the assistant header follow it
    assert ids[:n_prompt] == prompt_ids(tokenizer, example, max_length - len(answer), DATE)[0]
    budget = skeleton + 10
    short, cut = prompt_ids(tokenizer, example, budget, DATE)
    assert len(short) <= budget and cut >= input_tokens - 10 and tokenizer.decode(short).endswith(end)


# ------------------------------------------------------------------ generation with a shared prefix


def test_shared_prefix_generation_equals_one_prompt_generate(real, normalised_articles, config):
    """generate_predictions (task prefix computed once, left padding after it, static cache) against plain
    generate() of each prompt on its own, token for token, in fp32."""
    tokenizer, model, end = real.tokenizer, real.model, real.expect.end_id
    assert model.dtype == torch.float32
    examples = [make_examples(article, ["title"], config.tasks.prompts)[0] for article in normalised_articles(4)]
    max_new = 8
    prompts = [prompt_ids(tokenizer, example, 512 - max_new, DATE)[0] for example in examples]
    assert len({len(prompt) for prompt in prompts}) == 4  # one batch with real padding
    shared = shared_prefix_length(prompts)
    assert examples[0]["system"] in tokenizer.decode(prompts[0][:shared])  # header and system message shared

    records = generate_predictions(model, tokenizer, examples, max_new_tokens={"title": max_new}, max_length=512,
                                   date_string=DATE, batch_size=4, log=lambda line: None)
    predictions = []
    for record, prompt in zip(records, prompts, strict=True):
        with torch.inference_mode():
            output = model.generate(input_ids=torch.tensor([prompt]), max_new_tokens=max_new, do_sample=False,
                                    eos_token_id=end, pad_token_id=tokenizer.pad_token_id)
        tokens = output[0, len(prompt):].tolist()
        stopped = end in tokens
        tokens = tokens[: tokens.index(end)] if stopped else tokens
        assert record["prediction"] == tokenizer.decode(tokens, skip_special_tokens=True).strip()
        assert (record["output_tokens"], record["hit_limit"]) == (len(tokens), not stopped)
        assert record["prompt_tokens"] == len(prompt)
        predictions.append(record["prediction"])
    assert len(set(predictions)) == 4  # the random model really depends on its prompt


def test_packaged_tokenizer_saves_the_same_whatever_the_offline_mode(smollm2_tokenizer, tmp_path):
    """As load_model ensures for hub and local models (test_saved_tokenizer_does_not_depend_on_offline_mode):
    else the same base_model run writes a different models/base, hence a different dvc.lock."""
    smollm2_tokenizer.save_pretrained(tmp_path)
    assert "local_files_only" not in (tmp_path / "tokenizer_config.json").read_text()
