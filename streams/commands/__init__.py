"""Subcommand groups of `ledger` that live in their own modules; streams/cli.py registers them."""
