# Hosts in the `native` group run PostgreSQL from apt under systemd.
runtime = "native"
