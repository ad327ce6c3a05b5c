"""params.yaml checks: every bad value fails before any work, with one line naming the param and the fix."""

import re
from pathlib import Path

import pytest

from pressft.errors import UserError, run_stage
from pressft.params import check_params, is_local_model, load_params

PARAMS_FILE = Path(__file__).resolve().parents[1] / "params.yaml"


def check_fails(params, *fragments: str) -> str:
    """check_params must raise a one-line UserError containing every fragment; returns the message."""
    with pytest.raises(UserError) as info:
        check_params(params)
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def test_repo_params_file_is_valid():
    params = load_params(PARAMS_FILE)
    check_params(params)  # idempotent on a loaded file
    assert params["data"]["source"] == "embedded"
    assert params["tasks"]["names"] == ["summarization", "title", "tags", "type"]
    assert set(params["infer"]["max_new_tokens"]) == set(params["tasks"]["names"])


def test_params_fixture_is_a_private_copy(params):
    params["train"]["size"] = -99
    params["tasks"]["names"].append("extra")
    # A fresh load is untouched: nothing in the loader is shared between calls.
    fresh = load_params(PARAMS_FILE)
    assert fresh["train"]["size"] != -99 and fresh["train"]["size"] > 0
    assert fresh["tasks"]["names"] == ["summarization", "title", "tags", "type"]


@pytest.mark.parametrize("size", [0, -1, "abc", 2.5, True, None])
def test_train_size_must_be_a_positive_integer(params, size):
    params["train"]["size"] = size
    check_fails(params, "train.size", "integer >= 1", repr(size))


def test_unknown_data_source_lists_the_allowed_ones(params):
    params["data"]["source"] = "s3"
    check_fails(params, "data.source", "embedded", "file", "huggingface", "pressclub", "'s3'")


def test_unknown_task_is_named(params):
    params["tasks"]["names"] = ["summarization", "translation"]
    message = check_fails(params, "tasks.names", "translation")
    for task in ("summarization", "title", "tags", "type"):
        assert task in message  # the allowed tasks are listed


def test_empty_task_list(params):
    params["tasks"]["names"] = []
    check_fails(params, "tasks.names", "empty")


def test_task_without_prompt_is_named(params):
    del params["tasks"]["prompts"]["title"]["instruction"]
    check_fails(params, "tasks.prompts.title.instruction", "missing")


def test_task_without_token_limit_is_named(params):
    del params["infer"]["max_new_tokens"]["tags"]
    check_fails(params, "infer.max_new_tokens.tags")


@pytest.mark.parametrize("base", ["./no/such/model", "/tmp/nope-pressft-model", "models/no/such/dir"])
def test_missing_local_model_directory(params, base):
    params["model"]["base"] = base
    assert is_local_model(base)
    check_fails(params, "model.base", base, "does not exist", "embedded", "hub id")


@pytest.mark.parametrize("base", ["unsloth/Llama-3.2-1B-Instruct", "meta-llama/Llama-3.2-3B-Instruct"])
def test_hub_id_is_not_checked_for_existence(params, base):
    params["model"]["base"] = base
    assert not is_local_model(base)
    check_params(params)  # no network, no error


def test_existing_local_model_directory_passes(params, tmp_path):
    params["model"]["base"] = str(tmp_path)
    assert is_local_model(str(tmp_path))
    check_params(params)


def test_embedded_is_neither_local_nor_hub():
    assert not is_local_model("embedded")


def test_empty_model_base(params):
    params["model"]["base"] = ""
    check_fails(params, "model.base")


