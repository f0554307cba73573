"""The `mycelium` CLI and Prefect flows: thin wiring over the library packages.

Nothing imports from this package."""
