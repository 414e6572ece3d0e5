"""The Vercel AI SDK's UI message stream: POST /api/ui-chat, what `useChat` talks to."""
