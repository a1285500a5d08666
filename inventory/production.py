# Production database hosts. Group membership picks the runtime (group_data/native.py,
# group_data/docker.py); group_data/production.py holds this environment's choices.
native = [
    ("db1.analytics.internal", {"ssh_user": "deploy", "_sudo": True, "storage_class": "nvme"}),
]
