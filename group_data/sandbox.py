# The local sandbox: Debian 13 test hosts on this machine (make sandbox). Debian's own packages
# are the only ones reachable here; its TimescaleDB is the Apache-only build.
package_source = "distro"
app_password_file = ".sandbox/secrets/app_password"