def test_4bit_without_cuda_mentions_gpu(params, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    params["model"]["load_in_4bit"] = True
    check_fails(params, "model.load_in_4bit", "GPU", "false")


def test_file_source_needs_an_existing_path(params, tmp_path):
    params["data"]["source"] = "file"
    params["data"]["path"] = None
    check_fails(params, "data.path", ".jsonl or .json", "None")
    params["data"]["path"] = str(tmp_path / "missing.jsonl")
    check_fails(params, "data.path", "missing.jsonl")
    params["data"]["path"] = str(tmp_path)  # a directory is not a file
    check_fails(params, "data.path")


def test_file_source_with_a_file_passes_without_corpus_size(params, tmp_path):
    data = tmp_path / "articles.jsonl"
    data.write_text("{}\n")
    params["data"] |= {"source": "file", "path": str(data)}
    del params["data"]["n_articles"], params["data"]["seed"]  # only read for the embedded corpus
    check_params(params)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("dataset", "", "data.huggingface.dataset must be a non-empty string"),
        ("revision", None, "data.huggingface.revision must be a non-empty string"),
        ("data_files", [], "data.huggingface.data_files must be a glob or a list of globs"),
        ("data_files", ["*.jsonl", 3], "data.huggingface.data_files must be a glob or a list of globs"),
    ],
)
def test_huggingface_settings_are_checked(params, key, value, fragment):
    params["data"]["source"] = "huggingface"
    check_params(params)  # the committed settings are valid
    params["data"]["huggingface"][key] = value
    check_fails(params, fragment)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("feed", "atom", "data.pressclub.feed must be one of listing, rss; got 'atom'"),
        ("listing_url", "ftp://press.example", "data.pressclub.listing_url must be an http(s) URL"),
        ("max_articles", 0, "data.pressclub.max_articles must be an integer >= 1"),
        ("retries", -1, "data.pressclub.retries must be an integer >= 0"),
        ("delay_seconds", -0.5, "data.pressclub.delay_seconds must be a number >= 0"),
        ("timeout_seconds", 0, "data.pressclub.timeout_seconds must be above 0"),
    ],
)
def test_pressclub_settings_are_checked(params, key, value, fragment):
    params["data"]["source"] = "pressclub"
    check_params(params)
    params["data"]["pressclub"][key] = value
    check_fails(params, fragment)


@pytest.mark.parametrize("excluded", [["Blog"], "Speech", ["Press Release", "Press Kit", "Speech", "Fact & Figures"]])
def test_exclude_types_must_be_known_and_leave_some(params, excluded):
    params["split"]["exclude_types"] = excluded
    check_fails(params, "split.exclude_types", "Press Release", repr(excluded))


def test_exclude_types_like_the_reference_passes(params):
    params["split"]["exclude_types"] = ["Fact & Figures"]
    check_params(params)


@pytest.mark.parametrize("test,val", [(2000, 400), (2399, 1), (2400, 100)])
def test_split_must_leave_training_articles(params, test, val):
    assert params["data"]["n_articles"] == 2400
    params["split"]["test"], params["split"]["val"] = test, val
    check_fails(params, "split.test", "split.val", str(test + val), "data.n_articles", "2400")


def test_split_just_below_corpus_size_passes(params):
    params["split"]["test"], params["split"]["val"] = 2000, 399
    params["train"]["size"] = 1  # the one article left
    check_params(params)


@pytest.mark.parametrize(
    "group,key,value,fragment",
    [
        ("train", "scheduler", "exponential", "train.scheduler"),
        ("train", "lr", -0.1, "train.lr"),
        ("train", "warmup_steps", -1, "train.warmup_steps"),
        ("model", "max_length", 32, "model.max_length"),
        ("infer", "batch_size", 0, "infer.batch_size"),
    ],
)
def test_other_bad_values_are_named(params, group, key, value, fragment):
    params[group][key] = value
    check_fails(params, fragment)


def test_missing_group_is_named(params):
    del params["score"]
    check_fails(params, "score.bertscore_model", "missing")


def test_embedded_heads_must_divide_hidden(params):
    params["model"]["base"] = "embedded"  # model.embedded is only read for the embedded base
    params["model"]["embedded"]["heads"] = 7
    check_fails(params, "model.embedded.hidden_size", "model.embedded.heads")


