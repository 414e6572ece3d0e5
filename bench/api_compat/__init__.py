"""Benchmark of the OpenAI-compatible and AI SDK routes side by side with POST /api/chat."""
