"""Imports and reconciliations: provider records pulled, published as `….synced` events."""
