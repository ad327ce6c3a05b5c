"""LoRA supervised fine-tuning with trl: loss on answer tokens only, eval loss on the fixed val set."""

import hashlib
import json
import os
import platform
import resource
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from pressft.config import ModelConfig, TrainConfig, as_dict
from pressft.data.splits import training_examples
from pressft.errors import UserError
from pressft.evaluation.faithfulness import check
from pressft.model.chat import encode_for_training, kept_input
from pressft.model.allocator import keep_freed_memory
from pressft.model.curves import curve_points
from pressft.model.modeling import ADAPTER_FILE, load_model, perplexity, resolve_precision
from pressft.io import read_json, sha256, write_json
from pressft.tasks import REGISTRY, of_kind

SEAL = "pressft_complete"  # written into a checkpoint once everything in it is on disk
FINGERPRINT = "pressft_run.json"  # what the checkpoints in a work directory were trained on


def select_training(pool: list[dict[str, Any]], size: int | None, oversample_cap: int) -> list[dict[str, Any]]:
    """Examples of the first `size` pool articles; in each label task, the examples of its minority classes repeated.

    Classes are imbalanced (most articles are press releases): without balancing, a classifier learns to answer the
    majority class and loses to the majority baseline on macro-F1. Each class's examples are repeated
    round(majority / count) times, at most `oversample_cap` times.
    """
    chosen = training_examples(pool, size)
    balanced = {task.name for task in of_kind("label")}
    counts = Counter((example["task"], example["answer"]) for example in chosen if example["task"] in balanced)
    most = Counter()
    for (task, _), count in counts.items():
        most[task] = max(most[task], count)
    selected = []
    for example in chosen:
        repeat = 1
        if example["task"] in balanced:
            count = counts[example["task"], example["answer"]]
            repeat = max(1, min(oversample_cap, round(most[example["task"]] / count)))
        selected.extend([example] * repeat)
    return selected


