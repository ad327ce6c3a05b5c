"""The export: a merged model that plain transformers loads and that answers as the adapter does, with a model card
filled from the committed metrics."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ruamel.yaml import YAML

from pressft.config import Config
from pressft.model.export import save_merged
from pressft.model.generation import generate_predictions
from pressft.model.modeling import load_for_inference, trained_label_repeats
from pressft.presentation.model_card import model_card
from pressft.tasks import make_examples

REPO = Path(__file__).resolve().parents[1]
EXPORT = str(REPO / "scripts/export.py")
LIMITS = {"summarization": 10, "title": 6, "tags": 8, "type": 3}


def _committed(name: str) -> dict:
    return json.loads((REPO / "metrics" / f"{name}.json").read_text())


def _card(config: Config, base: dict | None = None, data: dict | None = None, comparison: dict | None = None) -> str:
    return model_card(name="pressft-test", config=config, base=base or {"model": "HuggingFaceTB/SmolLM2-135M-Instruct",
                                                                         "license": "apache-2.0", "parameters": 1,
                                                                         "vocab_size": 2},
                      data=data or _committed("data"), splits=_committed("splits"), train=_committed("train"),
                      comparison=comparison or _committed("comparison"))


def test_the_export_loads_in_plain_transformers_and_answers_as_the_adapter(tiny_adapter, normalised_articles,
                                                                           config, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tokenizer = load_for_inference(tiny_adapter)
    save_merged(model, tokenizer, tmp_path / "export", {"type": {"Press Release": 1, "Speech": 4}})
    files = {path.name for path in (tmp_path / "export").iterdir()}
    # generate.py on the export corrects label answers as the infer stage did on the adapter
    assert trained_label_repeats(tmp_path / "export") == {"type": {"Press Release": 1, "Speech": 4}}
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json"} <= files
    assert not any(name.endswith((".bin", ".pt")) or "adapter" in name for name in files)

    plain = AutoModelForCausalLM.from_pretrained(tmp_path / "export")
    plain_tokenizer = AutoTokenizer.from_pretrained(tmp_path / "export")
    examples = [e for a in normalised_articles(2) for e in make_examples(a, ["title", "type"],
                                                                          config.tasks.prompts)]
    settings = dict(max_new_tokens=LIMITS, max_length=512, date_string="26 Jul 2024", batch_size=4,
                    log=lambda line: None)
    ours = generate_predictions(model, tokenizer, examples, **settings)
    theirs = generate_predictions(plain, plain_tokenizer, examples, **settings)
    assert [r["prediction"] for r in theirs] == [r["prediction"] for r in ours]
    # The saved generation config alone decodes greedily and stops at the end of turn, no arguments needed.
    ids = torch.tensor([plain_tokenizer.apply_chat_template([{"role": "user", "content": "BMW"}],
                                                            add_generation_prompt=True, tokenize=True)["input_ids"]])
    expected = model.generate(ids, max_new_tokens=8, do_sample=False, eos_token_id=plain.generation_config.eos_token_id,
                              pad_token_id=tokenizer.pad_token_id)
    assert torch.equal(plain.generate(ids, max_new_tokens=8), expected)
    assert plain.generation_config.do_sample is False
    assert plain_tokenizer.convert_ids_to_tokens(plain.generation_config.eos_token_id) == "<|eot_id|>"


@pytest.mark.parametrize("synthetic, worse", [(True, ["summarization", "type"]), (False, ["title"]), (False, [])])
def test_the_model_card_has_hub_metadata_the_committed_numbers_and_limits(config, synthetic, worse):
    # The committed metrics with the two facts the limitations depend on set by the test, so each branch runs.
    data = _committed("data") | {"synthetic": synthetic}
    comparison = _committed("comparison")
    for task in config.tasks.names:
        verdict = "worse" if task in worse else "tie"
        comparison[task]["finetuned_minus_best_baseline"]["verdict"] = verdict
    card = _card(config, data=data, comparison=comparison)
    front, body = re.match(r"---\n(.*?)\n---\n\n(.*)", card, re.S).groups()
    meta = YAML(typ="safe").load(front)
    assert meta["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct" and meta["license"] == "apache-2.0"
    assert meta["library_name"] == "transformers" and "lora" in meta["tags"]
    for task in ("summarization", "title", "tags", "type"):
        assert f"fine-tuned {comparison[task]['finetuned']:.3f}" in body
        assert f"vs base {comparison[task]['base']:.3f}" in body
    assert "## Limitations" in body and "## How to use" in body
    limitations = body.split("## Limitations")[1]
    assert ("SYNTHETIC" in limitations) == synthetic
    behind = [line for line in limitations.splitlines() if line.startswith("- A simple baseline is still better at")]
    expected = ", ".join(f"{task} ({comparison[task]['best_baseline']})" for task in worse)
    assert behind == ([f"- A simple baseline is still better at: {expected}."] if worse else [])


def test_the_cards_usage_code_runs_on_the_export(tiny_adapter, config, tmp_path):
    model, tokenizer = load_for_inference(tiny_adapter)
    save_merged(model, tokenizer, tmp_path / "export")
    card = _card(config).replace('"pressft-test"', repr(str(tmp_path / "export")))
    (code,) = re.findall(r"```python\n(.*?)```", card, re.S)
    printed = subprocess.run([sys.executable, "-c", "article = 'Munich. The BMW iX3 arrives.'\n" + code],
                             capture_output=True, text=True, timeout=120, env=os.environ | {"HF_HUB_OFFLINE": "1"})
    assert printed.returncode == 0, printed.stderr[-1500:]


@pytest.mark.parametrize("args, env, message", [
    (["--out", "{tmp}/out", "--model", "{adapter}", "--push-to-hub", "me/model"], {"HF_TOKEN": ""},
     "error: --push-to-hub needs a token in the HF_TOKEN environment variable"),
    (["--out", "{tmp}/full", "--model", "{adapter}"], {}, "error: --out {tmp}/full exists and is not empty"),
    (["--out", "{tmp}/out", "--model", "{base}"], {}, "error: {base} is not an adapter directory"),
    (["--out", "{tmp}/out", "--model", "{tmp}/none"], {}, "error: model {tmp}/none not found"),
])
def test_the_export_command_fails_in_one_line(tiny_adapter, saved_model_dir, tmp_path, args, env, message):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    names = {"tmp": tmp_path, "adapter": tiny_adapter, "base": saved_model_dir}
    done = subprocess.run([sys.executable, EXPORT, *(arg.format(**names) for arg in args)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, env=os.environ | env)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and lines[-1].startswith(message.format(**names)), done.stderr
