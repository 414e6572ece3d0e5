"""Conversations over the API: appending a turn to a stored conversation, listing and reading them, following a
reply from a character offset."""
