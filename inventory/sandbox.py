# Local test hosts (Debian 13 containers running systemd) that `make sandbox` starts: one per
# runtime, both on TimescaleDB's Community build as production runs it. The native host
# installs from the lab mirror `make sandbox` serves, the docker host runs the lab's Community
# image. group_data/sandbox.py holds what they share.
from lab import sandbox

native = [(sandbox.NATIVE.pyinfra_name, sandbox.native_host_data())]
docker = [(sandbox.DOCKER.pyinfra_name, sandbox.docker_host_data())]
sandbox.prepare_secrets()
