"""The model transport: chat backends, server dialects, quota pacing, prices, prompts, schema groups, the LLM extractor."""
