# Data for every host of every environment. Each key is declared, with its type, default and
# allowed values, in tsdb_deploy/settings.py (the one place defaults live); set a key here
# only to choose a value for the whole deployment.

# The documents' names for the analytics database and the role that owns it.
database = "klaviyo_analytics"
app_user = "klaviyo"