def label_repeats(examples: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """{label task: {label: how many times each training example of that label was seen per epoch}}, kept with the
    adapter. Repeating a class k times teaches the model a prior k times the true one; inference takes it back out
    (generation.choose_label)."""
    seen, articles = Counter(), {}
    for example in examples:
        if REGISTRY[example["task"]].kind == "label":
            key = example["task"], example["answer"]
            seen[key] += 1
            articles.setdefault(key, set()).add(example["id"])
    repeats: dict[str, dict[str, int]] = {}
    for (task, label), count in sorted(seen.items()):
        repeats.setdefault(task, {})[label] = count // len(articles[task, label])
    return repeats


def ungrounded(tokenizer, example: dict[str, Any], encoding: dict[str, Any]) -> list[str]:
    """The numbers in a free-text example's answer that its input, as cut for training, does not contain.

    A reference summary of a whole article quotes figures from its end; cut to model.max_length, the prompt no longer
    holds them, and the model learns to write numbers it cannot see: to invent them.
    """
    if REGISTRY[example["task"]].kind != "text":
        return []
    return check(example["answer"], kept_input(tokenizer, example, encoding["input_tokens_cut"])).invented_numbers


def _dataset(tokenizer, examples: list[dict[str, Any]], max_length: int, date_string: str, grounded: bool = False):
    """The encoded examples, how many had their input shortened, and (grounded: examples whose answer holds a number
    missing from their cut input left out) how many were left out per task."""
    from datasets import Dataset

    # Oversampled examples are the same objects repeated: encode each once.
    encodings: dict[int, dict[str, Any]] = {}
    for example in examples:
        if id(example) not in encodings:
            encodings[id(example)] = encode_for_training(tokenizer, example, max_length, date_string)
    dropped: Counter = Counter()
    if grounded:
        left_out = {key for key, example in ((id(e), e) for e in examples)
                    if ungrounded(tokenizer, example, encodings[key])}
        dropped.update(example["task"] for example in examples if id(example) in left_out)
        examples = [example for example in examples if id(example) not in left_out]
        if not examples:
            raise UserError("param train.grounded_answers left no training example: every answer holds a number its "
                            "cut input lacks; raise model.max_length")
    encoded = [encodings[id(example)] for example in examples]
    cut = sum(1 for row in encoded if row["input_tokens_cut"])
    rows = [{"input_ids": row["input_ids"], "completion_mask": row["completion_mask"]} for row in encoded]
    return Dataset.from_list(rows), cut, dict(sorted(dropped.items()))


class TerminalProgress(TrainerCallback):
    """A line every few steps (step, loss, eta) and one per evaluation, instead of the trainer's log dicts."""

    def __init__(self, every: int = 10):
        self.every = every
        self.start = time.time()

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.time()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero:
            return
        logs = logs or {}
        step, total = state.global_step, state.max_steps
        if "eval_loss" in logs:
            print(f"  step {step}/{total}  eval loss {logs['eval_loss']:.4f}", flush=True)
        elif "loss" in logs and (step % self.every == 0 or step == total):
            elapsed = time.time() - self.start
            eta = elapsed / max(step, 1) * (total - step)
            print(f"  step {step}/{total}  loss {logs['loss']:.4f}  lr {logs.get('learning_rate', 0):.2e}  "
                  f"{elapsed:.0f}s elapsed, eta {eta:.0f}s", flush=True)


def _precision(choice: str) -> dict[str, bool]:
    """Trainer flags for `train.precision`; auto is bf16 where the hardware has it (GPUs from Ampere on, CPUs with
    AVX512-BF16/AMX), else fp16 on a GPU and fp32 on a CPU.

    On CPU bf16 is autocast (weights and optimizer stay fp32): faster than fp32 where the CPU has native bf16, with
    the same train loss to a fraction of a percent (docs/performance.md); a CPU that only emulates bf16 is slower.
    """
    choice = resolve_precision(choice)
    return {"bf16": choice == "bf16", "fp16": choice == "fp16", "use_cpu": not torch.cuda.is_available()}


def answer_token_loss(model, inputs: dict[str, Any], num_items_in_batch=None, processes: int = 1) -> torch.Tensor:
    """Mean cross-entropy over the answer tokens (labels other than -100), with the LM head run only at the positions
    that predict an answer token.

    trl's fused LM head does the same in Triton tiles on a GPU; without Triton (on a CPU) it scores every position in
    a torch loop over vocabulary tiles, a large share of a SmolLM2 training step (docs/performance.md). The model's
    own forward runs (and so DDP's gradient hooks and peft's adapters): `logits_to_keep` narrows it to the columns
    where some row has an answer token, and a hook on the LM head keeps, of those, each row's own answer positions.
    A batch mixes tasks, so the columns span the longest answer while most rows answer in a few tokens; every row's
    logits are those of a full forward either way, only fewer of them are computed.
    """
    targets = inputs["labels"][:, 1:]  # position t - 1 predicts label t
    answered = targets != -100
    keep = answered.any(dim=0).nonzero().squeeze(1)
    rows = answered[:, keep]

    def answer_positions(module, args):
        return (args[0][rows],)  # (batch, kept columns, hidden) -> (answer tokens, hidden), row by row

    # Under DDP the model is wrapped; the hook goes on the wrapped model's head, the forward through the wrapper.
    inner = model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model
    hook = inner.get_output_embeddings().register_forward_pre_hook(answer_positions)
    # Everything the collator gave but the labels: packed rows (train.packing) carry their sequences' boundaries in
    # position_ids (and cu_seq_lens_* for flash-attention), without which each row would be one long sequence.
    forward = {key: value for key, value in inputs.items() if key != "labels"}
    try:
        logits = model(**forward, use_cache=False, logits_to_keep=keep).logits
    finally:
        hook.remove()
    total = torch.nn.functional.cross_entropy(logits.float(), targets[answered], reduction="sum")
    count = answered.sum() if num_items_in_batch is None else num_items_in_batch
    # As trl and Trainer do: num_items_in_batch counts every process's tokens, and DDP averages the gradients.
    scale = processes if num_items_in_batch is not None else 1
    return total / torch.as_tensor(count, device=total.device).clamp(min=1) * scale


def _lora_without_unit_scaling(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    """peft's LoRA Linear forward for one plain adapter whose scaling is 1: base(x) + B(A(dropout(x))), without the
    multiply by 1. Any other state (adapters disabled or merged, several or per-row adapters, another scaling) takes
    peft's own forward."""
    names = self.active_adapters
    name = names[0] if len(names) == 1 else None
    if (self.disable_adapters or self.merged or kwargs or name is None or name in self.lora_variant
            or name not in self.lora_A or self.scaling[name] != 1):
        return type(self).forward(self, x, *args, **kwargs)
    result = self.base_layer(x, *args)
    lora_A, lora_B = self.lora_A[name], self.lora_B[name]
    x = self._cast_input_dtype(x, lora_A.weight.dtype)
    return (result + lora_B(lora_A(self.lora_dropout[name](x)))).to(result.dtype)


def skip_unit_scaling(model: torch.nn.Module) -> int:
    """Let each of the model's LoRA Linear layers skip peft's multiply of its adapter's output by the scaling
    (lora_alpha / r) while that is 1, as in the CPU default and the `real` preset (alpha = r; the `reference` preset's
    alpha of half of r keeps peft's multiply). Returns the layers changed.

    peft multiplies whatever the scaling: a full-size pass over each adapted layer's output in the forward and over
    its gradient in the backward, 210 of each per step for SmolLM2 (30 blocks, 7 layers): element-wise work that
    fp32 training on a CPU waits for (scripts/benchmark_training.py measures it). x * 1.0 is x for every float, so no
    bit of the loss, the gradients or the adapter changes (tests/test_training.py compares them with peft's forward).
    """
    from types import MethodType

    from peft.tuners.lora.layer import Linear

    layers = [module for module in model.modules() if type(module) is Linear]  # not the 4-bit or other subclasses
    for layer in layers:
        layer.forward = MethodType(_lora_without_unit_scaling, layer)
    return len(layers)


def _answer_loss_trainer():
    """trl's SFTTrainer with answer_token_loss as its loss (train and eval alike)."""
    from trl import SFTTrainer

    class AnswerLossTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            processes = self.accelerator.num_processes if self.args.average_tokens_across_devices else 1
            loss = answer_token_loss(model, inputs, num_items_in_batch, processes)
            return (loss, None) if return_outputs else loss

    return AnswerLossTrainer


class EvaluateLastStep(TrainerCallback):
    """Evaluates (and checkpoints) the last step too, whether or not train.eval_steps divides the run: otherwise the
    steps after the last evaluation are trained and then thrown away by keep_best."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == state.max_steps:
            control.should_evaluate = control.should_save = True
        return control


class LiveCurves(TrainerCallback):
    """Logs the curves of pressft.model.curves with dvclive while the trainer logs them, at the trainer's global step,
    so `dvc plots show`, the VS Code extension and Studio (where configured) follow the run step by step.

    Each start writes the folder afresh from the trainer's log history: empty in a new run, the steps up to its
    checkpoint in a resumed one. So the steps an interrupted try logged after its last checkpoint, which the resumed
    run trains again, are neither kept twice nor lost. Only the main process logs.
    """

    def __init__(self, folder: str | Path):
        self.folder = str(folder)
        self.live = None

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        from dvclive import Live

        # Without resume, Live deletes what an earlier try logged. dvc.yaml declares the curves by hand, and the
        # stage runs in `dvc repro` or `dvc exp run`: dvclive edits neither dvc.yaml nor the experiments.
        self.live = Live(dir=self.folder, dvcyaml=None, save_dvc_exp=False)
        for entry in state.log_history:
            self._log(entry, entry["step"])

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.live is not None:
            self._log(logs or {}, state.global_step)

    def on_train_end(self, args, state, control, **kwargs):
        if self.live is not None:
            self.live.end()
            self.live = None

    def _log(self, entry: dict[str, Any], step: int) -> None:
        points = curve_points(entry)
        if not points:
            return
        self.live.step = step  # dvclive counts its own steps; the trainer's global step aligns train and eval rows
        for series, value in points.items():
            self.live.log_metric(series, value)
        # Writes metrics.json, signals the VS Code extension that a step ended and posts to Studio where configured.
        self.live.next_step()


class CheckpointSeal(TrainerCallback):
    """Marks a checkpoint complete once the trainer has written all of it (model, optimizer, RNG, state).

    The trainer writes a checkpoint file by file; a kill in between leaves a directory that looks usable
    but is not. Only sealed checkpoints are resumed from. The seal itself is written to a temporary
    name and renamed, so it is either there whole or not at all.
    """

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            temporary = checkpoint / f".{SEAL}.tmp"
            with temporary.open("w") as seal:
                seal.write(f"{state.global_step}\n")
                seal.flush()
                os.fsync(seal.fileno())
            os.replace(temporary, checkpoint / SEAL)


def run_fingerprint(base_dir: str, train_examples: list, val_examples: list, train: TrainConfig,
                    model: ModelConfig) -> str:
    """What a run depends on: params, the examples, the base model's files. Checkpoints of another run are stale."""
    digest = hashlib.sha256()
    digest.update(json.dumps([as_dict(train), as_dict(model), base_dir], sort_keys=True).encode())
    digest.update(json.dumps([train_examples, val_examples], sort_keys=True).encode())
    base = Path(base_dir)
    if base.is_dir():
        for path in sorted(base.rglob("*")):
            if path.is_file():  # by content: another checkpoint of the same model has files of the same sizes
                digest.update(f"{path.relative_to(base)}:{sha256(path)}".encode())
    return digest.hexdigest()


def resume_point(work_dir: Path, fingerprint: str, main_process: bool = True) -> str | None:
    """The newest sealed checkpoint of this very run in work_dir, or None to start afresh.

    Checkpoints of a different run (other params, data or base) and unsealed (half-written) ones are
    removed by the main process; every process reaches the same answer without waiting for the others.
    """
    marker = work_dir / FINGERPRINT
    same_run = marker.exists() and read_json(marker).get("fingerprint") == fingerprint
    checkpoints = sorted(work_dir.glob("checkpoint-*"), key=lambda path: int(path.name.split("-")[-1]))
    sealed = [path for path in checkpoints if (path / SEAL).exists()] if same_run else []
    if main_process:
        if not same_run:
            shutil.rmtree(work_dir, ignore_errors=True)
        else:
            for path in checkpoints:
                if path not in sealed:
                    shutil.rmtree(path, ignore_errors=True)
        work_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"fingerprint": fingerprint}) + "\n")
    return str(sealed[-1]) if sealed else None


