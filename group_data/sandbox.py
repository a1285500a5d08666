# The local sandbox and the integration tests: Debian 13 test hosts on this machine. Their
# package sources come with each host's data: the lab mirror (package_source upstream, the
# default) or Debian's own packages (package_source distro, the Apache-only TimescaleDB).
# Docker itself (docker_source, the daemon's environment) comes with each docker host's data
# (lab/images.docker_host_data): those settings apply to docker hosts only.
app_password_file = ".sandbox/secrets/app_password"
monitor_password_file = ".sandbox/secrets/monitor_password"
# TLS: each test host's certificate from the lab's CA (lab/tls.py issues it when the host
# starts; .sandbox/ is outside git).
tls_cert_file = ".sandbox/tls/{host}.crt"
tls_key_file = ".sandbox/tls/{host}.key"
# Test hosts hold generated data; a test that plays production says so in the host's data.
environment = "development"
