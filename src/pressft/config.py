"""The pipeline's parameters as frozen dataclasses: each field's meaning, type and checks in one place.

Values live in conf/ (Hydra config groups); DVC composes them into params.yaml on every `dvc exp run`
(docs/configuration.md). The first stage, check_params, checks every group before DVC runs any other (and so
before it removes their outputs); each stage reads params.yaml again with `load_config(*groups)`, naming the
groups its dvc.yaml `params:` lists, and checks only those, so a stage run on its own is not stopped by a bad
value it does not read. Bad values fail with one line naming the param and the fix.
"""

import dataclasses
import difflib
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from pressft.tasks import ARTICLE_TYPES, REGISTRY
from pressft.errors import UserError

SOURCES = ("embedded", "file", "huggingface", "pressclub")
FEEDS = ("listing", "rss")
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
ATTENTION = ("sdpa", "eager", "flash_attention_2")
BACKENDS = ("transformers", "vllm")
LABEL_METHODS = ("likelihood", "generate")
LAUNCHERS = ("python", "python3", "accelerate", "torchrun")
EMBEDDED = "embedded"
# The names model.base accepts for the models that ship in registry wheels; their pins are model/packaged.py's
# PACKAGED. Only the names live here, so reading params does not depend on the pins (nor rerun every stage with them).
PACKAGED_MODELS = ("smollm2-135m-instruct",)
# A hub id is "owner/name"; anything with more path structure is a local directory.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_BASES = "smollm2-135m-instruct (a real instruct LLM from a registry wheel), embedded (the tiny from-scratch model)"


def _param(doc: str, *, minimum: float | None = None, choices: tuple[str, ...] = (), must: str = "") -> Any:
    """A field's doc and the generic checks of its value: the smallest number allowed, or the allowed words;
    `must` replaces the type's own wording in the error ("must <must>; got ...").

    Integers default to >= 1 and numbers to >= 0, the common case; seeds and counts that may be 0 say so.
    """
    return field(metadata={"doc": doc, "minimum": minimum, "choices": choices, "must": must})


def _fail(dotted: str, must: str, value: Any, sep: str = ",") -> UserError:
    return UserError(f"param {dotted} must {must}{sep} got {value!r}")


def _needs_cuda(setting: str, fix: str) -> None:
    import torch

    if not torch.cuda.is_available():
        raise UserError(f"param {setting} needs a CUDA GPU; {fix}")


def is_local_model(spec: str) -> bool:
    """True for a local model directory, False for a hub id, a packaged model's name or the embedded model."""
    return spec != EMBEDDED and spec not in PACKAGED_MODELS and (Path(spec).exists() or not _HUB_ID.match(spec))


def check_train_size(size: int | None, pool: int) -> int:
    """The number of training articles: `size`, or the whole pool when it is None."""
    if size is None:
        return pool
    if size > pool:
        raise UserError(f"param train.size={size} exceeds the training pool of {pool} articles; use 1..{pool}, "
                        "or null for all of them")
    return size


# ------------------------------------------------------------------ data


@dataclass(frozen=True)
class HuggingfaceConfig:
    dataset: str = _param("a hub dataset id, or a local directory of data files")
    revision: str = _param("branch, tag or commit; pin a commit sha for a reproducible corpus")
    data_files: str | tuple[str, ...] = _param(
        "a glob or a list of globs: that repo mixes JSONL articles with JSON scrape summaries of another shape")
    split: str = _param("the dataset split to read")

    def check(self) -> None:
        files = [self.data_files] if isinstance(self.data_files, str) else self.data_files
        if not files or not all(isinstance(item, str) and item for item in files):
            raise _fail("data.huggingface.data_files", "be a glob or a list of globs", self.data_files, ";")


