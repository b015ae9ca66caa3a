"""The `Responder` adapters: `rules` (offline, deterministic) and `openai` (any
OpenAI-compatible endpoint)."""
