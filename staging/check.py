"""A staging rebuild's first look at its targets (tsdb-deploy staging-rebuild runs it before
it reads the source): a host whose environment is production is refused, from the inventory
alone. Nothing runs on the hosts."""

from pyinfra import host

from tsdb_deploy import host_plan, staging

role = host_plan.host_role(host)
try:
    staging.target_allowed(host.name, role.environment)
except staging.StagingError as exc:
    raise host_plan.DeployConfigError(str(exc)) from None