@dataclass(frozen=True)
class PressclubConfig:
    feed: str = _param("listing: HTML pages ?page=N, with type and tags; rss: type and tags from detail pages",
                       choices=FEEDS)
    listing_url: str = _param("the listing's first page")
    rss_url: str = _param("the RSS feed")
    max_articles: int = _param("newest first; fetched articles are kept in data/cache/pressclub, never fetched twice")
    max_pages: int = _param("listing pages read at most")
    delay_seconds: float = _param("between any two requests")
    timeout_seconds: float = _param("per request")
    retries: int = _param("on 429 and 5xx (Retry-After honoured) and on timeouts, with exponential backoff", minimum=0)
    backoff_seconds: float = _param("the first retry's wait; it doubles")

    def check(self) -> None:
        for key in ("listing_url", "rss_url"):
            url = getattr(self, key)
            if not url.startswith(("http://", "https://")):
                raise UserError(f"param data.pressclub.{key} must be an http(s) URL; got {url!r}")
        if self.timeout_seconds <= 0:
            raise UserError("param data.pressclub.timeout_seconds must be above 0")


@dataclass(frozen=True)
class DataConfig:
    source: str = _param("where the articles come from (docs/data-sources.md)", choices=SOURCES)
    n_articles: int = _param("embedded: corpus size (train pool + val + test)")
    seed: int = _param("embedded: the corpus generator's seed", minimum=0)
    path: str | None = _param("file: .jsonl (one article per line) or .json (a list, or {\"articles\": [...]}); "
                              "keep it under data/input/ so that `dvc status` notices when it changes")
    huggingface: HuggingfaceConfig = _param("huggingface: the dataset to read")
    pressclub: PressclubConfig = _param("pressclub: the press site's feed, politely")
    min_content_words: int = _param("shorter content is a teaser or a broken page (every source)", minimum=0)
    max_chars: int = _param("longer content is a broken export (every source)", minimum=100)

    def check(self) -> None:
        if self.source == "file" and not (self.path and Path(self.path).is_file()):
            raise UserError(
                f"param data.path must name an existing .jsonl or .json file when data.source is file; got {self.path!r}"
            )


# ------------------------------------------------------------------ split and tasks


_SOME_TYPES = f"list some (not all) of {', '.join(ARTICLE_TYPES)}"


@dataclass(frozen=True)
class SplitConfig:
    """Per article, stratified by type. Test and val are fixed by seed and never depend on train.size."""

    test: int = _param("articles in the fixed test set")
    val: int = _param("articles in the fixed validation set (each evaluation during training reads all)")
    seed: int = _param("the split's seed", minimum=0)
    exclude_types: tuple[str, ...] = _param("article types left out before splitting, e.g. [Fact & Figures]",
                                            must=_SOME_TYPES)

    def check(self) -> None:
        excluded = self.exclude_types
        if len(excluded) >= len(ARTICLE_TYPES) or set(excluded) - set(ARTICLE_TYPES):
            raise _fail("split.exclude_types", _SOME_TYPES, list(excluded), ";")


@dataclass(frozen=True)
class PromptConfig:
    system: str = _param("the system message")
    instruction: str = _param("the user turn's instruction, before the article")


@dataclass(frozen=True)
class TasksConfig:
    names: tuple[str, ...] = _param("the tasks built from each article")
    prompts: dict[str, PromptConfig] = _param("per task: its system message and instruction")
    neighbours: dict[str, int] = _param("per set or label task: the answers of its k most similar training "
                                        "articles offered in the prompt as candidates (data/neighbours.py); a task "
                                        "not listed gets the reference study's plain prompt")

    def check(self) -> None:
        unknown = [name for name in self.names if name not in REGISTRY]
        if not self.names or unknown:
            raise UserError(
                f"param tasks.names must list tasks from {', '.join(REGISTRY)}; unknown: {unknown or 'empty list'}"
            )
        for name in self.names:
            if name not in self.prompts:
                raise UserError(f"param tasks.prompts.{name} is missing from params.yaml")
        for name in self.neighbours:
            offered = [task for task in REGISTRY if REGISTRY[task].kind in ("set", "label")]
            if name not in offered:
                raise UserError(f"param tasks.neighbours.{name}: candidates are offered to the set and label tasks "
                                f"only ({', '.join(offered)}); remove {name}")


