"""Articles from their sources to the task examples: fetching, cleaning, the synthetic corpus, splits."""
