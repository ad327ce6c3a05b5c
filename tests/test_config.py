"""The typed config: every bad value fails before any work, with one line naming the param and the fix; only the
groups a stage reads are checked; conf/ composes into the committed params.yaml and into every shipped preset."""

import dataclasses
import json
import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from pressft.config import (
    GROUPS,
    Config,
    as_dict,
    compose,
    check_train_size,
    is_local_model,
    load_config,
    parse_config,
    read_params,
)
from pressft.errors import UserError, run_stage

REPO = Path(__file__).resolve().parents[1]
PARAMS_FILE = REPO / "params.yaml"


def check_fails(params, *fragments: str) -> str:
    """parse_config must raise a one-line UserError containing every fragment; returns the message."""
    with pytest.raises(UserError) as info:
        parse_config(params)
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def test_repo_params_file_is_valid():
    config = load_config(path=PARAMS_FILE)
    assert config.data.source == "embedded" and config.train.lora.r == 32
    assert config.tasks.names == ("summarization", "title", "tags", "type")
    assert set(config.infer.max_new_tokens) == set(config.tasks.names)
    assert config.tasks.prompts["title"].instruction.startswith("Generate a concise")
    # Back to the mapping it came from, key order included: what pressft_adapter.json records of train.
    assert json.dumps(as_dict(config)) == json.dumps(read_params(PARAMS_FILE))


def test_params_fixture_is_a_private_copy(params, _params_original, config):
    params["train"]["size"] = -99
    params["tasks"]["names"].append("extra")
    # The session's loaded mapping, which every later test's `params` is copied from, is untouched, and
    # so is the session config parsed from it.
    assert _params_original["train"]["size"] == config.train.size > 0
    assert _params_original["tasks"]["names"] == ["summarization", "title", "tags", "type"]
    assert config.tasks.names == ("summarization", "title", "tags", "type")


def test_the_config_is_frozen(config):
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.train.size = 1


@pytest.mark.parametrize("size", [0, -1, True])
def test_train_size_must_be_a_positive_integer(params, size):
    params["train"]["size"] = size
    check_fails(params, "train.size", "integer >= 1", repr(size))


@pytest.mark.parametrize("size", ["abc", 2.5])
def test_train_size_is_an_integer_or_null(params, size):
    params["train"]["size"] = size
    check_fails(params, "train.size", "must be integer or null", repr(size))


def test_train_size_null_takes_the_whole_pool(params):
    params["train"]["size"] = None
    assert parse_config(params).train.size is None
    assert check_train_size(None, 238) == 238 and check_train_size(200, 238) == 200
    with pytest.raises(UserError, match=r"train.size=239 exceeds the training pool of 238 articles; use 1..238, or "
                                        r"null for all of them"):
        check_train_size(239, 238)


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
    del params["tasks"]["prompts"]["title"]
    check_fails(params, "tasks.prompts.title", "missing")


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
    parse_config(params)  # no network, no error


def test_existing_local_model_directory_passes(params, tmp_path):
    params["model"]["base"] = str(tmp_path)
    assert is_local_model(str(tmp_path))
    parse_config(params)


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


def test_file_source_is_not_held_to_the_corpus_size(params, tmp_path):
    data = tmp_path / "articles.jsonl"
    data.write_text("{}\n")
    params["data"] |= {"source": "file", "path": str(data), "n_articles": 10}  # n_articles: embedded only
    assert params["split"]["test"] + params["split"]["val"] > 10
    parse_config(params)


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
    parse_config(params)  # the committed settings are valid
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
    parse_config(params)
    params["data"]["pressclub"][key] = value
    check_fails(params, fragment)


@pytest.mark.parametrize("excluded", [["Blog"], "Speech", ["Press Release", "Press Kit", "Speech", "Fact & Figures"]])
def test_exclude_types_must_be_known_and_leave_some(params, excluded):
    params["split"]["exclude_types"] = excluded
    check_fails(params, "split.exclude_types", "Press Release", repr(excluded))


def test_exclude_types_like_the_reference_passes(params):
    params["split"]["exclude_types"] = ["Fact & Figures"]
    parse_config(params)


@pytest.mark.parametrize("test,val", [(2000, 400), (2399, 1), (2400, 100)])
def test_split_must_leave_training_articles(params, test, val):
    assert params["data"]["n_articles"] == 2400
    params["split"]["test"], params["split"]["val"] = test, val
    check_fails(params, "split.test", "split.val", str(test + val), "data.n_articles", "2400")


def test_split_just_below_corpus_size_passes(params):
    params["split"]["test"], params["split"]["val"] = 2000, 399
    params["train"]["size"] = 1  # the one article left
    parse_config(params)


def test_train_size_beyond_the_embedded_pool(params):
    params["train"]["size"] = 2400 - 100 - 16 + 1
    check_fails(params, "param train.size=2285 exceeds the training pool of 2284 articles; use 1..2284")


