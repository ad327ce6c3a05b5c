"""Reading and checking params.yaml, so bad values fail before any work with one clear line."""

import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from pressft.tasks import ARTICLE_TYPES, TASKS
from pressft.errors import UserError

SOURCES = ("embedded", "file", "huggingface", "pressclub")
FEEDS = ("listing", "rss")
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
ATTENTION = ("sdpa", "eager", "flash_attention_2")
BACKENDS = ("transformers", "vllm")
EMBEDDED = "embedded"
# A hub id is "owner/name"; anything with more path structure is a local directory.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_BASES = "smollm2-135m-instruct (a real instruct LLM from a registry wheel), embedded (the tiny from-scratch model)"


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """params.yaml as plain dicts and lists, checked."""
    try:
        params = YAML(typ="safe").load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"params file {path} not found; run from the repository root") from None
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UserError(f"params file {path} is not valid YAML{where}: {getattr(error, 'problem', error)}") from None
    check_params(params)
    return params


def is_local_model(spec: str) -> bool:
    """True for a local model directory, False for a hub id, a packaged model's name or the embedded model."""
    from pressft.model.packaged import PACKAGED

    return spec != EMBEDDED and spec not in PACKAGED and (Path(spec).exists() or not _HUB_ID.match(spec))


def _get(params: dict, dotted: str) -> Any:
    node: Any = params
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            raise UserError(f"param {dotted} is missing from params.yaml")
        node = node[key]
    return node


def _int(params: dict, dotted: str, minimum: int = 1) -> int:
    value = _get(params, dotted)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"param {dotted} must be an integer >= {minimum}, got {value!r}")
    return value


def _number(params: dict, dotted: str, minimum: float = 0.0) -> float:
    value = _get(params, dotted)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise UserError(f"param {dotted} must be a number >= {minimum}, got {value!r}")
    return float(value)


def _choice(params: dict, dotted: str, allowed: tuple[str, ...]) -> str:
    value = _get(params, dotted)
    if value not in allowed:
        raise UserError(f"param {dotted} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _flag(params: dict, dotted: str) -> bool:
    value = _get(params, dotted)
    if not isinstance(value, bool):
        raise UserError(f"param {dotted} must be true or false, got {value!r}")
    return value


def _text(params: dict, dotted: str) -> str:
    value = _get(params, dotted)
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"param {dotted} must be a non-empty string, got {value!r}")
    return value


def check_train_size(size: int, pool: int) -> None:
    if size > pool:
        raise UserError(f"param train.size={size} exceeds the training pool of {pool} articles; use 1..{pool}")


