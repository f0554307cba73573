"""The `mycelium` CLI and Prefect flows: thin wiring over the library packages; nothing imports this."""
