"""Training a practitioner can trust: deterministic runs, resuming an interrupted run to the same result,
checkpoint bookkeeping, and what the run reports (metrics, per-step curves)."""

import copy
import json
from dataclasses import replace

import pytest
import torch

from pressft.tasks import REGISTRY
from pressft.config import LoraConfig
from pressft.model.chat import encode_for_training
from pressft.tasks import make_examples
from pressft.model import modeling, training
from pressft.evaluation.reproduction import MACHINE_DEPENDENT
from pressft.model.curves import read_curves
from pressft.model.training import (FINGERPRINT, SEAL, answer_token_loss, resume_point, run_fingerprint,
                                    skip_unit_scaling, train_lora)



@pytest.fixture(scope="module")
def examples(normalised_articles, config):
    return [e for a in normalised_articles(6) for e in make_examples(a, list(REGISTRY), config.tasks.prompts)]


@pytest.fixture(scope="module")
def small(config):
    """Eight steps of batch 2 with an evaluation (and a checkpoint) every 2 steps."""
    lora = LoraConfig(r=4, alpha=8, dropout=0.1, target_modules=("q_proj", "v_proj"))
    train = replace(config.train, epochs=1, batch_size=2, eval_steps=2, early_stopping_patience=10, warmup_steps=0,
                    lr=0.01, lora=lora)
    return replace(config, train=train, model=replace(config.model, max_length=512))


def train(saved_model_dir, examples, config, root):
    result = train_lora(str(saved_model_dir), examples[:16], examples[16:20], config.train, config.model,
                        root / "adapter", root / "work", curves=root / "curves")
    return result.metrics, result.history


def curve_files(root):
    """{path: bytes} of the curves folder a run logged into."""
    return {str(path.relative_to(root)): path.read_bytes() for path in (root / "curves").rglob("*") if path.is_file()}


@pytest.fixture(scope="module")
def reference(saved_model_dir, examples, small, tmp_path_factory):
    """One run of `small`: (metrics, history, its directory), shared by the tests that compare with it or read it."""
    root = tmp_path_factory.mktemp("reference")
    return *train(saved_model_dir, examples, small, root), root


# ------------------------------------------------------------------ resume bookkeeping


def checkpoint(work, step, sealed=True):
    path = work / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "adapter_model.safetensors").write_bytes(b"weights")
    if sealed:
        (path / SEAL).write_text(f"{step}\n")
    return path


