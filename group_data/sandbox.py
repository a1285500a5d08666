# The local sandbox and the integration tests: Debian 13 test hosts on this machine. Their
# package sources come with each host's data: the lab mirror (package_source upstream, the
# default) or Debian's own packages (package_source distro, the Apache-only TimescaleDB).
docker_source = "distro"
# Test hosts are containers whose /proc/sys is read-only: Docker's bridge networking needs
# this documented switch there (a real host does not).
docker_daemon_environment = {"DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE": "1"}
app_password_file = ".sandbox/secrets/app_password"
# TLS: each test host's certificate from the lab's CA (lab/tls.py issues it when the host
# starts; .sandbox/ is outside git).
tls_cert_file = ".sandbox/tls/{host}.crt"
tls_key_file = ".sandbox/tls/{host}.key"
