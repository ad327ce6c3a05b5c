"""The GGUF export read back by transformers (`gguf_file=`): the same prompt tokens, the same stop token and the same
greedy answers as the merged model (identical at f32 and f16, within a measured tolerance at q8_0); the chat template,
end-of-turn and greedy defaults stored in the file; an Ollama Modelfile that renders the same prompt; unsupported
architectures refused in one line. llama.cpp itself is checked by scripts/check_llama_cpp.py (docs/export.md)."""

import re

import numpy as np
import pytest
import torch

from pressft.errors import UserError
from pressft.model.chat import eot_id
from pressft.model.generation import generate_predictions
from pressft.model.gguf_export import check_supported, modelfile, write_gguf
from pressft.model.modeling import load_for_inference
from pressft.tasks import make_examples

LIMITS = {"summarization": 16, "title": 8, "tags": 8, "type": 3}
SETTINGS = dict(max_new_tokens=LIMITS, max_length=512, date_string="26 Jul 2024", batch_size=8, log=lambda line: None)
# Share of answers identical to the merged model's. Measured on the tiny random model merged with its LoRA
# (tests/conftest.py), 10 articles x 4 tasks: f32 40 of 40; f16 38 (its random weights are large, so rounding moves
# near-ties); q8_0 25. Its headline metrics are all ~0, so the q8_0 metric tolerance is measured on SmolLM2 by
# scripts/check_llama_cpp.py (docs/export.md).
AGREEMENT = {"f32": 1.0, "f16": 0.9, "q8_0": 0.5}


@pytest.fixture(scope="module")
def merged(tiny_adapter):
    return load_for_inference(tiny_adapter)


@pytest.fixture(scope="module")
def examples(normalised_articles, config):
    return [e for a in normalised_articles(10) for e in make_examples(a, config.tasks.names, config.tasks.prompts)]


@pytest.fixture(scope="module")
def merged_answers(merged, examples):
    return generate_predictions(*merged, examples, **SETTINGS)


def _load(path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    return model.eval(), AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


@pytest.mark.parametrize("outtype", ["f32", "f16", "q8_0"])
def test_the_gguf_read_back_answers_as_the_merged_model(merged, examples, merged_answers, outtype, tmp_path):
    model, tokenizer = merged
    path = write_gguf(model, tokenizer, tmp_path / f"m-{outtype}.gguf", outtype, name="pressft-test")
    gguf_model, gguf_tokenizer = _load(path)

    # The chat template and stop token travel: same prompt ids, and the file's own generation config stops at the
    # end of turn (a wrong eos would run on to the limit, a wrong template would change the ids).
    messages = [{"role": "system", "content": "You are an expert."}, {"role": "user", "content": "BMW iX3 news"}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)["input_ids"]
    assert gguf_tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)["input_ids"] == ids
    assert eot_id(gguf_tokenizer) == eot_id(tokenizer) == gguf_model.generation_config.eos_token_id
    assert gguf_tokenizer(examples[0]["input"])["input_ids"] == tokenizer(examples[0]["input"])["input_ids"]

    answers = generate_predictions(gguf_model, gguf_tokenizer, examples, **SETTINGS)
    same = sum(a["prediction"] == b["prediction"] for a, b in zip(answers, merged_answers, strict=True)) / len(answers)
    assert same >= AGREEMENT[outtype]
    if outtype == "f32":
        prompt = torch.tensor([ids])
        expected = model.generate(prompt, max_new_tokens=12, do_sample=False, eos_token_id=eot_id(tokenizer),
                                  pad_token_id=tokenizer.pad_token_id)
        assert torch.equal(gguf_model.generate(prompt, max_new_tokens=12, do_sample=False,
                                               pad_token_id=tokenizer.pad_token_id), expected)


