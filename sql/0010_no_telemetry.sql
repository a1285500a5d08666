-- 0010_no_telemetry: the database sends no reports to Timescale
--
-- The Community build schedules a "Telemetry Reporter" job in every database that has the
-- extension: once a day it sends the server's versions, OS, a summary of its settings and of
-- its hypertables to Timescale over the internet. A production database's metadata stays in
-- house, and a database host has no business opening outbound connections: on a host without
-- internet access (as it should be) the job can only fail, and its failures would sit among
-- the real jobs' in timescaledb_information.job_stats. The job is unscheduled, not deleted
-- (TimescaleDB recreates a missing one on update); its state travels with backups.
-- The Apache build (Debian's) is built without telemetry: nothing to do there.
--
-- As the superuser: the telemetry job belongs to the role that created the extension.

DO $$
BEGIN
    IF current_setting('timescaledb.license', true) = 'timescale' THEN
        PERFORM alter_job(job_id, scheduled => false)
        FROM timescaledb_information.jobs WHERE proc_name = 'policy_telemetry';
    ELSE
        RAISE NOTICE 'telemetry: license %, built without it',
            coalesce(current_setting('timescaledb.license', true), 'unknown');
    END IF;
END
$$;
