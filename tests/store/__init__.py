"""Tests of the local store: migrations, handlers, the applier."""
