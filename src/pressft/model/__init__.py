"""The language model: loading, chat rendering, LoRA training, generation, and using the result."""