@pytest.mark.parametrize(
    "group,key,value,fragment",
    [
        ("train", "scheduler", "exponential", "train.scheduler"),
        ("train", "lr", -0.1, "train.lr"),
        ("train", "warmup_steps", -1, "train.warmup_steps"),
        ("model", "max_length", 32, "model.max_length"),
        ("infer", "batch_size", 0, "infer.batch_size"),
        ("train", "eval_batch_size", 0, "train.eval_batch_size"),
        ("score", "confidence", 1, "param score.confidence must be a number between 0 and 1, e.g. 0.95; got 1"),
        ("score", "confidence", "95%", "param score.confidence must be a number between 0 and 1, e.g. 0.95; got '95%'"),
    ],
)
def test_other_bad_values_are_named(params, group, key, value, fragment):
    params[group][key] = value
    check_fails(params, fragment)


def test_missing_group_is_named(params):
    del params["score"]
    check_fails(params, "group score", "missing")
    params["score"] = {"bertscore_layers": 6}
    check_fails(params, "score.bertscore_model", "missing")


def test_embedded_heads_must_divide_hidden(params):
    params["model"]["base"] = "embedded"  # model.embedded is only read for the embedded base
    params["model"]["embedded"]["heads"] = 7
    check_fails(params, "model.embedded.hidden_size", "model.embedded.heads")


def test_embedded_group_is_not_checked_for_another_base(params):
    params["model"]["base"] = "smollm2-135m-instruct"
    params["model"]["embedded"]["heads"] = 7
    parse_config(params)


def test_missing_params_file(tmp_path):
    with pytest.raises(UserError) as info:
        load_config(path=tmp_path / "params.yaml")
    message = str(info.value)
    assert "\n" not in message
    assert "params.yaml" in message and "not found" in message and "repository root" in message


def test_params_file_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(UserError, match="mapping"):
        load_config(path=path)


def test_bad_value_in_file_fails_on_load(tmp_path):
    text = re.sub(r"(?m)^  size: \d+$", "  size: lots", PARAMS_FILE.read_text())
    assert "size: lots" in text
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=r"train\.size must be integer or null, got 'lots'"):
        load_config(path=path)


