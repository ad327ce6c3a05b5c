"""The merged model as one GGUF file that llama.cpp and Ollama chat with as transformers does: weights, vocabulary,
chat template, the end-of-turn token as the stop token and greedy sampling defaults, written with the `gguf` package
(its writer and quantizers run in numpy; nothing is compiled). An Ollama Modelfile goes beside it.

The layout follows llama.cpp's `convert_hf_to_gguf.py` for Llama: q/k rows permuted for its rotary embedding, norms
in f32, the output matrix left out when tied to the embeddings, `rope_freqs` for Llama-3 rope scaling, and
`tokenizer.ggml.*` keys from `gguf.SpecialVocab` on the saved tokenizer. A base that came from a GGUF file (the
packaged SmolLM2) keeps that file's vocabulary keys, pre-tokenizer name included, so llama.cpp splits text as before.
"""

import json
import tempfile
from pathlib import Path

import numpy as np

from pressft.errors import UserError
from pressft.model.chat import eot_id

# HF architecture -> llama.cpp architecture. Only Llama is written: its tensor layout and the read-back through
# transformers' GGUF loader are tested here; other architectures need their own converter rules.
SUPPORTED_ARCHITECTURES = {"LlamaForCausalLM": "llama"}
# The converter's --outtype choices that the gguf package can write.
OUTTYPES = ("f32", "f16", "bf16", "q8_0")
# Byte-level pre-tokenizers recognised from tokenizer.json, by the llama.cpp name of the same split
# (llama-vocab.cpp): plain ByteLevel splits with the GPT-2 regex; Llama 3 splits with its own regex first.
_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_TEMPLATE_PROBE = "pressft probe answer"


def _types(outtype: str):
    """(the file's type, its matrices' tensor type) of a --gguf choice."""
    import gguf

    file_type, tensor_type = gguf.LlamaFileType, gguf.GGMLQuantizationType
    return {"f32": (file_type.ALL_F32, tensor_type.F32), "f16": (file_type.MOSTLY_F16, tensor_type.F16),
            "bf16": (file_type.MOSTLY_BF16, tensor_type.BF16), "q8_0": (file_type.MOSTLY_Q8_0, tensor_type.Q8_0)}[outtype]


