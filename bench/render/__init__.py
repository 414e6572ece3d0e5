"""Render benchmark: one long markdown reply streamed into the chat message, naive `ui.markdown` vs ours."""
