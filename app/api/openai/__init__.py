"""OpenAI's own API, served by this app: POST /v1/chat/completions and GET /v1/models."""