# ------------------------------------------------------------------ model


@dataclass(frozen=True)
class EmbeddedConfig:
    """The tiny Llama pretrained from scratch on the training pool; only read when model.base is embedded."""

    vocab_size: int = _param("byte-level BPE vocabulary trained on the pool")
    hidden_size: int = _param("model width; a multiple of heads")
    layers: int = _param("decoder layers")
    heads: int = _param("attention heads")
    kv_heads: int = _param("key/value heads (grouped-query attention)")
    intermediate_size: int = _param("MLP width")
    pretrain_steps: int = _param("causal-LM steps on the pool before LoRA")
    pretrain_batch: int = _param("blocks per pretraining step")
    pretrain_block: int = _param("tokens per pretraining block")
    pretrain_lr: float = _param("pretraining learning rate")
    seed: int = _param("initialisation and pretraining seed", minimum=0)


@dataclass(frozen=True)
class ModelConfig:
    base: str = _param(f"{_BASES}, a hub id (owner/name) or a local model directory",
                       must=f"be {_BASES}, a hub id (owner/name) or a model directory")
    date_string: str = _param("fixed date for templates that write one (Llama 3.x); today's would change prompts")
    max_length: int = _param("prompt + answer tokens; inputs are shortened in tokens to fit, answers never",
                             minimum=64)
    load_in_4bit: bool = _param("QLoRA loading (bitsandbytes, CUDA only)")
    attn_implementation: str = _param("attention in training; flash_attention_2 needs CUDA",
                                      choices=ATTENTION)
    embedded: EmbeddedConfig = _param("the from-scratch model's shape and pretraining")

    def check(self) -> None:
        if is_local_model(self.base) and not Path(self.base).is_dir():
            raise UserError(
                f"param model.base: model directory {self.base} does not exist (use {_BASES} or a hub id owner/name)"
            )
        if self.load_in_4bit:
            _needs_cuda("model.load_in_4bit=true", "set it to false on CPU")
        if self.base == EMBEDDED and self.embedded.hidden_size % self.embedded.heads:
            raise UserError("param model.embedded.hidden_size must be divisible by model.embedded.heads")
        if self.attn_implementation == "flash_attention_2":
            _needs_cuda("model.attn_implementation=flash_attention_2", "use sdpa on CPU")


# ------------------------------------------------------------------ train


@dataclass(frozen=True)
class LoraConfig:
    r: int = _param("adapter rank")
    alpha: float = _param("scale alpha/r of the adapter's output")
    dropout: float = _param("dropout on the adapter's input")
    target_modules: tuple[str, ...] = _param("the linear layers that get an adapter")

    def check(self) -> None:
        if not self.target_modules:
            raise UserError("param train.lora.target_modules must list at least one module name")


@dataclass(frozen=True)
class TrainConfig:
    launcher: str = _param("python, or e.g. `accelerate launch --multi_gpu --num_processes 4` (data parallel)")
    size: int | None = _param("training articles: the first N of the seeded train pool, so sizes are nested; "
                              "null: the whole pool")
    epochs: int = _param("passes over the training examples")
    batch_size: int = _param("examples per step and process")
    eval_batch_size: int = _param("examples per evaluation batch and process; no gradients, so it can be larger")
    grad_accum: int = _param("steps accumulated per optimizer step")
    lr: float = _param("peak learning rate")
    scheduler: str = _param("learning-rate schedule after warmup", choices=SCHEDULERS)
    warmup_steps: int = _param("optimizer steps of linear warmup", minimum=0)
    weight_decay: float = _param("AdamW weight decay")
    eval_steps: int = _param("evaluate (and checkpoint) every this many steps, and always at the last step")
    early_stopping_patience: int = _param("evaluations without a lower eval loss before stopping")
    keep_best: bool = _param("end with the lowest eval loss's checkpoint (false: the last one, no early stopping; "
                             "metrics/train.json's best_* then describe that last one)")
    type_oversample_cap: int = _param("minority article types repeated up to this factor in the type task (1 = off)")
    grounded_answers: bool = _param("leave out training examples of the free-text tasks whose answer holds a number "
                                    "that their input, cut to model.max_length, lacks (the model would learn to "
                                    "invent numbers)")
    precision: str = _param("fp32; bf16 or fp16 autocast; auto: bf16 where native, else fp16 on GPU, fp32 on CPU",
                            choices=PRECISIONS)
    activation_checkpointing: bool = _param("recompute activations in backward: less GPU memory, slower")
    packing: bool = _param("trl best-fit packing, padding-free: each example keeps its own positions and attention")
    lora: LoraConfig = _param("the adapter")
    seed: int = _param("the adapter's initialisation, data order and dropout", minimum=0)

    def check(self) -> None:
        if self.launcher.split()[0] not in LAUNCHERS:
            raise UserError(f"param train.launcher must start with python, accelerate or torchrun; got {self.launcher!r}")
        if self.precision == "fp16":
            _needs_cuda("train.precision=fp16", "use fp32 or bf16 (autocast) on CPU")


