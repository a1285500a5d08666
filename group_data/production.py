# Production: native hosts install from PGDG + Timescale's repositories (package_source
# upstream, the default: the TimescaleDB Community build, with compression, retention
# policies and continuous aggregates). The password comes from the environment of
# whoever runs the deploy: export TSDB_APP_PASSWORD=... and TSDB_MONITOR_PASSWORD=... (or set
# app_password_file and monitor_password_file).
listen_addresses = "*"
# The dashboard application servers; everything else is rejected by pg_hba.
app_networks = ["10.20.0.0/16"]
# TLS: each host's certificate (chain) and key, from the organisation's CA, kept outside git on
# the machine running the deploy; {host} is the inventory host's name. A renewed certificate is
# installed with a reload.
tls_cert_file = "~/.tsdb-deploy/tls/production/{host}.crt"
tls_key_file = "~/.tsdb-deploy/tls/production/{host}.key"
# Production says so: `tsdb-deploy staging-rebuild` refuses these hosts as its target.
environment = "production"
