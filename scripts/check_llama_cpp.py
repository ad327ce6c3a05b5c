"""Run the GGUF export in llama.cpp itself and compare it with the merged model in transformers: same test prompts,
the file's own chat template and sampling defaults, one prompt at a time as a user would; prints agreement, prompt
token counts, stops, ROUGE-L against the references, and tokens/s for both (docs/export.md keeps one run's numbers).

    python scripts/check_llama_cpp.py --model models/adapter --gguf q8_0 --test data/tasks/test.jsonl

llama.cpp comes from the registry's `llama-cpp-python` source distribution (pip download, no binaries): its vendored
llama.cpp is built once with cmake (CPU, llama-server only) into the pressft cache and reused. Nothing here is part of
the export; the export itself compiles nothing.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

from pressft.errors import UserError, run_stage
from pressft.tasks import get_task

LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.36"
CMAKE_FLAGS = ["-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=ON", "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF",
               "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_APP=OFF",
               # no web UI: the default fetches a prebuilt one from the network
               "-DLLAMA_BUILD_UI=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF", "-DBUILD_SHARED_LIBS=OFF"]
# Whole articles on both sides: the infer stage shortens inputs to model.max_length, a chat client would not.
CONTEXT = 2048


def build_server(jobs: int) -> Path:
    """llama-server built from the pinned llama-cpp-python sdist's vendored llama.cpp (cached between runs)."""
    from pressft.model.packaged import cache_dir

    root = cache_dir() / LLAMA_CPP_PYTHON.replace("==", "-")
    server = root / "build" / "bin" / "llama-server"
    if server.is_file():
        return server
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            raise UserError(f"building llama.cpp needs {tool}; install it (e.g. apt-get install cmake g++)")
    if not (root / "src" / "CMakeLists.txt").is_file():
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                                   "--quiet", "--dest", tmp, LLAMA_CPP_PYTHON], capture_output=True, text=True)
            archives = list(Path(tmp).glob("*.tar.gz"))
            if done.returncode != 0 or len(archives) != 1:
                raise UserError(f"cannot fetch {LLAMA_CPP_PYTHON} from the package index: "
                                f"{(done.stderr.strip().splitlines() or ['no sdist'])[-1]}")
            with tarfile.open(archives[0]) as archive:
                archive.extractall(tmp, filter="data")
            vendored = next(Path(tmp).glob("llama_cpp_python-*/vendor/llama.cpp"))
            root.mkdir(parents=True, exist_ok=True)
            shutil.move(str(vendored), root / "src")
    start = time.time()
    nice = ["nice", "-n", "19"]
    subprocess.run(nice + ["cmake", "-S", str(root / "src"), "-B", str(root / "build"), *CMAKE_FLAGS], check=True,
                   capture_output=True)
    subprocess.run(nice + ["cmake", "--build", str(root / "build"), "--target", "llama-server", f"-j{jobs}"],
                   check=True, capture_output=True)
    print(f"check: built llama-server in {time.time() - start:.0f} s", file=sys.stderr)
    return server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


