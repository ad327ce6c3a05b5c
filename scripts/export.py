"""Export the fine-tuned model as a plain transformers model: the adapter merged into its base (safetensors),
tokenizer and chat template, greedy generation config, and a model card (README.md) from the committed metrics.

    python scripts/export.py --out exports/pressft-model                 # the workspace's adapter
    python scripts/export.py --exp size-120-seed-3407 --out exports/size-120
    python scripts/export.py --out exports/pressft-model --push-to-hub me/pressft-model   # needs HF_TOKEN
    python scripts/export.py --out exports/pressft-model --gguf q8_0     # also one GGUF file + Ollama Modelfile

The export loads with `AutoModelForCausalLM.from_pretrained(dir)` alone, no project code. The model card's numbers
are those of the workspace's metrics/ (or of the experiment's, with --exp). With --gguf, the folder also holds
`<name>-<type>.gguf` (llama.cpp, Ollama: chat template, end-of-turn stop token, greedy defaults) and a `Modelfile`.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from pressft.errors import UserError, run_stage
from pressft.model.gguf_export import OUTTYPES
from pressft.io import read_json as read_workspace_json


def read_json(path: str, experiment: str | None) -> dict:
    """A committed JSON file of the workspace, or of an experiment's commit."""
    if experiment is None:
        return read_workspace_json(path)
    try:
        import dvc.api

        return json.loads(dvc.api.read(path, rev=experiment, encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path} not found; run `dvc repro` first") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/adapter", help="adapter directory (default: %(default)s)")
    parser.add_argument("--exp", help="export the adapter of this DVC experiment (or git revision)")
    parser.add_argument("--out", required=True, help="directory to write (must not exist or be empty)")
    parser.add_argument("--name", help="model name in the card (default: the --out folder's name)")
    parser.add_argument("--push-to-hub", metavar="REPO_ID",
                        help="also upload to this Hugging Face Hub repo (token from the HF_TOKEN environment variable)")
    parser.add_argument("--gguf", choices=OUTTYPES,
                        help="also write the merged model as one GGUF file of this type, and an Ollama Modelfile")
    args = parser.parse_args()
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"--out {out} exists and is not empty; choose a new directory")
    if args.push_to_hub and not os.environ.get("HF_TOKEN"):
        raise UserError("--push-to-hub needs a token in the HF_TOKEN environment variable")
    if not args.push_to_hub:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read by huggingface_hub at import: set before it loads
    from pressft.model.answering import model_directory
    from pressft.model.export import save_merged
    from pressft.presentation.model_card import model_card
    from pressft.model.modeling import ADAPTER_FILE, load_for_inference, trained_label_repeats
    from pressft.config import load_config

    config = load_config("data", "tasks", "model", "train", "infer")
    with model_directory(args.model, args.exp) as directory:
        if not (Path(directory) / ADAPTER_FILE).exists():
            raise UserError(f"{args.model} is not an adapter directory (no {ADAPTER_FILE}); export the fine-tuned model")
        model, tokenizer = load_for_inference(directory, "fp32")
        repeats = trained_label_repeats(directory)
    base = read_json("models/base/pressft_base.json", None)
    card = model_card(
        name=args.name or out.name, config=config,
        base=base,
        data=read_json("metrics/data.json", args.exp), splits=read_json("metrics/splits.json", args.exp),
        train=read_json("metrics/train.json", args.exp), comparison=read_json("metrics/comparison.json", args.exp),
    )
    if args.gguf:
        from pressft.model.gguf_export import check_supported

        check_supported(model, args.gguf)  # before anything is written
    save_merged(model.cpu(), tokenizer, out, repeats)
    (out / "README.md").write_text(card, encoding="utf-8")
    print(f"export: merged model, tokenizer, generation config and model card -> {out}", file=sys.stderr)
    if args.gguf:
        from pressft.model.gguf_export import modelfile, write_gguf
        from pressft.model.packaged import source_gguf

        name = args.name or out.name
        path = write_gguf(model, tokenizer, out / f"{name}-{args.gguf}.gguf", args.gguf, name=name,
                          source_gguf=source_gguf(base))
        (out / "Modelfile").write_text(modelfile(path.name, tokenizer), encoding="utf-8")
        print(f"export: {path.name} and an Ollama Modelfile -> {out}", file=sys.stderr)
    if args.push_to_hub:
        from huggingface_hub import HfApi

        api = HfApi(token=os.environ["HF_TOKEN"])
        api.create_repo(args.push_to_hub, exist_ok=True)
        api.upload_folder(folder_path=str(out), repo_id=args.push_to_hub)
        print(f"export: uploaded to https://huggingface.co/{args.push_to_hub}", file=sys.stderr)


if __name__ == "__main__":
    run_stage(main)
