"""Shared fixtures live in tests/fixtures/, one module per real service."""

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.kafka",
    "tests.fixtures.google",
    "tests.fixtures.providers",
]
