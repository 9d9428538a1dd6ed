"""Event handlers that apply syncs to the local store, and the runners that feed them."""
