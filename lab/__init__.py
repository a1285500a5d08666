"""The local lab: what only the tests, `make sandbox` and the benchmark use, never a deploy.

Debian 13 test hosts (systemd in Docker), the TimescaleDB packages built from the vendored
source, the signed package mirror that serves them, the Community images of the docker runtime,
the sandbox and the benchmark.
"""
