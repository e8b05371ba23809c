"""Subcommand groups of `ledger` that live in their own modules; ledger/cli.py registers them."""
