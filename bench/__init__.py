"""Benchmarks: each stage measured against a bare baseline on the same broker."""