def check_params(params: dict[str, Any]) -> None:
    """Everything that can be checked without reading data or models."""
    if not isinstance(params, dict):
        raise UserError("params.yaml must be a mapping of parameter groups")
    source = _choice(params, "data.source", SOURCES)
    if source == "file":
        path = _get(params, "data.path")
        if not path or not Path(path).is_file():
            raise UserError(
                f"param data.path must name an existing .jsonl or .json file when data.source is file; got {path!r}"
            )
    elif source == "embedded":
        _int(params, "data.n_articles")
        _int(params, "data.seed", 0)
    elif source == "huggingface":
        for key in ("dataset", "revision", "split"):
            _text(params, f"data.huggingface.{key}")
        files = _get(params, "data.huggingface.data_files")
        if not files or not all(isinstance(item, str) and item for item in ([files] if isinstance(files, str) else files)):
            raise UserError(f"param data.huggingface.data_files must be a glob or a list of globs; got {files!r}")
    else:
        _choice(params, "data.pressclub.feed", FEEDS)
        for key in ("listing_url", "rss_url"):
            url = _text(params, f"data.pressclub.{key}")
            if not url.startswith(("http://", "https://")):
                raise UserError(f"param data.pressclub.{key} must be an http(s) URL; got {url!r}")
        for key in ("max_articles", "max_pages"):
            _int(params, f"data.pressclub.{key}")
        _int(params, "data.pressclub.retries", 0)
        for key in ("delay_seconds", "timeout_seconds", "backoff_seconds"):
            _number(params, f"data.pressclub.{key}")
        if params["data"]["pressclub"]["timeout_seconds"] <= 0:
            raise UserError("param data.pressclub.timeout_seconds must be above 0")
    _int(params, "data.min_content_words", 0)
    _int(params, "data.max_chars", 100)

    test, val = _int(params, "split.test"), _int(params, "split.val")
    _int(params, "split.seed", 0)
    excluded = _get(params, "split.exclude_types") or []
    if not isinstance(excluded, list) or len(excluded) >= len(ARTICLE_TYPES) or set(excluded) - set(ARTICLE_TYPES):
        raise UserError(
            f"param split.exclude_types must list some (not all) of {', '.join(ARTICLE_TYPES)}; got {excluded!r}"
        )
    if source == "embedded" and test + val >= params["data"]["n_articles"]:
        raise UserError(
            f"params split.test + split.val ({test + val}) must be below data.n_articles ({params['data']['n_articles']})"
        )

    names = _get(params, "tasks.names")
    unknown = [name for name in names or [] if name not in TASKS]
    if not names or unknown:
        raise UserError(f"param tasks.names must list tasks from {', '.join(TASKS)}; unknown: {unknown or 'empty list'}")
    for name in names:
        _get(params, f"tasks.prompts.{name}.system")
        _get(params, f"tasks.prompts.{name}.instruction")
        _int(params, f"infer.max_new_tokens.{name}")

    base = _get(params, "model.base")
    if not isinstance(base, str) or not base:
        raise UserError(f"param model.base must be {_BASES}, a hub id (owner/name) or a model directory; got {base!r}")
    if is_local_model(base) and not Path(base).is_dir():
        raise UserError(f"param model.base: model directory {base} does not exist (use {_BASES} or a hub id owner/name)")
    if _get(params, "model.load_in_4bit"):
        import torch

        if not torch.cuda.is_available():
            raise UserError("param model.load_in_4bit=true needs a CUDA GPU (bitsandbytes); set it to false on CPU")
    _int(params, "model.max_length", 64)

    if base == EMBEDDED:
        for key in ("vocab_size", "hidden_size", "layers", "heads", "kv_heads", "intermediate_size",
                    "pretrain_steps", "pretrain_batch", "pretrain_block"):
            _int(params, f"model.embedded.{key}")
        _number(params, "model.embedded.pretrain_lr")
        if params["model"]["embedded"]["hidden_size"] % params["model"]["embedded"]["heads"]:
            raise UserError("param model.embedded.hidden_size must be divisible by model.embedded.heads")

    launcher = _text(params, "train.launcher")
    if launcher.split()[0] not in ("python", "python3", "accelerate", "torchrun"):
        raise UserError(f"param train.launcher must start with python, accelerate or torchrun; got {launcher!r}")
    size = _int(params, "train.size")
    if source == "embedded":  # the pool size is known before any work; for files, after the split
        check_train_size(size, params["data"]["n_articles"] - test - val)
    for key in ("epochs", "batch_size", "grad_accum", "eval_steps", "early_stopping_patience", "type_oversample_cap"):
        _int(params, f"train.{key}")
    _int(params, "train.warmup_steps", 0)
    _int(params, "train.seed", 0)
    _number(params, "train.lr")
    _number(params, "train.weight_decay")
    _choice(params, "train.scheduler", SCHEDULERS)
    if _choice(params, "train.precision", PRECISIONS) == "fp16":
        import torch

        if not torch.cuda.is_available():
            raise UserError("param train.precision=fp16 needs a CUDA GPU; use fp32 or bf16 (autocast) on CPU")
    for key in ("keep_best", "activation_checkpointing", "packing"):
        _flag(params, f"train.{key}")
    attention = _choice(params, "model.attn_implementation", ATTENTION)
    if params["train"]["packing"] and attention != "flash_attention_2":
        # Measured: with sdpa, a packed row's second example attends to the first (its logits change).
        raise UserError(
            "param train.packing=true needs model.attn_implementation=flash_attention_2; with "
            f"{attention} the examples packed into one row would attend to each other"
        )
    if attention == "flash_attention_2":
        import torch

        if not torch.cuda.is_available():
            raise UserError("param model.attn_implementation=flash_attention_2 needs a CUDA GPU; use sdpa on CPU")
    _int(params, "train.lora.r")
    _number(params, "train.lora.alpha")
    _number(params, "train.lora.dropout")
    if not _get(params, "train.lora.target_modules"):
        raise UserError("param train.lora.target_modules must list at least one module name")

    _int(params, "infer.batch_size")
    dtype = _choice(params, "infer.dtype", PRECISIONS)
    if dtype in ("fp16", "bf16"):
        import torch

        if dtype == "fp16" and not torch.cuda.is_available():
            raise UserError("param infer.dtype=fp16 needs a CUDA GPU; use fp32, bf16 or auto on CPU")
        if dtype == "bf16" and torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
            raise UserError("param infer.dtype=bf16 needs a GPU with bf16 (Ampere or newer); use fp16 or auto")
    if _choice(params, "infer.backend", BACKENDS) == "vllm":
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            raise UserError("param infer.backend=vllm needs the vllm package (pip install vllm, CUDA); or use transformers")
    _get(params, "score.bertscore_model")
    _int(params, "score.bertscore_layers")
    for name, least in (("study.sizes", 1), ("study.seeds", 0)):
        values = _get(params, name)
        if not isinstance(values, list) or not values or len(set(map(repr, values))) != len(values) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= least for n in values):
            kind = "positive integers" if least else "integers of 0 or more"
            raise UserError(f"param {name} must be a list of distinct {kind}, got {values!r}")
    _int(params, "score.bootstrap_resamples", 100)
    _int(params, "score.seed", 0)
