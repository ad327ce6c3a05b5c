"""Base models: the tiny embedded Llama built here, or a hub/local model; one loading path for both."""

import math
import time
from pathlib import Path
from typing import Any

import torch

from pressft.model.allocator import keep_freed_memory
from pressft.model.chat import CHAT_TEMPLATE, EOT, PAD, eot_id
from pressft.config import EmbeddedConfig
from pressft.errors import UserError
from pressft.io import read_json, write_json

BOS, EOS_TEXT = "<|begin_of_text|>", "<|end_of_text|>"
SPECIAL_TOKENS = [BOS, EOS_TEXT, "<|start_header_id|>", "<|end_header_id|>", EOT, PAD]
SOURCE_FILE = "pressft_base.json"  # written beside the weights: where the base came from
ADAPTER_FILE = "pressft_adapter.json"  # what trained an adapter, beside peft's own files
MERGED_FILE = "pressft_merged.json"  # what a merged export keeps of its adapter's record (export.save_merged)


def train_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE (as Llama 3 uses) trained on the given texts, with Llama-3 special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOT,
        pad_token=PAD,
        chat_template=CHAT_TEMPLATE,
        model_max_length=4096,
    )


def article_text(article: dict[str, Any]) -> str:
    """Plain article text for pretraining: domain language, no chat or task format."""
    return f"{article['title']}\n\n{article['summary']}\n\n{article['content']}"


def pretrain_blocks(tokenizer, texts: list[str], block: int) -> torch.Tensor:
    """All texts, each ended by <|end_of_text|>, concatenated and cut into blocks."""
    end = tokenizer.convert_tokens_to_ids(EOS_TEXT)
    stream: list[int] = []
    # The backend tokenizer: whole articles exceed model_max_length, which is fine before cutting into blocks.
    for encoding in tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=False):
        stream.extend(encoding.ids + [end])
    n_blocks = len(stream) // block
    if n_blocks == 0:
        raise UserError("too little article text to pretrain the embedded model; raise data.n_articles")
    return torch.tensor(stream[: n_blocks * block]).view(n_blocks, block)