def _head_dim(config) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def check_supported(model, outtype: str) -> str:
    """The llama.cpp architecture name, or a one-line UserError naming what is supported."""
    if outtype not in OUTTYPES:
        raise UserError(f"--gguf {outtype} is not a GGUF type this export writes; use one of {', '.join(OUTTYPES)}")
    names = getattr(model.config, "architectures", None) or [type(model).__name__]
    if names[0] not in SUPPORTED_ARCHITECTURES:
        raise UserError(f"GGUF export supports {', '.join(SUPPORTED_ARCHITECTURES)} only, not {names[0]}; "
                        "export without --gguf and convert with llama.cpp's convert_hf_to_gguf.py")
    rope = getattr(model.config, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") not in ("default", "llama3"):
        raise UserError(f"GGUF export supports default and llama3 rope scaling, not {rope['rope_type']}; "
                        "convert with llama.cpp's convert_hf_to_gguf.py")
    return SUPPORTED_ARCHITECTURES[names[0]]


def _permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    # HF stores each head's rotary pairs as two halves, llama.cpp interleaves them (convert_hf_to_gguf.py).
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def _llama3_rope_factors(config) -> np.ndarray:
    """Per-frequency scale factors of Llama-3 rope scaling, as the converter computes its `rope_freqs` tensor."""
    rope = config.rope_parameters
    dim = _head_dim(config)
    freqs = 1.0 / (rope["rope_theta"] ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
    factor, low, high = rope.get("factor", 8.0), rope.get("low_freq_factor", 1.0), rope.get("high_freq_factor", 4.0)
    old_context = rope.get("original_max_position_embeddings", 8192)
    factors = []
    for freq in freqs:
        wavelen = 2 * np.pi / freq
        if wavelen < old_context / high:
            factors.append(1.0)
        elif wavelen > old_context / low:
            factors.append(factor)
        else:
            smooth = (old_context / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32)


def _write_tensors(writer, model, outtype: str) -> None:
    import gguf

    config = model.config
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    tied = config.tie_word_embeddings
    for hf_name, tensor in model.state_dict().items():
        if tied and hf_name == "lm_head.weight":
            continue  # llama.cpp reads the embedding matrix when `output.weight` is absent
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise UserError(f"GGUF export does not know the tensor {hf_name}; convert with convert_hf_to_gguf.py")
        data = tensor.detach().float().cpu().numpy()
        if hf_name.endswith(("q_proj.weight", "q_proj.bias")):
            data = _permute(data, config.num_attention_heads)
        elif hf_name.endswith(("k_proj.weight", "k_proj.bias")):
            data = _permute(data, config.num_key_value_heads)
        # As the converter: vectors and norms stay f32; a matrix whose rows do not fill Q8_0 blocks falls back to f16.
        qtype = gguf.GGMLQuantizationType.F32 if data.ndim <= 1 or name.endswith("_norm.weight") else _types(outtype)[1]
        try:
            packed = gguf.quants.quantize(data, qtype)
        except gguf.QuantError:
            qtype = gguf.GGMLQuantizationType.F16
            packed = gguf.quants.quantize(data, qtype)
        writer.add_tensor(name, packed, raw_dtype=qtype)
    if (config.rope_parameters or {}).get("rope_type") == "llama3":
        writer.add_tensor(gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight", _llama3_rope_factors(config))


def _write_hyperparameters(writer, config, name: str, outtype: str) -> None:
    head_dim = _head_dim(config)
    writer.add_name(name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(config.rope_parameters["rope_theta"]))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(_types(outtype)[0])


def _pre_tokenizer(tokenizer) -> str:
    """llama.cpp's name for the tokenizer's split rule; refused in one line when it is not a known byte-level one."""
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    pre = state.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    if [s.get("type") for s in steps] == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "gpt-2"
    if ([s.get("type") for s in steps] == ["Split", "ByteLevel"]
            and steps[0].get("pattern", {}).get("Regex") == _LLAMA3_SPLIT):
        return "llama-bpe"
    raise UserError("GGUF export knows byte-level BPE tokenizers with the GPT-2 or Llama-3 split only; "
                    "convert with llama.cpp's convert_hf_to_gguf.py")


def _write_vocabulary(writer, tokenizer, vocab_size: int) -> None:
    """Tokens, types, merges and special ids as convert_hf_to_gguf.py's `_set_vocab_gpt2` writes them."""
    import gguf

    if tokenizer.backend_tokenizer.model.__class__.__name__ != "BPE":
        raise UserError("GGUF export writes BPE vocabularies only; convert with llama.cpp's convert_hf_to_gguf.py")
    pre = _pre_tokenizer(tokenizer)
    vocab = tokenizer.get_vocab()
    by_id = {index: token for token, index in vocab.items()}
    added = tokenizer.added_tokens_decoder
    tokens, types = [], []
    for index in range(vocab_size):
        if index not in by_id:
            tokens.append(f"[PAD{index}]")
            types.append(gguf.TokenType.UNUSED)
        elif index in added:
            tokens.append(by_id[index])
            types.append(gguf.TokenType.CONTROL if added[index].special else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(by_id[index])
            types.append(gguf.TokenType.NORMAL)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    with tempfile.TemporaryDirectory() as saved:
        tokenizer.save_pretrained(saved)
        # The converter's merges reader (the format of tokenizer.json's merges changed in transformers 4.45).
        writer.add_token_merges(gguf.SpecialVocab(saved, load_merges=True, special_token_types=()).merges)
    writer.add_add_bos_token(_adds_bos(tokenizer))


def _adds_bos(tokenizer) -> bool:
    # What transformers does on plain text; the chat template writes its own BOS and is tokenized without extras.
    ids = tokenizer("x")["input_ids"]
    return tokenizer.bos_token_id is not None and bool(ids) and ids[0] == tokenizer.bos_token_id


_CARRIED_OVER = ("tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
                 "tokenizer.ggml.scores", "tokenizer.ggml.merges", "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_space_prefix")


def _copy_vocabulary(writer, source: Path, vocab_size: int) -> None:
    """The vocabulary keys of the GGUF file the base came from, verbatim (its pre-tokenizer name included)."""
    import gguf

    reader = gguf.GGUFReader(source)
    tokens = reader.fields["tokenizer.ggml.tokens"]
    if len(tokens.data) != vocab_size:
        raise UserError(f"{source.name} has {len(tokens.data)} tokens, the model {vocab_size}: the base is not that "
                        "file's model; export without its GGUF source")
    for key in _CARRIED_OVER:
        field = reader.fields.get(key)
        if field is None:
            continue
        main = field.types[0]
        if main == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(key, field.contents(), main, sub_type=field.types[-1])
        else:
            writer.add_key_value(key, field.contents(), main)


def write_gguf(model, tokenizer, path: str | Path, outtype: str, *, name: str, source_gguf: Path | None = None) -> Path:
    """One GGUF file at `path`: weights in `outtype`, the vocabulary (from `source_gguf` when the base came from one,
    else from the tokenizer), the chat template, the end of turn as eos and eot (so both
    llama.cpp and transformers' GGUF loader stop there), and greedy sampling defaults (general.sampling.*)."""
    import gguf

    arch = check_supported(model, outtype)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    end = eot_id(tokenizer)
    writer = gguf.GGUFWriter(path, arch)
    _write_hyperparameters(writer, model.config, name, outtype)
    if source_gguf is not None:
        _copy_vocabulary(writer, source_gguf, model.config.vocab_size)
    else:
        _write_vocabulary(writer, tokenizer, model.config.vocab_size)
    # Special ids from the merged model's tokenizer in both cases: training may have chosen another pad than the file.
    for kind in ("bos", "pad", "unk"):
        if (token_id := getattr(tokenizer, f"{kind}_token_id")) is not None:
            getattr(writer, f"add_{kind}_token_id")(token_id)
    writer.add_eos_token_id(end)
    writer.add_eot_token_id(end)
    writer.add_chat_template(tokenizer.chat_template)
    # Read by llama.cpp (common_params_sampling from model metadata) unless the user sets them: greedy, as evaluated.
    writer.add_sampling_temp(0.0)
    writer.add_sampling_top_k(1)
    _write_tensors(writer, model, outtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def ollama_template(tokenizer) -> str:
    """The chat template in Ollama's Go-template syntax, derived by rendering the Jinja template with markers.

    Ollama does not run Jinja: its TEMPLATE gets .System, .Prompt and .Response. The markers show where the chat
    template puts each, so whatever it writes around them (headers, a default system message, BOS) is kept.
    """
    system, user = "\x00SYSTEM\x00", "\x00PROMPT\x00"
    with_system = tokenizer.apply_chat_template(
        [{"role": "system", "content": system}, {"role": "user", "content": user}],
        add_generation_prompt=True, tokenize=False)
    without = tokenizer.apply_chat_template([{"role": "user", "content": user}], add_generation_prompt=True,
                                            tokenize=False)
    head, rest = with_system.split(system)
    middle, generation = rest.split(user)
    if without.endswith(middle + user + generation):
        default_head = without[: -len(middle + user + generation)]
    else:
        raise UserError("the chat template renders the user turn differently without a system message; "
                        "write the Ollama TEMPLATE by hand")
    escape = lambda text: text.replace("{{", '{{ "{{" }}')  # noqa: E731
    return (f"{{{{ if .System }}}}{escape(head)}{{{{ .System }}}}{{{{ else }}}}{escape(default_head)}{{{{ end }}}}"
            f"{escape(middle)}{{{{ .Prompt }}}}{escape(generation)}{{{{ .Response }}}}")


def modelfile(gguf_name: str, tokenizer) -> str:
    """An Ollama Modelfile for the GGUF beside it: the chat template, the end of turn as stop, greedy decoding."""
    stop = tokenizer.convert_ids_to_tokens(eot_id(tokenizer))
    template = ollama_template(tokenizer)
    return (f"FROM ./{gguf_name}\n"
            f'TEMPLATE """{template}"""\n'
            f'PARAMETER stop "{stop}"\n'
            "PARAMETER temperature 0\n"
            "PARAMETER top_k 1\n")