# ------------------------------------------------------------------ infer, score, study


@dataclass(frozen=True)
class InferConfig:
    backend: str = _param("transformers, or vllm (GPU, `pip install vllm`; same records, greedy)", choices=BACKENDS)
    batch_size: int = _param("prompts per batch; a batch decodes until its longest answer ends")
    dtype: str = _param("weights' dtype; auto: bf16 where native, else fp16 on GPU, fp32 on CPU", choices=PRECISIONS)
    label_method: str = _param("a label task's answer: likelihood (the most likely label after the prompt) or "
                               "generate (the generated text, parsed)", choices=LABEL_METHODS)
    max_new_tokens: dict[str, int] = _param("per task; generation also stops at the end-of-turn token")

    def check(self) -> None:
        if self.dtype == "fp16":
            _needs_cuda("infer.dtype=fp16", "use fp32, bf16 or auto on CPU")
        if self.dtype == "bf16":
            import torch

            if torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
                raise UserError("param infer.dtype=bf16 needs a GPU with bf16 (Ampere or newer); use fp16 or auto")
        if self.backend == "vllm":
            import importlib.util

            if importlib.util.find_spec("vllm") is None:
                raise UserError(
                    "param infer.backend=vllm needs the vllm package (pip install vllm, CUDA); or use transformers"
                )


@dataclass(frozen=True)
class ScoreConfig:
    bertscore_model: str = _param("the MiniLM shipped by that PyPI package (offline), or a hub id or path")
    bertscore_layers: int = _param("the layer whose embeddings BERTScore compares")
    bootstrap_resamples: int = _param("percentile intervals over test articles, and paired differences",
                                      minimum=100)
    confidence: float = _param("the intervals' level (every interval and verdict of score, the report and the study)",
                               must="be a number between 0 and 1, e.g. 0.95")
    seed: int = _param("the bootstrap's seed", minimum=0)

    def check(self) -> None:
        if not 0 < self.confidence < 1:
            raise _fail("score.confidence", "be a number between 0 and 1, e.g. 0.95", self.confidence, ";")


@dataclass(frozen=True)
class StudyConfig:
    """`python scripts/size_study.py`: one experiment per size and seed; nothing in the pipeline reads it."""

    sizes: tuple[int, ...] = _param("training sizes; the CPU default's, or the reference's 500 ... 2000")
    seeds: tuple[int, ...] = _param("train.seed per size: the spread they give is the training run's own variance",
                                    minimum=0)

    def check(self) -> None:
        for name, values in (("sizes", self.sizes), ("seeds", self.seeds)):
            if not values or len(set(values)) != len(values):
                raise _fail(f"study.{name}", "be a non-empty list of distinct integers", list(values))


