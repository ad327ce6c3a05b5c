"""Training benchmark: the throughput of a plain LoRA loop (as the reference study trained: batches in data
order padded to their longest row, the model's own loss over full logits, sdpa attention) against the train
stage, and the stage with one of its ingredients taken out, on the same examples, in one run; in fp32 and again in
bf16 autocast, each against the plain loop in the same precision. Prints real (non-padding) tokens/s over the whole
run and of its median step (the pace a long run keeps once one-off costs, such as torch.compile's compiling, are
paid), the ratio of each to the plain loop, model-FLOPs utilisation against this machine's measured matmul peak in
that precision, the share of its training's CPU time spent in the kernel (mostly page faults: memory touched for
the first time, or freed to the system and touched again), and the final train loss and eval loss of each (the
ingredients must not change what is learnt).

    python scripts/benchmark_training.py                   # first 20 pool articles of `dvc repro`'s data, 1 round
    python scripts/benchmark_training.py --articles 60 --rounds 2
    python scripts/benchmark_training.py --only project,sdpa --avx2   # also as on a CPU with AVX2 and no AVX-512
    python scripts/benchmark_training.py --only project,r16 --rounds 2   # what LoRA rank 16 saves (a recipe's cost)
    python scripts/benchmark_training.py --only sdpa,scaling --rounds 3  # what skipping the multiply by 1 saves
    python scripts/benchmark_training.py --only sdpa,compile --articles 40  # whether compiling pays back

Each setting trains in its own process, on the committed params but its precision (1 epoch, no evaluation during
training); the settings take turns round by round, so a slow moment of the machine hits all alike. Model FLOPs per
trained token are counted as 4 x parameters (forward, and backward to the activations; the frozen weights get no
gradient).

`--avx2` runs every setting a second time, in the same round, with the code paths of a CPU that has AVX2 and no
AVX-512 (reproduction.AVX2_ONLY): its speed against the same setting on all of this CPU, and whether its losses are
the same, for a machine without AVX-512 measured on one that has it. The caps change the kernels, not the clock.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pressft.errors import UserError, run_stage  # noqa: E402
from pressft.io import read_jsonl  # noqa: E402
from pressft.config import load_config  # noqa: E402
from pressft.evaluation.reproduction import AVX2_ONLY  # noqa: E402

# setting: (what it is, its precision). The first setting of each precision is the plain loop it is measured against.
SETTINGS = {
    "plain": ("plain LoRA loop (reference)", "fp32"),
    "project": ("train stage: trl, answer-token loss, eager attention, length grouping", "fp32"),
    "columns": ("train stage with the LM head at every column where some row answers", "fp32"),
    "sdpa": ("train stage with sdpa attention", "fp32"),
    "scaling": ("train stage with sdpa attention and peft's multiply by the LoRA scaling of 1", "fp32"),
    "compile": ("train stage with sdpa attention and torch.compile (its compile time included)", "fp32"),
    "trl-loss": ("train stage with trl's own (fused LM head) loss", "fp32"),
    "r16": ("train stage with LoRA rank 16, alpha 16 (the same scaling)", "fp32"),
    "plain-bf16": ("plain LoRA loop (reference)", "bf16"),
    "bf16": ("train stage: trl, answer-token loss, eager attention, length grouping", "bf16"),
}
# Not run unless --only names them: compile compiles for minutes first; r16 is a recipe's setting, not an ingredient.
OPT_IN = ("compile", "r16")
RESULT = "benchmark_training: "


def matmul_peak(precision: str, largest: int = 2048, seconds: float = 3.0) -> float:
    """GFLOP/s of a large matmul in `precision` (fp32, or bf16 as autocast runs it) on this machine: the ceiling that
    model-FLOPs utilisation in that precision is measured against. The size doubles up to `largest` while one product
    takes under 0.1 s: a CPU without bf16 instructions emulates them some 20 times slower than fp32, and one product
    of 2048 would take it a minute."""
    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    size = 256
    while True:
        a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
        a @ b  # kernel selection
        start = time.perf_counter()
        a @ b
        if size >= largest or time.perf_counter() - start >= 0.1:
            break
        size *= 2
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        runs += 1
    return 2 * size**3 * runs / (time.perf_counter() - start) / 1e9


def one_run(args) -> None:
    """Child process: train once with one setting; print tokens/s, losses and the eval loss as a JSON line."""
    from pressft.model import training
    from benchmarking import answer_columns_loss, eval_loss, median_step_speed, plain_lora_loop

    config = load_config("train", "model", "infer")
    train, model = config.train, config.model
    examples = training.select_training(read_jsonl(args.pool), args.articles, train.type_oversample_cap)
    val = read_jsonl(args.val)[: args.val_examples]
    train = replace(train, precision=SETTINGS[args.setting][1])
    start = resource.getrusage(resource.RUSAGE_SELF)
    with tempfile.TemporaryDirectory() as tmp:
        adapter = Path(tmp) / "adapter"
        if args.setting.startswith("plain"):
            metrics = plain_lora_loop(args.base, examples, train, model, adapter)
        else:
            # As the settings' names say, whatever params.yaml holds (the `real` preset trains with sdpa).
            model = replace(model, attn_implementation="sdpa" if args.setting in ("sdpa", "scaling", "compile")
                            else "eager")
            if args.setting == "compile":
                import trl

                plain_config = trl.SFTConfig  # build_trainer imports it at call time
                trl.SFTConfig = lambda **kwargs: plain_config(**kwargs, torch_compile=True)
            if args.setting == "scaling":
                training.skip_unit_scaling = lambda model: 0
            if args.setting == "columns":
                training.answer_token_loss = answer_columns_loss
            if args.setting == "trl-loss":
                from trl import SFTTrainer

                training._answer_loss_trainer = lambda: SFTTrainer
            if args.setting == "r16":
                train = replace(train, lora=replace(train.lora, r=16, alpha=16))
            train = replace(train, epochs=1, keep_best=False, eval_steps=10**9)  # no evaluation while training
            steps = []

            class StepTimes(training.TerminalProgress):  # the stage's progress lines, and each step's time and tokens
                def on_step_begin(self, args, state, control, **kwargs):
                    self.began, self.seen = time.perf_counter(), state.num_input_tokens_seen

                def on_step_end(self, args, state, control, **kwargs):
                    steps.append((time.perf_counter() - self.began, state.num_input_tokens_seen - self.seen))

            training.TerminalProgress = StepTimes
            metrics = training.train_lora(args.base, examples, val[:1], train, model, adapter, Path(tmp) / "work").metrics
            metrics["median_step_tokens_per_second"] = median_step_speed(steps)
        used = resource.getrusage(resource.RUSAGE_SELF)
        user, kernel = used.ru_utime - start.ru_utime, used.ru_stime - start.ru_stime
        metrics["system_cpu_share"] = kernel / (user + kernel)
        metrics["eval_loss"] = eval_loss(adapter, val, config.infer, model)
    import torch

    metrics["cpu_capability"] = torch.backends.cpu.get_cpu_capability()  # the kernels ATen chose: the caps took
    print(RESULT + json.dumps(metrics), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="models/base")
    parser.add_argument("--pool", default="data/tasks/pool.jsonl")
    parser.add_argument("--val", default="data/tasks/val.jsonl")
    parser.add_argument("--articles", type=int, default=20, help="first N articles of the training pool")
    parser.add_argument("--val-examples", type=int, default=32, help="validation examples for the eval loss")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--only", default=",".join(setting for setting in SETTINGS if setting not in OPT_IN),
                        help=f"comma-separated settings to run, of {', '.join(SETTINGS)} (all but "
                             f"{' and '.join(OPT_IN)} by default); the plain loop of each precision runs too")
    parser.add_argument("--avx2", action="store_true",
                        help="also run each setting as on a CPU with AVX2 and no AVX-512 (its kernels, not its clock)")
    parser.add_argument("--setting", choices=list(SETTINGS), help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()
    if args.setting:
        return one_run(args)
    chosen = {setting for setting in args.only.split(",") if setting}
    if not chosen or chosen - set(SETTINGS):
        raise UserError(f"--only must name settings of {', '.join(SETTINGS)}; got {args.only!r}")
    if not Path(args.base, "config.json").exists() or not Path(args.pool).exists():
        raise UserError(f"{args.base} or {args.pool} is missing; run `dvc repro` first")
    pool = len({example["id"] for example in read_jsonl(args.pool)})
    if not 1 <= args.articles <= pool or args.rounds < 1:
        raise UserError(f"--articles must be 1..{pool} (the training pool) and --rounds at least 1; "
                        f"got {args.articles} and {args.rounds}")
    # Every ratio needs the plain loop in its precision, and the FLOP count comes from the fp32 one.
    precisions = {SETTINGS[setting][1] for setting in chosen}
    chosen = [setting for setting, (_, precision) in SETTINGS.items()
              if setting in chosen or setting == "plain" or (setting.startswith("plain") and precision in precisions)]
    peaks = {precision: matmul_peak(precision) for precision in dict.fromkeys(SETTINGS[s][1] for s in chosen)}
    # A run is a setting on all of this CPU (""), or capped to AVX2's code paths ("avx2").
    runs: dict[tuple[str, str], list[dict]] = {(setting, caps): [] for setting in chosen
                                               for caps in ("", "avx2")[: 1 + args.avx2]}
    for round_ in range(1, args.rounds + 1):
        for setting, caps in runs:
            command = [sys.executable, __file__, "--setting", setting, "--articles", str(args.articles), "--base",
                       args.base, "--pool", args.pool, "--val", args.val, "--val-examples", str(args.val_examples)]
            # Each library reads its cap when it loads, so the child starts with it in its environment.
            env = os.environ | (AVX2_ONLY if caps else {})
            out = subprocess.run(command, capture_output=True, text=True, env=env)
            lines = [line for line in out.stdout.splitlines() if line.startswith(RESULT)]
            if out.returncode != 0 or not lines:
                print(out.stderr[-3000:], file=sys.stderr)
                raise UserError(f"the {setting} training run{' capped to AVX2' if caps else ''} failed (its output "
                                "is above)")
            metrics = json.loads(lines[-1][len(RESULT):])
            runs[setting, caps].append(metrics)
            print(f"round {round_}: {setting + (' avx2' if caps else ''):15} {metrics['tokens_per_second']:8.1f} "
                  f"tokens/s  final train loss {metrics['final_train_loss']}  eval loss {metrics['eval_loss']}",
                  flush=True)

    first = runs["plain", ""][0]
    flops = 4 * first["parameters"]
    print(f"\n{args.articles} articles, {first['train_examples']} examples, {first['steps']} steps, "
          f"{first['tokens_seen']:,} real tokens per run; median of {args.rounds} round(s); matmul peak "
          f"{', '.join(f'{precision} {peak:,.0f}' for precision, peak in peaks.items())} GFLOP/s; "
          f"{flops / 1e6:,.0f} MFLOP per trained token\n")
    print("| setting | precision | tokens/s | vs plain loop, same precision | median step: tokens/s | vs plain loop "
          "| model-FLOPs utilisation, same precision | system CPU time | final train loss | eval loss |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    speed = {run: statistics.median(m["tokens_per_second"] for m in metrics) for run, metrics in runs.items()}
    step = {run: statistics.median(m["median_step_tokens_per_second"] for m in metrics)
            for run, metrics in runs.items()}
    plain = {}
    for (setting, caps), metrics in runs.items():
        name, precision = SETTINGS[setting]
        plain.setdefault((precision, caps), (speed[setting, caps], step[setting, caps]))
        print(f"| {name}{', AVX2 code paths' if caps else ''} | {precision} | {speed[setting, caps]:,.1f} | "
              f"{speed[setting, caps] / plain[precision, caps][0]:.2f}× | {step[setting, caps]:,.1f} | "
              f"{step[setting, caps] / plain[precision, caps][1]:.2f}× | "
              f"{speed[setting, caps] * flops / 1e9 / peaks[precision]:.1%} | "
              f"{statistics.median(m['system_cpu_share'] for m in metrics):.1%} | "
              f"{', '.join(str(m['final_train_loss']) for m in metrics)} | "
              f"{', '.join(str(m['eval_loss']) for m in metrics)} |")
    if ("bf16", "") in speed:
        print(f"\ntrain stage in bf16 against the plain loop in fp32: {speed['bf16', ''] / speed['plain', '']:.2f}×")
    if args.avx2:
        print("\nAVX2 code paths against all of this CPU, setting by setting (the median speeds' ratio; losses to "
              "the digits written):")
        for setting in chosen:
            losses = [(m["final_train_loss"], m["eval_loss"]) for m in runs[setting, ""] + runs[setting, "avx2"]]
            same = "the same losses" if len(set(losses)) == 1 else f"losses differ: {sorted(set(losses))}"
            kernels = " -> ".join(runs[setting, caps][0]["cpu_capability"] for caps in ("", "avx2"))
            print(f"  {setting}: kernels {kernels}, {speed[setting, 'avx2'] / speed[setting, '']:.2f}× the speed, "
                  f"{same}")


if __name__ == "__main__":
    run_stage(main)
