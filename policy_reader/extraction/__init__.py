"""From document text to checked answers: the Extractor seam, chunk/ask/check/merge, grounding, the offline extractor, the answer cache, second opinion, Batch API."""