@dataclass(frozen=True)
class Config:
    """The groups of params.yaml that were loaded (the others are None)."""

    data: DataConfig | None = None
    split: SplitConfig | None = None
    tasks: TasksConfig | None = None
    model: ModelConfig | None = None
    train: TrainConfig | None = None
    infer: InferConfig | None = None
    score: ScoreConfig | None = None
    study: StudyConfig | None = None


GROUPS = tuple(f.name for f in dataclasses.fields(Config))


# ------------------------------------------------------------------ reading


def _unknown(dotted: str, key: str, valid: list[str]) -> UserError:
    prefix = f"{dotted}." if dotted else ""
    # A valid name with a word added or left out (lr_rate, max_article) is the likelier meaning than a similar spelling.
    close = [name for name in valid if str(key).startswith(f"{name}_") or name.startswith(f"{key}_")]
    close = close or difflib.get_close_matches(str(key), valid, n=1)
    hint = f"did you mean {prefix}{close[0]}?" if close else f"{dotted or 'params.yaml'} has {', '.join(valid)}"
    return UserError(f"param {prefix}{key} is not a parameter; {hint}")


def _value(kind: Any, value: Any, dotted: str, meta: dict[str, Any]) -> Any:
    """`value` checked against the field's type (and its generic checks), as the dataclass holds it."""
    if meta.get("must"):
        try:
            return _value(kind, value, dotted, {**meta, "must": ""})
        except UserError:
            raise _fail(dotted, meta["must"], value, ";") from None
    if dataclasses.is_dataclass(kind):
        return _build(kind, value, dotted)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        if str in args and isinstance(value, str):
            return value
        if tuple in {typing.get_origin(arg) for arg in args} and isinstance(value, list):
            return tuple(value)  # the elements: the class's check()
        if int in args and isinstance(value, int):
            return _value(int, value, dotted, meta)
        raise _fail(dotted, "be " + " or ".join(_describe(arg) for arg in args), value)
    if origin is tuple:
        if not isinstance(value, list):
            raise _fail(dotted, f"be a list of {_describe(args[0])}s", value)
        return tuple(_value(args[0], item, f"{dotted}[{index}]", meta) for index, item in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(dotted, "be a mapping", value)
        return {key: _value(args[1], item, f"{dotted}.{key}", meta) for key, item in value.items()}
    if meta.get("choices"):
        if value not in meta["choices"]:
            raise _fail(dotted, f"be one of {', '.join(meta['choices'])}", value, ";")
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise _fail(dotted, "be true or false", value)
        return value
    if kind in (int, float):
        least = meta.get("minimum")
        least = (1 if kind is int else 0.0) if least is None else least
        allowed = (int,) if kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, allowed) or value < least:
            raise _fail(dotted, f"be {'an integer' if kind is int else 'a number'} >= {least}", value)
        return value  # as written: an int alpha stays an int in the adapter's config and pressft_adapter.json
    if kind is str:
        if not isinstance(value, str) or not value.strip():
            raise _fail(dotted, "be a non-empty string", value)
        return value
    raise TypeError(f"no check for {kind} ({dotted})")


def _describe(kind: Any) -> str:
    if typing.get_origin(kind) is tuple:
        return f"a list of {_describe(typing.get_args(kind)[0])}s"
    return {str: "string", int: "integer", type(None): "null"}.get(kind, getattr(kind, "__name__", str(kind)))


def _build(cls: type, node: Any, dotted: str) -> Any:
    """An instance of dataclass `cls` from the mapping at `dotted`: no key unknown, none missing, each checked."""
    if not isinstance(node, dict):
        raise _fail(dotted, "be a mapping of parameters", node)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in node:
        if key not in fields:
            raise _unknown(dotted, key, list(fields))
    hints = typing.get_type_hints(cls)
    values = {}
    for name, spec in fields.items():
        if name not in node:
            raise UserError(f"param {dotted}.{name} is missing from params.yaml")
        values[name] = _value(hints[name], node[name], f"{dotted}.{name}", dict(spec.metadata))
    built = cls(**values)
    if hasattr(built, "check"):
        built.check()
    return built


