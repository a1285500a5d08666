"""The local lab: what only the tests, `make sandbox` and the benchmark use, never a deploy."""
