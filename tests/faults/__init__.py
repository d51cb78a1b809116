"""Fault injection: tests that try to break what Control Room promises (docs/guarantees.md)."""