def llama_cpp_answers(server: Path, gguf_path: Path, examples: list[dict], limits: dict[str, int],
                      date_string: str, threads: int) -> list[dict]:
    """One chat completion per example from llama-server, with no sampling parameters: the file's defaults apply."""
    from pressft.model.chat import chat_messages  # the very messages training and infer render

    port = _free_port()
    process = subprocess.Popen([str(server), "-m", str(gguf_path), "--port", str(port), "-t", str(threads),
                                "-c", str(2 * CONTEXT), "--jinja", "-np", "1"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(1)
        answers = []
        for example in examples:
            reply = _post(f"http://127.0.0.1:{port}/v1/chat/completions", {
                "messages": chat_messages(example, example["input"]), "max_tokens": limits[example["task"]],
                "chat_template_kwargs": {"date_string": date_string}})
            stopped = reply["choices"][0]["finish_reason"] == "stop"
            # The answer as the infer stage keeps it (Task.complete), so the two compare like for like.
            answers.append({"prediction": get_task(example["task"]).complete(
                                reply["choices"][0]["message"]["content"].strip(), stopped),
                            "stopped": stopped,
                            "prompt_tokens": reply["usage"]["prompt_tokens"],
                            "output_tokens": reply["usage"]["completion_tokens"],
                            "seconds": reply["timings"]["predicted_ms"] / 1000 + reply["timings"]["prompt_ms"] / 1000})
        return answers
    finally:
        process.terminate()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="adapter or base directory")
    parser.add_argument("--gguf", default="q8_0", help="GGUF type to export and run (default: %(default)s)")
    parser.add_argument("--test", default="data/tasks/test.jsonl", help="test examples (default: %(default)s)")
    parser.add_argument("--per-task", type=int, default=5, help="examples per task (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for both (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel compile jobs (default: %(default)s)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from pressft.config import load_config
    from pressft.evaluation.baselines import mean_rouge
    from pressft.io import read_json, read_jsonl
    from pressft.model.chat import prompt_ids
    from pressft.model.generation import generate_predictions
    from pressft.model.gguf_export import write_gguf
    from pressft.model.modeling import ADAPTER_FILE, load_for_inference
    from pressft.model.packaged import source_gguf

    server = build_server(args.jobs)
    torch.set_num_threads(args.threads)
    config = load_config("infer", "model")
    limits, date_string = config.infer.max_new_tokens, config.model.date_string
    model_dir = Path(args.model)
    base_dir = Path(read_json(model_dir / ADAPTER_FILE)["base_model"]) if (model_dir / ADAPTER_FILE).exists() \
        else model_dir
    provenance = base_dir / "pressft_base.json"
    source = source_gguf(read_json(provenance)) if provenance.exists() else None
    model, tokenizer = load_for_inference(model_dir, "fp32")
    examples, seen = [], {}
    for example in read_jsonl(args.test):
        if seen.get(example["task"], 0) < args.per_task and prompt_ids(
                tokenizer, example, CONTEXT, date_string)[1] == 0:
            examples.append(example)
            seen[example["task"]] = seen.get(example["task"], 0) + 1
    with tempfile.TemporaryDirectory() as tmp:
        path = write_gguf(model, tokenizer, Path(tmp) / f"check-{args.gguf}.gguf", args.gguf, name="check",
                          source_gguf=source)
        ours, timed = [], 0.0
        for example in examples:  # one at a time, as a chat user asks
            start = time.time()
            ours += generate_predictions(model, tokenizer, [example], max_new_tokens=limits,
                                         max_length=CONTEXT, date_string=date_string, batch_size=1,
                                         log=lambda line: None)
            timed += time.time() - start
        start = time.time()
        batched = generate_predictions(model, tokenizer, examples, max_new_tokens=limits,
                                       max_length=CONTEXT, date_string=date_string,
                                       batch_size=config.infer.batch_size, log=lambda line: None)
        batched_seconds = time.time() - start
        theirs = llama_cpp_answers(server, path, examples, limits, date_string, args.threads)
        size = path.stat().st_size
    n = len(examples)
    prompts = [len(prompt_ids(tokenizer, e, CONTEXT, date_string)[0]) for e in examples]
    out_tokens = sum(r["output_tokens"] for r in ours)
    result = {
        "examples": n, "gguf": args.gguf, "gguf_bytes": size, "vocabulary": "carried over" if source else "written",
        "identical_answers": sum(a["prediction"] == b["prediction"] for a, b in zip(ours, theirs)) / n,
        "same_prompt_tokens": sum(p == t["prompt_tokens"] for p, t in zip(prompts, theirs)) / n,
        "same_stop": sum((not a["hit_limit"]) == b["stopped"] for a, b in zip(ours, theirs)) / n,
        "rougeL": {task: {"transformers": round(mean_rouge([r["prediction"] for r in ours if r["task"] == task],
                                                           [e["reference"] for e in examples if e["task"] == task],
                                                           "rougeL"), 4),
                          "llama.cpp": round(mean_rouge([t["prediction"] for t, e in zip(theirs, examples)
                                                         if e["task"] == task],
                                                        [e["reference"] for e in examples if e["task"] == task],
                                                        "rougeL"), 4)}
                   for task in ("summarization", "title") if task in seen},
        "tokens_per_s": {
            "transformers fp32, one prompt at a time": round(out_tokens / timed, 1),
            f"transformers fp32, batched as the infer stage (batch {config.infer.batch_size})":
                round(sum(r["output_tokens"] for r in batched) / batched_seconds, 1),
            f"llama.cpp {args.gguf}, one prompt at a time":
                round(sum(t["output_tokens"] for t in theirs) / sum(t["seconds"] for t in theirs), 1),
        },
        "threads": args.threads,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    run_stage(main)