@pytest.mark.parametrize(("native", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_precision_on_cpu_is_bf16_only_where_native(monkeypatch, native, expected):
    monkeypatch.setattr(training.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(modeling, "cpu_has_bf16", lambda: native)
    flags = training._precision("auto")
    assert flags == {"bf16": expected == "bf16", "fp16": False, "use_cpu": True}
    assert training._precision("fp32") == {"bf16": False, "fp16": False, "use_cpu": True}  # a named one is kept


def test_fresh_work_dir_starts_from_scratch(tmp_path):
    work = tmp_path / "work"
    assert resume_point(work, "abc") is None
    assert json.loads((work / FINGERPRINT).read_text()) == {"fingerprint": "abc"}


def test_resume_from_the_newest_sealed_checkpoint_and_drop_half_written_ones(tmp_path):
    work = tmp_path / "work"
    resume_point(work, "abc")
    checkpoint(work, 4)
    checkpoint(work, 10)  # numeric order, not text order: 10 is after 4
    checkpoint(work, 12, sealed=False)  # killed while writing
    assert resume_point(work, "abc") == str(work / "checkpoint-10")
    assert sorted(p.name for p in work.glob("checkpoint-*")) == ["checkpoint-10", "checkpoint-4"]


def test_checkpoints_of_another_run_are_discarded(tmp_path):
    work = tmp_path / "work"
    resume_point(work, "abc")
    checkpoint(work, 4)
    assert resume_point(work, "other params") is None
    assert list(work.glob("checkpoint-*")) == []


def test_a_base_model_with_other_weights_of_the_same_size_is_another_run(tmp_path, config):
    base = tmp_path / "base"
    base.mkdir()
    (base / "model.safetensors").write_bytes(b"weights one")

    def fingerprint():
        return run_fingerprint(str(base), [{"id": "a"}], [], config.train, config.model)

    first = fingerprint()
    assert fingerprint() == first
    (base / "model.safetensors").write_bytes(b"weights two")  # the same size, another model
    assert fingerprint() != first


def test_only_the_main_process_deletes(tmp_path):
    work = tmp_path / "work"
    resume_point(work, "abc")
    checkpoint(work, 4)
    checkpoint(work, 6, sealed=False)
    assert resume_point(work, "abc", main_process=False) == str(work / "checkpoint-4")
    assert (work / "checkpoint-6").exists()


# ------------------------------------------------------------------ real runs of the tiny model


def test_same_params_give_the_same_adapter_and_metrics(saved_model_dir, examples, small, reference, tmp_path):
    """Dropout is on (0.1) so the seeded dropout masks are part of what must repeat."""
    first, _, first_root = reference
    second, _ = train(saved_model_dir, examples, small, tmp_path)
    weights = "adapter/adapter_model.safetensors"
    assert (first_root / weights).read_bytes() == (tmp_path / weights).read_bytes()
    def result(metrics):
        return {k: v for k, v in metrics.items() if k not in MACHINE_DEPENDENT}

    assert result(first) == result(second)
    assert curve_files(tmp_path) == curve_files(first_root)  # no timestamps: the same run, the same bytes
    for name in ("adapter_config.json", "pressft_adapter.json", "tokenizer.json", "chat_template.jinja"):
        assert (first_root / "adapter" / name).read_bytes() == (tmp_path / "adapter" / name).read_bytes(), name


# The first training losses of `small` on the tiny model (fp32 on a CPU, one thread), pinned: run-to-run equality
# cannot see a library upgrade (torch, transformers, trl, peft) that changes what training computes, these can.
# When an upgrade moves them on purpose, check that the change is explained (its release notes: a new default, a
# fixed bug), then pin the new values printed by the failing assertion, in the commit that upgrades.
PINNED_LOSSES = [7.635774612426758, 7.712899208068848, 7.54836368560791, 7.445563316345215]


@pytest.mark.skipif(torch.cuda.is_available(), reason="the pinned losses are those of a CPU run")
def test_the_first_training_losses_are_the_pinned_ones(reference):
    _, history, _ = reference
    losses = [entry["loss"] for entry in history if "loss" in entry][: len(PINNED_LOSSES)]
    assert losses == pytest.approx(PINNED_LOSSES, rel=1e-5), losses


def test_interrupted_run_resumes_and_ends_like_an_uninterrupted_one(saved_model_dir, examples, small, reference,
                                                                     tmp_path, monkeypatch):
    whole, _, whole_root = reference

    original = training.TerminalProgress.on_log

    def crash_in_step_six(self, args, state, control, logs=None, **kwargs):
        if state.global_step == 6:
            # As a Ctrl-C or a kill would stop it: checkpoint-4 is sealed, and the curves hold step 5, which the
            # resumed run trains and logs again.
            raise KeyboardInterrupt
        return original(self, args, state, control, logs=logs, **kwargs)

    monkeypatch.setattr(training.TerminalProgress, "on_log", crash_in_step_six)
    with pytest.raises(KeyboardInterrupt):
        train(saved_model_dir, examples, small, tmp_path / "cut")
    work = tmp_path / "cut" / "work"
    assert (work / "checkpoint-4" / SEAL).exists() and not (tmp_path / "cut" / "adapter").exists()
    assert [row["step"] for row in read_curves(tmp_path / "cut" / "curves")[0]] == [1, 2, 3, 4, 5]

    monkeypatch.setattr(training.TerminalProgress, "on_log", original)
    resumed, _ = train(saved_model_dir, examples, small, tmp_path / "cut")
    assert resumed["resumed_from_step"] == 4
    assert {k: v for k, v in resumed.items() if k not in MACHINE_DEPENDENT} == {
        k: v for k, v in whole.items() if k not in MACHINE_DEPENDENT
    }
    weights = "adapter/adapter_model.safetensors"
    assert (tmp_path / "cut" / weights).read_bytes() == (whole_root / weights).read_bytes()
    assert curve_files(tmp_path / "cut") == curve_files(whole_root)  # every step once: none lost, none twice
    assert not work.exists()  # checkpoints are cleaned up at the end


def test_training_metrics_and_curves(small, reference):
    metrics, history, root = reference
    assert metrics["steps"] == 8 and metrics["epochs"] == 1.0 and metrics["processes"] == 1
    assert metrics["precision"] == small.train.precision == "fp32" and metrics["resumed_from_step"] is None
    assert metrics["best_step"] in (2, 4, 6, 8)
    assert metrics["tokens_seen"] > 16 * 50 and metrics["tokens_per_second"] > 0
    assert metrics["peak_memory_kind"] == "cpu rss" and metrics["peak_memory_gib"] > 0.05
    assert 0 < metrics["trainable_percent"] < 100
    train_rows, eval_rows = read_curves(root / "curves")  # the trainer's global steps, train and eval aligned
    assert [row["step"] for row in train_rows] == list(range(1, 9))
    assert all(row["grad_norm"] > 0 and row["learning_rate"] > 0 for row in train_rows)
    assert [row["loss"] for row in train_rows] == [round(e["loss"], 5) for e in history if "loss" in e]
    assert [row["step"] for row in eval_rows] == [2, 4, 6, 8]
    best = min(eval_rows, key=lambda row: row["eval_loss"])
    assert best["step"] == metrics["best_step"] and best["eval_loss"] == pytest.approx(metrics["best_eval_loss"], abs=1e-4)
    latest = json.loads((root / "curves" / "metrics.json").read_text())  # dvclive's summary: the last step's values
    assert latest["step"] == 8 and latest["eval"]["loss"] == eval_rows[-1]["eval_loss"]
    assert latest["train"]["loss"] == train_rows[-1]["loss"]


def test_the_last_step_is_evaluated_even_when_eval_steps_does_not_divide_the_run(saved_model_dir, examples, small,
                                                                                  tmp_path):
    small = replace(small, train=replace(small.train, eval_steps=3))
    metrics, _ = train(saved_model_dir, examples, small, tmp_path)
    _, eval_rows = read_curves(tmp_path / "curves")
    assert [row["step"] for row in eval_rows] == [3, 6, 8]  # 8 steps: the last two are not trained for nothing
    assert metrics["best_step"] == min(eval_rows, key=lambda row: row["eval_loss"])["step"]
    # Without keep_best the adapter is the last step's, and so are the metrics that describe it.
    last = replace(small, train=replace(small.train, keep_best=False, lr=0.05))  # too high: the loss climbs again
    metrics, _ = train(saved_model_dir, examples, last, tmp_path / "last")
    _, eval_rows = read_curves(tmp_path / "last" / "curves")
    assert metrics["best_step"] == eval_rows[-1]["step"] == 8
    assert metrics["best_eval_loss"] == pytest.approx(eval_rows[-1]["eval_loss"], abs=1e-4)
    assert min(row["eval_loss"] for row in eval_rows) < eval_rows[-1]["eval_loss"]  # the lowest is another step's


def test_answer_token_loss_equals_the_models_own_loss_on_the_answer_tokens(tiny_model, tokenizer, examples):
    rows = [encode_for_training(tokenizer, example, 512, "26 Jul 2024") for example in examples[:4]]
    padded = tokenizer.pad({"input_ids": [row["input_ids"] for row in rows]}, padding_side="right", return_tensors="pt")
    labels = torch.full_like(padded["input_ids"], -100)
    for b, row in enumerate(rows):
        answer = torch.tensor(row["completion_mask"]).bool()
        labels[b, : len(answer)][answer] = torch.tensor(row["input_ids"])[answer]
    inputs = {**padded, "labels": labels}
    with torch.no_grad():
        full = tiny_model(**inputs).loss  # full logits at every position, mean over the labelled tokens
        ours = answer_token_loss(tiny_model, inputs)
        summed = answer_token_loss(tiny_model, inputs, num_items_in_batch=int((labels != -100).sum()) * 2)
    assert ours == pytest.approx(full.item(), rel=1e-5)
    assert summed == pytest.approx(full.item() / 2, rel=1e-5)  # divided by the tokens of the whole (accumulated) batch
    # Answers of different lengths in one batch: the LM head sees each row's own answer positions only, and the
    # gradients are those of the full loss.
    assert len({int(count) for count in (labels != -100).sum(dim=1)}) > 1
    model = copy.deepcopy(tiny_model).train()
    gradients = []
    for loss in (lambda: model(**inputs).loss, lambda: answer_token_loss(model, inputs)):
        model.zero_grad()
        loss().backward()
        gradients.append([parameter.grad.clone() for parameter in model.parameters() if parameter.grad is not None])
    assert len(gradients[0]) == len(gradients[1]) > 0
    for full_grad, ours_grad in zip(*gradients, strict=True):
        torch.testing.assert_close(ours_grad, full_grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_answer_token_loss_keeps_packed_examples_apart(make_tiny_model, tokenizer, examples, attention):
    """train.packing: trl's collator puts a batch's examples in one row, their boundaries in position_ids; the loss
    must see each example alone, as in a padded batch."""
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    rows = [encode_for_training(tokenizer, example, 512, "26 Jul 2024") for example in examples[:3]]
    batches = [DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id, padding_free=free)(rows)
               for free in (False, True)]
    assert batches[1]["input_ids"].shape[0] == 1 and "attention_mask" not in batches[1]  # one row of three examples
    tiny_model = make_tiny_model(0)
    tiny_model.set_attn_implementation(attention)
    with torch.no_grad():
        padded, packed = (answer_token_loss(tiny_model, batch) for batch in batches)
    assert packed == pytest.approx(padded.item(), rel=1e-5)


def _lora_model(make_tiny_model, modules, r: int, alpha: int, skip: bool):
    """A tiny Llama with LoRA on the given projections; B random (peft starts it at zero) so the adapter counts."""
    from peft import LoraConfig as PeftLoraConfig, get_peft_model

    torch.manual_seed(1)
    model = get_peft_model(make_tiny_model(0), PeftLoraConfig(
        r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=list(modules)))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0.0, 0.5)
    layers = skip_unit_scaling(model) if skip else 0
    return model, layers


def test_skipping_the_lora_scaling_of_1_changes_no_bit_of_the_loss_or_the_gradients(make_tiny_model, tiny_model,
                                                                                     config):
    modules = config.train.lora.target_modules
    ids = torch.randint(3, 250, (2, 24), generator=torch.Generator().manual_seed(0))
    results = []
    for skip in (False, True):
        model, layers = _lora_model(make_tiny_model, modules, r=4, alpha=4, skip=skip)
        model.train()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        results.append((loss.detach(), [p.grad for p in model.parameters() if p.requires_grad]))
    assert layers == len(modules) * tiny_model.config.num_hidden_layers
    assert torch.equal(results[0][0], results[1][0])
    assert len(results[0][1]) == len(results[1][1]) > 0
    assert all(torch.equal(a, b) for a, b in zip(results[0][1], results[1][1], strict=True))
    # Adapters disabled, the base model answers (peft's own forward), as without the adapter at all.
    model.eval()
    with torch.no_grad(), model.disable_adapter():
        assert torch.equal(model(input_ids=ids).logits, tiny_model(input_ids=ids).logits)


def test_a_lora_scaling_other_than_1_keeps_pefts_multiply(make_tiny_model, config):
    modules = config.train.lora.target_modules
    ids = torch.randint(3, 250, (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = [_lora_model(make_tiny_model, modules, r=4, alpha=8, skip=skip)[0].eval()(input_ids=ids).logits
                  for skip in (False, True)]
        unit = _lora_model(make_tiny_model, modules, r=4, alpha=4, skip=True)[0].eval()(input_ids=ids).logits
    assert torch.equal(logits[0], logits[1])
    assert not torch.equal(logits[1], unit)  # the scaling of 2 was applied, not dropped
