# Production: PGDG + Timescale's repositories (TimescaleDB Community build, with compression,
# retention policies and continuous aggregates). The password comes from the environment of
# whoever runs the deploy: export TSDB_APP_PASSWORD=... (or set app_password_file).
package_source = "upstream"
listen_addresses = "*"
# The dashboard application servers; everything else is rejected by pg_hba.
app_networks = ["10.20.0.0/16"]
