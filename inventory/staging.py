native = [
    ("db1.staging.analytics.internal", {"ssh_user": "deploy", "_sudo": True}),
]
