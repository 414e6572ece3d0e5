"""A conversation turn as plain asyncio: its state, the runner of the upstream task, and the views that follow it."""
