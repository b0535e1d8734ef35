"""The Python SDK over httpx: what the CLI, the spoke agent and the tests use to talk to the hub."""
