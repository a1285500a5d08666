# The local sandbox: Debian 13 test hosts on this machine (make sandbox). Debian's own packages
# are the only ones reachable here; its TimescaleDB is the Apache-only build.
package_source = "distro"
docker_source = "distro"
# Test hosts are containers whose /proc/sys is read-only: Docker's bridge networking needs
# this documented switch there (a real host does not).
docker_daemon_environment = {"DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE": "1"}
app_password_file = ".sandbox/secrets/app_password"