def peak_memory() -> dict[str, Any]:
    """Peak GPU memory allocated by torch, or the process's peak resident memory on CPU, in GiB."""
    if torch.cuda.is_available():
        return {"peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3), "peak_memory_kind": "cuda"}
    # ru_maxrss is in KiB on Linux.
    return {"peak_memory_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
            "peak_memory_kind": "cpu rss"}


@dataclass(frozen=True)
class TrainingResult:
    """metrics/train.json (its keys in their order) and the trainer's log history (every logged value, unrounded)."""

    metrics: dict[str, Any]
    history: list[dict[str, Any]]


@dataclass
class TrainingRun:
    """A trainer set up to train, with what its metrics need from the set-up."""

    trainer: Any
    resume: str | None  # the checkpoint this run continues, if an earlier one was interrupted
    precision: dict[str, bool]
    inputs_shortened: dict[str, int]
    ungrounded_left_out: dict[str, int]  # training examples per task left out by train.grounded_answers


def train_lora(
    base_dir: str,
    train_examples: list[dict[str, Any]],
    val_examples: list[dict[str, Any]],
    train: TrainConfig,
    model: ModelConfig,
    out_dir: str | Path,
    work_dir: str | Path,
    curves: str | Path | None = None,
) -> TrainingResult | None:
    """Train, keep the best adapter by eval loss in out_dir, log the curves into the folder `curves` while training
    (none without it: benchmarks); None in the other processes of a multi-process run."""
    work_dir, out_dir = Path(work_dir), Path(out_dir)
    run = build_trainer(base_dir, train_examples, val_examples, train, model, work_dir, curves)
    tokens_before = _tokens_at(run.resume)  # read now: the checkpoint may be rotated away during training
    start = time.time()
    run.trainer.train(resume_from_checkpoint=run.resume)
    seconds = time.time() - start
    run.trainer.save_model(str(out_dir))  # the adapter and the tokenizer with its chat template; main process only
    run.trainer.accelerator.wait_for_everyone()
    if not run.trainer.is_world_process_zero():
        return None
    _sort_target_modules(out_dir / "adapter_config.json")
    (out_dir / "training_args.bin").unlink(missing_ok=True)  # a pickle; the params are in pressft_adapter.json
    shutil.rmtree(work_dir, ignore_errors=True)  # checkpoints: only the best adapter stays in the output
    metrics = _metrics(run, train_examples, val_examples, seconds, tokens_before)
    describe = {
        "base_model": base_dir,
        "train": as_dict(train),
        "max_length": model.max_length,
        "date_string": model.date_string,
        "label_repeats": metrics["label_repeats"],  # inference corrects label answers for them
        "versions": _versions(),
    }
    write_json(describe, out_dir / ADAPTER_FILE)
    return TrainingResult(metrics, run.trainer.state.log_history)


def build_trainer(base_dir: str, train_examples: list[dict[str, Any]], val_examples: list[dict[str, Any]],
                  train: TrainConfig, model_params: ModelConfig, work_dir: Path,
                  curves: str | Path | None = None) -> TrainingRun:
    """The trainer of this run, set up to train: resumed from its newest sealed checkpoint if an earlier try was
    interrupted. train_lora trains with it; tests read its batches without training."""
    from peft import LoraConfig as PeftLoraConfig
    from transformers import EarlyStoppingCallback, PrinterCallback, set_seed
    from trl import SFTConfig

    keep_freed_memory()
    precision = _precision(train.precision)
    main_process = int(os.environ.get("RANK", "0")) == 0
    fingerprint = run_fingerprint(base_dir, train_examples, val_examples, train, model_params)
    resume = resume_point(work_dir, fingerprint, main_process)
    if resume:
        print(f"train: resuming from {resume} (an earlier run of the same params and data was interrupted)")
    set_seed(train.seed)  # before the adapter is created: LoRA's initial weights are random
    model, tokenizer = load_model(base_dir, load_in_4bit=model_params.load_in_4bit,
                                  attn_implementation=model_params.attn_implementation)
    if model_params.load_in_4bit:
        from peft import prepare_model_for_kbit_training

        # QLoRA recipe: norms in fp32 and input gradients enabled, so the frozen 4-bit weights pass gradients on.
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=train.activation_checkpointing)
    train_ds, train_cut, left_out = _dataset(tokenizer, train_examples, model_params.max_length,
                                             model_params.date_string, grounded=train.grounded_answers)
    if left_out:
        print(f"train: left out {', '.join(f'{n} {task}' for task, n in left_out.items())} training examples whose "
              f"answer holds a number their input, cut to {model_params.max_length} tokens, lacks "
              "(train.grounded_answers)")
    # Validation keeps every example: eval losses stay comparable between recipes.
    val_ds, val_cut, _ = _dataset(tokenizer, val_examples, model_params.max_length, model_params.date_string)
    config = SFTConfig(
        output_dir=str(work_dir),
        num_train_epochs=train.epochs,
        per_device_train_batch_size=train.batch_size,
        per_device_eval_batch_size=train.eval_batch_size,
        gradient_accumulation_steps=train.grad_accum,
        learning_rate=train.lr,
        lr_scheduler_type=train.scheduler,
        warmup_steps=train.warmup_steps,
        weight_decay=train.weight_decay,
        eval_strategy="steps",
        eval_steps=train.eval_steps,
        save_strategy="steps",
        save_steps=train.eval_steps,
        save_total_limit=2,  # the newest (to resume from) and the best (to keep)
        ddp_find_unused_parameters=False,  # every LoRA weight takes part in every step
        load_best_model_at_end=train.keep_best,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=1,
        seed=train.seed,
        data_seed=train.seed,
        # Batches of similar lengths, so less compute goes into padding to the longest example of a batch.
        train_sampling_strategy="group_by_length",
        max_length=model_params.max_length,
        completion_only_loss=True,
        packing=train.packing,
        activation_checkpointing=train.activation_checkpointing,
        include_num_input_tokens_seen="non_padding",
        report_to="none",
        disable_tqdm=True,
        # Optimizer, scheduler and RNG states too: resuming must continue the very same run.
        save_only_model=False,
        **precision,
    )
    lora = PeftLoraConfig(
        r=train.lora.r,
        lora_alpha=train.lora.alpha,
        lora_dropout=train.lora.dropout,
        target_modules=list(train.lora.target_modules),
        task_type="CAUSAL_LM",
    )
    trainer = _answer_loss_trainer()(
        model=model,
        args=config,
        train_dataset=train_ds,
        eval_dataset=val_ds,
        processing_class=tokenizer,
        peft_config=lora,
        # Early stopping judges by the best checkpoint, so it only exists together with keep_best.
        callbacks=[TerminalProgress(), EvaluateLastStep(), CheckpointSeal()]
        + ([LiveCurves(curves)] if curves is not None else [])
        + ([EarlyStoppingCallback(early_stopping_patience=train.early_stopping_patience)] if train.keep_best else []),
    )
    trainer.remove_callback(PrinterCallback)  # its per-step dicts would drown the progress lines
    skip_unit_scaling(trainer.model)
    return TrainingRun(trainer, resume, precision, {"train": train_cut, "val": val_cut}, left_out)


