"""A fine-tuned model as a plain transformers model: the adapter merged into its base, saved as safetensors with
its tokenizer, chat template and a greedy generation config (its model card: presentation/model_card.py)."""

from pathlib import Path

from pressft.io import write_json
from pressft.model.chat import eot_id
from pressft.model.modeling import MERGED_FILE


def save_merged(model, tokenizer, out_dir: str | Path, label_repeats: dict[str, dict[str, int]] | None = None) -> None:
    """Weights (safetensors), tokenizer with its chat template, and a generation config that decodes as the
    evaluation did: greedy, stopping at the end-of-turn token; with the adapter's label repeats, so label answers by
    likelihood (scripts/generate.py --model on the export) are corrected as the infer stage corrected them."""
    from transformers import GenerationConfig

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    end = eot_id(tokenizer)
    model.generation_config = GenerationConfig(do_sample=False, eos_token_id=end, pad_token_id=tokenizer.pad_token_id,
                                               bos_token_id=tokenizer.bos_token_id)
    model.save_pretrained(str(out_dir))  # safetensors
    tokenizer.save_pretrained(str(out_dir))
    write_json({"label_repeats": label_repeats or {}}, out_dir / MERGED_FILE)
