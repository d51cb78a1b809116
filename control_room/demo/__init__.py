"""`control-room demo`: a fresh world with sample tasks and scripted local agents (no API key,
no network): a P0 that spawns at once, an architecture task that waits for approval, a
dependency chain, and a task whose check fails once and passes on the retry."""
