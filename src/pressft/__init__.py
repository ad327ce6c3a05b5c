"""LoRA fine-tuning of a small instruct LLM on BMW PressClub articles, as a DVC pipeline."""

TASKS = ("summarization", "title", "tags", "type")
ARTICLE_TYPES = ("Press Release", "Press Kit", "Speech", "Fact & Figures")
