# molecule's test hosts. Named sandbox.py so they get group_data/sandbox.py, as the sandbox's
# do (Debian's packages, the sandbox password file).
from lab import sandbox

native = ["@docker/tsdb-molecule-native"]
docker = [("@docker/tsdb-molecule-docker", sandbox.docker_host_data())]
sandbox.prepare_secrets()