def parse_config(params: Any, *groups: str) -> Config:
    """The named groups of a params mapping (all when none are named), checked, with the checks across them."""
    if not isinstance(params, dict):
        raise UserError("params.yaml must be a mapping of parameter groups")
    for key in params:
        if key not in GROUPS:
            raise _unknown("", key, list(GROUPS))
    for group in groups:
        if group not in GROUPS:
            raise _unknown("", group, list(GROUPS))
    wanted = groups or GROUPS
    hints = typing.get_type_hints(Config)
    loaded = {}
    for group in wanted:
        if group not in params:
            raise UserError(f"param group {group} is missing from params.yaml")
        kind = next(arg for arg in typing.get_args(hints[group]) if arg is not type(None))
        # Before the groups' own checks: a split that leaves no articles reads better than what follows from it.
        loaded[group] = _build(kind, params[group], group)
    config = Config(**loaded)
    _check_across(config)
    return config


def _check_across(config: Config) -> None:
    """Checks that need two groups; each runs when the groups it reads are loaded."""
    data, split, tasks, model, train, infer = (config.data, config.split, config.tasks, config.model, config.train,
                                               config.infer)
    if data and split and data.source == EMBEDDED:  # the corpus size is known before any work; for files, later
        if split.test + split.val >= data.n_articles:
            raise UserError(
                f"params split.test + split.val ({split.test + split.val}) must be below data.n_articles "
                f"({data.n_articles})"
            )
        if train:
            check_train_size(train.size, data.n_articles - split.test - split.val)
    if tasks and infer:
        for name in tasks.names:
            if name not in infer.max_new_tokens:
                raise UserError(f"param infer.max_new_tokens.{name} is missing from params.yaml (task {name})")


def read_params(path: str | Path = "params.yaml") -> Any:
    """params.yaml as plain dicts and lists, unchecked."""
    try:
        return YAML(typ="safe").load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"params file {path} not found; run from the repository root") from None
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UserError(f"params file {path} is not valid YAML{where}: {getattr(error, 'problem', error)}") from None


def load_config(*groups: str, path: str | Path = "params.yaml") -> Config:
    """The named groups of params.yaml (all when none are named), checked."""
    return parse_config(read_params(path), *groups)


def as_dict(config: Any) -> Any:
    """A config (or group) as the plain mapping params.yaml holds, in its order, lists as lists."""
    if dataclasses.is_dataclass(config):
        return {f.name: as_dict(getattr(config, f.name)) for f in dataclasses.fields(config)
                if getattr(config, f.name) is not None or not isinstance(config, Config)}
    if isinstance(config, tuple):
        return [as_dict(item) for item in config]
    if isinstance(config, dict):
        return {key: as_dict(value) for key, value in config.items()}
    return config


def compose(overrides: list[str] = (), conf_dir: str | Path = "conf") -> str:
    """params.yaml's text as `dvc exp run -S ...` writes it: conf/ composed by Hydra with the overrides."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    from hydra.errors import HydraException

    with initialize_config_dir(str(Path(conf_dir).resolve()), version_base=None):
        try:
            composed = hydra_compose(config_name="config", overrides=list(overrides))
        except HydraException as error:  # what `dvc exp run -S` refuses too
            raise UserError(f"override {' '.join(overrides)}: {_one_line(str(error))}") from None
    OmegaConf.resolve(composed)
    return OmegaConf.to_yaml(composed)


def _one_line(hydra_message: str) -> str:
    """Hydra's refusal in one line: its first line says why, and the fix it offers sits on the lines after (the
    `+key=value` that adds a key the composed config lacks, or a group's options); its search path is left out."""
    reason, *rest = [line.strip() for line in hydra_message.splitlines() if line.strip()]
    following = rest[0] if rest else ""
    if following.startswith("To append"):
        return f"{reason} {following}"
    if following.startswith("Available options"):
        end = rest.index("Config search path:") if "Config search path:" in rest else len(rest)
        return f"{reason}; available: {', '.join(rest[1:end])}"
    return reason