def test_embedded_group_is_not_checked_for_another_base(params):
    params["model"]["base"] = "smollm2-135m-instruct"
    params["model"]["embedded"]["heads"] = 7
    check_params(params)


def test_missing_params_file(tmp_path):
    with pytest.raises(UserError) as info:
        load_params(tmp_path / "params.yaml")
    message = str(info.value)
    assert "\n" not in message
    assert "params.yaml" in message and "not found" in message and "repository root" in message


def test_params_file_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(UserError, match="mapping"):
        load_params(path)


def test_bad_value_in_file_fails_on_load(tmp_path):
    text = re.sub(r"(?m)^  size: \d+ ", "  size: lots ", PARAMS_FILE.read_text())
    assert "size: lots" in text
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=r"train\.size must be an integer >= 1, got 'lots'"):
        load_params(path)


def test_yaml_syntax_error_is_a_user_error(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  size: [500\n")
    with pytest.raises(UserError) as info:
        load_params(path)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------ run_stage


def test_run_stage_turns_user_error_into_exit_2(capsys):
    def main():
        raise UserError("param train.size must be an integer >= 1, got 0")

    with pytest.raises(SystemExit) as info:
        run_stage(main)
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.err == "error: param train.size must be an integer >= 1, got 0\n"
    assert captured.out == ""


def test_run_stage_lets_bugs_through_and_passes_success():
    calls = []
    run_stage(lambda: calls.append("ran"))  # no SystemExit on success
    assert calls == ["ran"]

    def buggy():
        raise KeyError("internal")

    with pytest.raises(KeyError):  # internal bugs keep their traceback
        run_stage(buggy)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("precision", "fp8", "train.precision must be one of auto, fp32, bf16, fp16; got 'fp8'"),
        ("keep_best", "yes", "train.keep_best must be true or false, got 'yes'"),
        ("activation_checkpointing", 1, "train.activation_checkpointing must be true or false, got 1"),
        ("packing", None, "train.packing must be true or false, got None"),
        ("launcher", "bash -c", "train.launcher must start with python, accelerate or torchrun; got 'bash -c'"),
        ("launcher", "", "train.launcher must be a non-empty string"),
    ],
)
def test_training_switches_are_checked(params, key, value, fragment):
    params["train"][key] = value
    check_fails(params, fragment)


def test_fp16_without_cuda_mentions_gpu(params, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    params["train"]["precision"] = "fp16"
    check_fails(params, "train.precision=fp16 needs a CUDA GPU", "fp32 or bf16")


def test_multi_process_launcher_passes(params):
    params["train"]["launcher"] = "accelerate launch --multi_gpu --num_processes 4"
    check_params(params)


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packing_needs_flash_attention(params, attention):
    params["model"]["attn_implementation"] = attention
    params["train"]["packing"] = True
    check_fails(params, "train.packing=true needs model.attn_implementation=flash_attention_2", f"with {attention} ")


def test_flash_attention_needs_cuda(params, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    params["model"]["attn_implementation"] = "flash_attention_2"
    check_fails(params, "flash_attention_2 needs a CUDA GPU")


def test_inference_dtype_choices(params):
    params["infer"]["dtype"] = "int8"
    check_fails(params, "infer.dtype must be one of auto, fp32, bf16, fp16; got 'int8'")
    params["infer"]["dtype"] = "fp16"
    check_fails(params, "param infer.dtype=fp16 needs a CUDA GPU; use fp32, bf16 or auto on CPU")


def test_vllm_backend_needs_the_package(params, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    params["infer"]["backend"] = "vllm"
    check_fails(params, "infer.backend=vllm needs the vllm package")
    params["infer"]["backend"] = "onnx"
    check_fails(params, "infer.backend must be one of transformers, vllm; got 'onnx'")


@pytest.mark.parametrize(("key", "value"), [("bootstrap_resamples", 10), ("seed", -1)])
def test_bootstrap_settings_are_checked(params, key, value):
    params["score"][key] = value
    check_fails(params, f"score.{key}")
