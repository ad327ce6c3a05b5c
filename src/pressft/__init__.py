"""LoRA fine-tuning of a small instruct LLM on BMW PressClub articles, as a DVC pipeline."""