def test_the_file_holds_the_chat_template_stop_token_and_greedy_defaults(merged, tmp_path):
    import gguf

    model, tokenizer = merged
    path = write_gguf(model, tokenizer, tmp_path / "m.gguf", "q8_0", name="pressft-test")
    fields = gguf.GGUFReader(path).fields
    value = lambda key: fields[key].contents()  # noqa: E731
    assert value("tokenizer.chat_template") == tokenizer.chat_template
    end = tokenizer.convert_tokens_to_ids("<|eot_id|>")
    assert value("tokenizer.ggml.eos_token_id") == value("tokenizer.ggml.eot_token_id") == end
    assert value("tokenizer.ggml.tokens")[end] == "<|eot_id|>"
    assert value("tokenizer.ggml.token_type")[end] == gguf.TokenType.CONTROL
    assert value("tokenizer.ggml.pre") == "gpt-2" and value("tokenizer.ggml.model") == "gpt2"
    assert value("general.sampling.temp") == 0.0 and value("general.sampling.top_k") == 1
    assert value("general.file_type") == gguf.LlamaFileType.MOSTLY_Q8_0
    types = {t.name: t.tensor_type for t in gguf.GGUFReader(path).tensors}
    assert types["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.Q8_0
    assert types["blk.0.attn_norm.weight"] == gguf.GGMLQuantizationType.F32
    assert "output.weight" not in types  # tied: llama.cpp reads token_embd


def test_a_base_from_a_gguf_keeps_that_files_vocabulary(merged, tmp_path):
    import gguf

    model, tokenizer = merged
    source = write_gguf(model, tokenizer, tmp_path / "source.gguf", "f32", name="source")
    # A pre-tokenizer name this export would not write itself (same length, patched in place): it must survive.
    pre = gguf.GGUFReader(source, "r+").fields["tokenizer.ggml.pre"]
    pre.parts[-1][:] = np.frombuffer(b"qwen2", dtype=np.uint8)
    pre.parts[-1].flush() if hasattr(pre.parts[-1], "flush") else None
    copied = write_gguf(model, tokenizer, tmp_path / "copy.gguf", "f16", name="copy", source_gguf=source)
    a, b = gguf.GGUFReader(source).fields, gguf.GGUFReader(copied).fields
    assert b["tokenizer.ggml.pre"].contents() == "qwen2"
    for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges"):
        assert b[key].contents() == a[key].contents()
    assert b["tokenizer.chat_template"].contents() == tokenizer.chat_template
    smaller = tmp_path / "other.gguf"
    writer = gguf.GGUFWriter(smaller, "llama")
    writer.add_token_list(["a", "b"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    with pytest.raises(UserError, match="has 2 tokens"):
        write_gguf(model, tokenizer, tmp_path / "bad.gguf", "f16", name="bad", source_gguf=smaller)


def _render_ollama(template: str, system: str | None, prompt: str) -> str:
    """Ollama's Go template for one turn, with the only constructs modelfile() writes."""
    with_system, without = re.fullmatch(r"\{\{ if \.System \}\}(.*?)\{\{ else \}\}(.*?)\{\{ end \}\}.*", template,
                                        re.S).groups()
    rest = template.split("{{ end }}", 1)[1]
    head = with_system.replace("{{ .System }}", system) if system is not None else without
    return head + rest.replace("{{ .Prompt }}", prompt).replace("{{ .Response }}", "")


@pytest.mark.parametrize("system", ["You are an expert at analyzing BMW news articles.", None])
def test_the_modelfile_renders_the_chat_template_and_stops_at_the_end_of_turn(tokenizer, system):
    text = modelfile("m-q8_0.gguf", tokenizer)
    assert text.startswith("FROM ./m-q8_0.gguf\n")
    assert 'PARAMETER stop "<|eot_id|>"' in text and "PARAMETER temperature 0" in text
    (template,) = re.findall(r'TEMPLATE """(.*?)"""', text, re.S)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": "Hi BMW"}]
    assert _render_ollama(template, system, "Hi BMW") == tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False)


def test_an_unsupported_architecture_is_refused_in_one_line():
    from transformers import MistralConfig, MistralForCausalLM

    model = MistralForCausalLM(MistralConfig(vocab_size=16, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                             num_attention_heads=2, num_key_value_heads=1))
    with pytest.raises(UserError) as error:
        check_supported(model, "f16")
    assert str(error.value).startswith("GGUF export supports LlamaForCausalLM only, not MistralForCausalLM;")
    assert "\n" not in str(error.value)
