"""Test doubles shared by tests, end-to-end runs and benchmarks."""
