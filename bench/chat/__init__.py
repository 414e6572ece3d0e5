"""Benchmarks of "Conversations that last": replies with the database on, long conversations, the drawer."""
