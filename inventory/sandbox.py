# Local test hosts (Debian 13 containers running systemd) that `make sandbox` starts: one per
# runtime. group_data/sandbox.py holds what they share.
from lab import sandbox

native = [sandbox.NATIVE.pyinfra_name]
docker = [(sandbox.DOCKER.pyinfra_name, sandbox.docker_host_data())]
sandbox.prepare_secrets()