def _metrics(run: TrainingRun, train_examples: list[dict[str, Any]], val_examples: list[dict[str, Any]], seconds: float,
             tokens_before: int) -> dict[str, Any]:
    """metrics/train.json of a finished run."""
    state = run.trainer.state
    trainable, total = run.trainer.model.get_nb_trainable_parameters()
    # The adapter's own evaluation: the lowest one's checkpoint, restored by load_best_model_at_end (train.keep_best);
    # without it the last one's. The trainer tracks the lowest either way.
    if run.trainer.args.load_best_model_at_end:
        best_eval, best_step = state.best_metric, _best_step(state.best_model_checkpoint, state.global_step)
    else:
        last = [entry for entry in state.log_history if "eval_loss" in entry][-1]
        best_eval, best_step = last["eval_loss"], last["step"]
    train_losses = [entry["loss"] for entry in state.log_history if "loss" in entry]
    tokens = state.num_input_tokens_seen
    return {
        "train_articles": len({example["id"] for example in train_examples}),
        "train_examples": len(train_examples) - sum(run.ungrounded_left_out.values()),
        "ungrounded_left_out": run.ungrounded_left_out,
        "label_repeats": label_repeats(train_examples),
        "val_examples": len(val_examples),
        "inputs_shortened": run.inputs_shortened,
        "steps": state.global_step,
        "epochs": round(state.epoch, 3),
        "final_train_loss": round(sum(train_losses[-10:]) / max(1, len(train_losses[-10:])), 4),
        # From the log history, which a resumed run restores; the trainer's own figure covers this session only.
        "mean_train_loss": round(sum(train_losses) / max(1, len(train_losses)), 4),
        "best_eval_loss": round(best_eval, 4),
        "best_eval_perplexity": round(perplexity(best_eval), 3),
        "best_step": best_step,
        "trainable_parameters": trainable,
        "trainable_percent": round(100 * trainable / total, 3),
        "tokens_seen": tokens,
        "tokens_per_second": round((tokens - tokens_before) / seconds, 1),
        "runtime_seconds": round(seconds, 1),
        "resumed_from_step": int(run.resume.split("-")[-1]) if run.resume else None,
        "processes": run.trainer.accelerator.num_processes,
        "precision": "bf16" if run.precision["bf16"] else "fp16" if run.precision["fp16"] else "fp32",
        **peak_memory(),
    }


def _sort_target_modules(config_path: Path) -> None:
    """peft writes target_modules from a set, in an order that changes with Python's hash seed; sorted, the
    adapter directory hashes the same on every run, so DVC sees an unchanged output as unchanged."""
    config = read_json(config_path)
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
    write_json(config, config_path, sort_keys=True)


def _tokens_at(checkpoint: str | None) -> int:
    """Tokens the run had seen at a checkpoint, so tokens/s counts only this session's work."""
    if not checkpoint:
        return 0
    return read_json(Path(checkpoint) / "trainer_state.json").get("num_input_tokens_seen", 0)


def _best_step(checkpoint: str | None, last: int) -> int:
    return int(Path(checkpoint).name.split("-")[-1]) if checkpoint else last


def _versions() -> dict[str, str]:
    import peft
    import transformers
    import trl

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        "peft": peft.__version__,
    }

