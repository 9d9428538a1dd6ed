"""Stripe: its API as hookgate uses it (provider-apis.md §5)."""