def test_yaml_syntax_error_is_a_user_error(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  size: [500\n")
    with pytest.raises(UserError) as info:
        load_config(path=path)
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
    parse_config(params)


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


# ------------------------------------------------------------------ unknown keys, groups, checks across groups


@pytest.mark.parametrize(
    ("where", "key", "message"),
    [
        (("train",), "lr_rate", "param train.lr_rate is not a parameter; did you mean train.lr?"),
        (("train", "lora"), "alpah", "param train.lora.alpah is not a parameter; did you mean train.lora.alpha?"),
        (("data", "pressclub"), "max_article", "did you mean data.pressclub.max_articles?"),
        ((), "trian", "param trian is not a parameter; did you mean train?"),
        (("score",), "zzz", "param score.zzz is not a parameter; score has bertscore_model, bertscore_layers, "),
    ],
)
def test_unknown_key_is_named_with_the_nearest_valid_one(params, where, key, message):
    node = params
    for name in where:
        node = node[name]
    node[key] = 1
    check_fails(params, message)


def test_only_the_groups_asked_for_are_checked(params):
    params["train"]["size"] = 0
    params["train"]["lr_rate"] = 1
    config = parse_config(params, "data", "split")
    assert config.data.n_articles == 2400 and config.split.test == 100
    assert config.train is None and config.model is None
    with pytest.raises(UserError, match=r"train\.lr_rate"):
        parse_config(params, "train")


def test_a_group_that_does_not_exist_is_named():
    with pytest.raises(UserError, match="param trian is not a parameter; did you mean train?"):
        load_config("trian", path=PARAMS_FILE)


@pytest.mark.parametrize(
    ("groups", "change", "message"),
    [
        (("data", "split"), lambda p: p["split"].update(test=2400), "split.test + split.val (2416)"),
        (("data", "split", "train"), lambda p: p["train"].update(size=5000), "exceeds the training pool of 2284"),
        (("tasks", "infer"), lambda p: p["infer"]["max_new_tokens"].pop("tags"), "infer.max_new_tokens.tags"),
    ],
)
def test_checks_across_groups_run_when_both_are_loaded(params, groups, change, message):
    change(params)
    for group in groups:  # each group alone is valid
        parse_config(params, group)
    with pytest.raises(UserError, match=re.escape(message)):
        parse_config(params, *groups)


def test_every_field_has_a_doc():
    def fields(cls, prefix):
        for spec in dataclasses.fields(cls):
            yield f"{prefix}.{spec.name}", spec
            if dataclasses.is_dataclass(spec.type):
                yield from fields(spec.type, f"{prefix}.{spec.name}")

    for group, kind in ((g, Config.__dataclass_fields__[g].type) for g in GROUPS):
        kind = next(arg for arg in kind.__args__ if arg is not type(None))
        for name, spec in fields(kind, group):
            assert spec.metadata.get("doc"), f"{name} has no doc"


# ------------------------------------------------------------------ conf/ (Hydra) and params.yaml

CONF = REPO / "conf"


def test_committed_params_file_is_the_composition_of_the_default():
    """`dvc exp run` writes params.yaml from conf/; committed as that text, a run without -S changes nothing and
    `-S train.size=30` changes one line."""
    assert PARAMS_FILE.read_text() == compose(conf_dir=CONF)
    changed = compose(["train.size=30"], conf_dir=CONF).splitlines()
    committed = PARAMS_FILE.read_text().splitlines()
    assert [(a, b) for a, b in zip(committed, changed) if a != b] == [("  size: 60", "  size: 30")]
    assert len(changed) == len(committed)


def test_dvc_composes_params_from_conf():
    from dvc.repo import Repo

    hydra = Repo(str(REPO)).config["hydra"]
    assert hydra["enabled"] is True
    assert hydra.get("config_dir", "conf") == "conf" and hydra.get("config_name", "config") == "config"


def _options(group: str) -> list[str]:
    return sorted(path.stem for path in (CONF / group).glob("*.yaml") if path.stem != "common")


SHIPPED = [f"preset={name}" for name in _options("preset")] + [
    f"{group}={name}" for group in GROUPS for name in _options(group)
]


@pytest.mark.parametrize("override", SHIPPED)
def test_every_shipped_configuration_composes_and_is_valid(override, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # data=file names data/input/articles.jsonl, relative to the repository root
    (tmp_path / "data/input").mkdir(parents=True)
    (tmp_path / "data/input/articles.jsonl").write_text("{}\n")
    config = parse_config(YAML(typ="safe").load(compose([override], conf_dir=CONF)))
    group, choice = override.split("=")
    if group == "data":
        assert config.data.source == choice
    if group == "model":
        assert config.model.base in (choice, "unsloth/Llama-3.2-1B-Instruct")


def test_an_override_hydra_refuses_is_one_line():
    with pytest.raises(UserError) as raised:
        compose(["model=nope"], conf_dir=CONF)
    assert str(raised.value).startswith("override model=nope: In 'config': Could not find 'model/nope'")
    assert "\n" not in str(raised.value)
    with pytest.raises(UserError) as raised:
        compose(["preset=bogus"], conf_dir=CONF)
    # The group's options, not Hydra's search path, on the one line.
    assert str(raised.value) == ("override preset=bogus: In 'config': Could not find 'preset/bogus'; "
                                 "available: cpu, real, reference, smoke")
    with pytest.raises(UserError) as raised:  # a key the default's config lacks: Hydra's fix is on the line
        compose(["tasks.neighbours.tags=3"], conf_dir=CONF)
    assert str(raised.value) == ("override tasks.neighbours.tags=3: Could not override 'tasks.neighbours.tags'. "
                                 "To append to your config use +tasks.neighbours.tags=3")
    assert parse_config(YAML(typ="safe").load(compose(["+tasks.neighbours.tags=3"], conf_dir=CONF))
                        ).tasks.neighbours == {"tags": 3}


def test_presets_are_what_they_say(tmp_path):
    def load(preset):
        return parse_config(YAML(typ="safe").load(compose([f"preset={preset}"], conf_dir=CONF)))

    assert as_dict(load("cpu")) == read_params(PARAMS_FILE)
    reference = load("reference")
    assert (reference.model.base, reference.data.source) == ("unsloth/Llama-3.2-1B-Instruct", "huggingface")
    assert reference.data.huggingface.dataset == "Alwin-Yang/bmw-articles"
    assert (reference.train.lr, reference.train.lora.alpha, reference.train.lora.r, reference.train.size) == (
        0.0002, 16, 32, 2000)
    assert reference.split.exclude_types == ("Fact & Figures",) and reference.study.sizes == (500, 1000, 1500, 2000)
    smoke = load("smoke")
    assert smoke.model.base == "embedded" and smoke.data.n_articles == 160 and smoke.model.embedded.hidden_size == 64
    real = parse_config(YAML(typ="safe").load(compose(["preset=real", f"data.path={PARAMS_FILE}"], conf_dir=CONF)))
    assert (real.data.source, real.model.base, real.train.size, real.infer.label_method) == (
        "file", "smollm2-135m-instruct", None, "likelihood")
    assert (real.split.test, real.model.max_length, real.train.epochs, real.model.attn_implementation) == (
        100, 384, 2, "sdpa")
    assert real.train.grounded_answers and not load("cpu").train.grounded_answers
    # A group chosen on the command line wins over the preset's choice; the preset's values still apply.
    mixed = parse_config(YAML(typ="safe").load(compose(["preset=reference", "model=embedded"], conf_dir=CONF)))
    assert mixed.model.base == "embedded" and mixed.model.max_length == 224 and mixed.train.size == 2000
