# molecule's test hosts. Named sandbox.py so they get group_data/sandbox.py, as the sandbox's
# do (the sandbox password file). The two TimescaleDB builds side by side: the native host
# runs Debian's own packages (the Apache-only build), the docker host the lab's Community image.
from lab import sandbox

native = [("@docker/tsdb-molecule-native", {"package_source": "distro"})]
docker = [("@docker/tsdb-molecule-docker", sandbox.docker_host_data())]
sandbox.prepare_secrets()
