"""The AI summary: facts by rules (facts, template, validate), prose by a local GGUF model (engine). See docs/llm.md."""
