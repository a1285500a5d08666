# Local test hosts (Debian 13 containers running systemd) that `make sandbox` starts.
from tsdb_deploy import sandbox

native = [host.pyinfra_name for host in sandbox.SANDBOX_HOSTS]
sandbox.prepare_secrets()