def build_embedded_model(articles: list[dict[str, Any]], cfg: EmbeddedConfig, out_dir: str | Path, log=print) -> dict:
    """Tokenizer + tiny Llama pretrained on the articles' text (causal LM), saved as safetensors.

    LoRA on a randomly initialised model barely learns; after a short pretraining it does,
    and the model writes domain text without knowing the task formats, like a real base model.
    """
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, get_cosine_schedule_with_warmup

    start = time.time()
    keep_freed_memory()
    torch.manual_seed(cfg.seed)
    texts = [article_text(article) for article in articles]
    tokenizer = train_tokenizer(texts, cfg.vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.kv_heads,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=eot_id(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    blocks = pretrain_blocks(tokenizer, texts, cfg.pretrain_block)
    steps, batch = cfg.pretrain_steps, cfg.pretrain_batch
    # Weight decay, warmup and clipping stay fixed, common values rather than params: this model is a smoke test of
    # the pipeline, its pretraining only has to leave a base LoRA can steer, and each knob would be one more to
    # keep in every preset (model.embedded has the steps, batch, block and learning rate that decide that).
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.pretrain_lr, weight_decay=0.01)
    schedule = get_cosine_schedule_with_warmup(optimizer, min(20, steps // 10), steps)
    order = torch.Generator().manual_seed(cfg.seed)
    model.train()
    losses = []
    for step in range(1, steps + 1):
        rows = torch.randint(len(blocks), (batch,), generator=order)
        loss = model(input_ids=blocks[rows], labels=blocks[rows]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if step == 1 or step % 25 == 0 or step == steps:
            log(f"pretrain step {step}/{steps}  loss {loss.item():.3f}  {time.time() - start:.0f}s")
    model.eval()
    model.generation_config = GenerationConfig(
        eos_token_id=eot_id(tokenizer), pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id
    )
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    summary = {
        "source": "embedded",
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "pretrain_blocks": len(blocks),
        "pretrain_tokens_seen": steps * batch * cfg.pretrain_block,
        "pretrain_loss_first": round(losses[0], 4),
        "pretrain_loss_last": round(sum(losses[-10:]) / len(losses[-10:]), 4),
    }
    # No wall time in the file: the output must hash the same on every run, or DVC's cache and lock disagree.
    write_json(summary, out_dir / SOURCE_FILE)
    log(f"pretrained in {time.time() - start:.0f}s")
    return summary


def load_model(spec: str | Path, *, load_in_4bit: bool = False, attn_implementation: str | None = None):
    """(model, tokenizer) from a hub id or a local directory, through from_pretrained; safetensors only."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {"use_safetensors": True}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if load_in_4bit:
        if not torch.cuda.is_available():
            raise UserError("param model.load_in_4bit=true needs a CUDA GPU (bitsandbytes); set it to false on CPU")
        from transformers import BitsAndBytesConfig  # bitsandbytes is imported only when 4-bit is asked for

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(spec))
        model = AutoModelForCausalLM.from_pretrained(str(spec), **kwargs)
    except (OSError, ValueError) as error:  # missing files, or a directory that holds no model
        first_line = str(error).strip().splitlines()[0]
        raise UserError(f"cannot load model {spec}: {first_line}") from None
    # Offline mode (HF_HUB_OFFLINE) lands in the tokenizer's saved config; without this, the same training run
    # writes a different adapter directory, hence a different dvc.lock, depending on the shell's environment.
    tokenizer.init_kwargs.pop("local_files_only", None)
    return model, tokenizer


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
EMULATED_BF16 = "this CPU has no native bf16 (AVX512-BF16/AMX), so bf16 is emulated and slower than fp32"


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX). Without it PyTorch emulates bf16 (oneDNN
    restricted to AVX2), slower than fp32 instead of faster (docs/performance.md)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def bf16_emulated() -> bool:
    """Whether bf16 would run here without hardware support (a CPU-only machine without AVX512-BF16/AMX)."""
    return not torch.cuda.is_available() and not cpu_has_bf16()


def resolve_precision(name: str) -> str:
    """A precision param (infer.dtype, train.precision) with auto resolved: bf16 where the hardware has it,
    else fp16 on a GPU, fp32 on a CPU."""
    if name != "auto":
        return name
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_bf16() else "fp32"


def inference_dtype(name: str) -> torch.dtype:
    """The dtype of param infer.dtype."""
    return DTYPES[resolve_precision(name)]


def load_for_inference(model_dir: str | Path, dtype: str = "fp32"):
    """(model, tokenizer) for generation: a base directory as is, or an adapter merged into its base, on the GPU
    when there is one, in `dtype` (a value of infer.dtype).

    Merging removes the LoRA matmuls from every forward pass; it happens in full precision, before the cast.
    The adapter names its base by a path relative to the repository root (or a hub id), so a moved clone
    still finds it.
    """
    keep_freed_memory()  # each batch frees activations of hundreds of MiB (see allocator.py)
    model_dir = Path(model_dir)
    describe = model_dir / ADAPTER_FILE
    if not describe.exists():
        model, tokenizer = load_model(model_dir)
    else:
        from peft import PeftModel
        from transformers import AutoTokenizer

        base, _ = load_model(read_json(describe)["base_model"])
        model = PeftModel.from_pretrained(base.float(), str(model_dir)).merge_and_unload()
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = model.to(device="cuda" if torch.cuda.is_available() else "cpu", dtype=inference_dtype(dtype))
    model.eval()
    # Subnormal activations (far tails of attention softmax) take a slow path on x86 CPUs; flushing them to zero
    # speeds up generation and answer scoring (docs/performance.md). Training showed no gain.
    torch.set_flush_denormal(True)
    return model, tokenizer


def trained_label_repeats(model_dir: str | Path) -> dict[str, dict[str, int]]:
    """How many times training repeated each label's examples (training.label_repeats), from an adapter directory or
    a merged export of one; none for a base model or an adapter that did not record them."""
    for name in (ADAPTER_FILE, MERGED_FILE):
        if (Path(model_dir) / name).exists():
            return read_json(Path(model_dir) / name).get("label_repeats", {})
    return {}


# Pad tokens that some vocabularies already hold, tried in order before a new one is added (a new token changes
# the embedding matrix's shape). Any token works as long as it is not the end of turn: padding is never attended
# to nor trained, but a pad equal to the end of turn would be masked out of the loss, and the model never learns
# to stop. <|endoftext|> is SmolLM2's document separator, which a chat prompt never contains.
PAD_CANDIDATES = (PAD, "<|pad|>", "<pad>", "[PAD]", "<|endoftext|>")


def prepare_base(spec: str, out_dir: str | Path) -> dict:
    """A hub, local or packaged model (see pressft.model.packaged) in out_dir, ready for this pipeline; DVC then pins its
    exact weights.

    The chat template and its end-of-turn token come from the model; a pad token distinct from the end of turn,
    and generation that stops at the end of turn, as the fine-tuned model will be asked to.
    """
    from pressft.model.packaged import PACKAGED, load as load_packaged

    provenance: dict[str, Any] = {}
    if spec in PACKAGED:
        model, tokenizer, provenance = load_packaged(spec)
    else:
        model, tokenizer = load_model(spec)
    end = eot_id(tokenizer)  # one line naming model.base when the model has no usable chat template
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id == end:
        vocab = tokenizer.get_vocab()
        pad = next((token for token in PAD_CANDIDATES if token in vocab and vocab[token] != end), None)
        if pad is None:
            pad = "<|pad|>"
            tokenizer.add_special_tokens({"pad_token": pad})
            model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
        tokenizer.pad_token = pad
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.eos_token_id = end
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = end
    # Greedy decoding is the evaluation protocol; sampling defaults of a hub config would only warn.
    model.generation_config.do_sample = False
    model.generation_config.temperature = None
    model.generation_config.top_p = None
    model.generation_config.top_k = None
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    summary = {
        "source": str(spec),
        **provenance,
        "architecture": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "end_of_turn": tokenizer.convert_ids_to_tokens(end),
        "pad": tokenizer.pad_token,
    }
    write_json(summary, out_dir / SOURCE_FILE)
    return summary


def perplexity(loss: float) -> float:
    return math.exp(min(loss, 50.0))
