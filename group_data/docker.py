# Hosts in the `docker` group run TimescaleDB in a container under Docker Compose.
runtime = "docker"
