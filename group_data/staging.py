# Staging mirrors production on smaller hosts; rebuilt from this repository.
listen_addresses = "*"
app_networks = ["10.30.0.0/16"]
tls_cert_file = "~/.tsdb-deploy/tls/staging/{host}.crt"
tls_key_file = "~/.tsdb-deploy/tls/staging/{host}.key"
# `tsdb-deploy staging-rebuild` may replace these hosts' database (a production host never).
environment = "staging"
# No WAL archiving: a staging rebuild's restore writes production's unmasked rows to the WAL
# before masking rewrites them (docs/staging.md); staging-rebuild refuses a host with pitr on.
pitr = False
