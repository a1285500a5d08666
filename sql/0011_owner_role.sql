-- 0011_owner_role: an owner role owns the database and every object; the application role owns nothing
--
-- Why: before this migration the application role (:app_user, whose password the dashboard
-- holds) owned the database, the tables and the functions the scheduled maintenance runs.
-- Whoever held that password could CREATE OR REPLACE klaviyo_run_maintenance(), and the
-- hourly job, running as the superuser, would run the new code (COPY ... TO PROGRAM: a shell).
--
-- Now :owner_role owns the database, every object the earlier migrations made, the functions
-- and TimescaleDB's jobs, and the later migrations create as it. The maintenance runs as it:
-- TimescaleDB starts each job as a session of the job's owner (so the role has LOGIN), and the
-- Apache build's cron connects as it through the local socket (peer, mapped from the OS user
-- postgres in pg_ident.conf). It has no password and no network rule: no client can log in as
-- it. The application role keeps what the dashboard and the ingest path need: read every
-- table, write the tables the ingest fills (not the aggregates or their watermark, which the
-- maintenance derives), use the sequences, run the serving functions. The read-only role
-- keeps reading everything.
--
-- Existing hosts: REASSIGN OWNED moves every object of the application role in this database,
-- the database itself, and (TimescaleDB's hook) its jobs; no row is touched. Runs as the
-- superuser, in the migration's transaction. It first refuses, naming them, objects the
-- application role may have planted to run code as whoever uses its tables once they belong
-- to the owner (SECURITY DEFINER functions, triggers, rules, policies, operators, casts,
-- schemas, types, functions named like a built-in or TimescaleDB's API, jobs other than
-- TimescaleDB's policies, members of the owner role): nothing moves until an operator has
-- looked at them. What it may have granted to PUBLIC as the database's owner is revoked.

-- Nothing below resolves a name in a schema the application role could write to.
SET LOCAL search_path = pg_catalog, pg_temp;
-- REASSIGN locks every table and chunk: rather fail (and retry on the next deploy) than queue
-- behind a long dashboard query while holding up the ingest.
SET LOCAL lock_timeout = '60s';

SET LOCAL tsdb.app_user = :'app_user';
DO $$
DECLARE
    app oid := (SELECT oid FROM pg_roles WHERE rolname = current_setting('tsdb.app_user'));
    found text;
BEGIN
    SELECT string_agg(what, '; ' ORDER BY what) INTO found FROM (
        SELECT format('SECURITY DEFINER function %s', p.oid::regprocedure)
        FROM pg_proc p WHERE p.proowner = app AND p.prosecdef
        UNION ALL
        SELECT format('trigger %I on %s', t.tgname, t.tgrelid::regclass)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relowner = app AND NOT t.tgisinternal AND NOT EXISTS (
            SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
            AND d.objid = t.tgfoid AND d.deptype = 'e')
        UNION ALL
        SELECT format('rule %I on %s', r.rulename, r.ev_class::regclass)
        FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
        WHERE c.relowner = app AND r.rulename <> '_RETURN'
        UNION ALL
        SELECT format('policy %I on %s', pol.polname, pol.polrelid::regclass)
        FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid WHERE c.relowner = app
        UNION ALL
        SELECT format('operator %s', o.oid::regoperator) FROM pg_operator o WHERE o.oprowner = app
        UNION ALL
        SELECT format('function %s (shadows a built-in or TimescaleDB''s API)', p.oid::regprocedure)
        FROM pg_proc p WHERE p.proowner = app AND EXISTS (
            SELECT 1 FROM pg_proc q
            WHERE q.proname = p.proname AND q.oid <> p.oid AND q.proowner <> app)
        UNION ALL
        SELECT format('schema %I', n.nspname) FROM pg_namespace n WHERE n.nspowner = app
        UNION ALL
        SELECT format('type %s', t.oid::regtype) FROM pg_type t
        WHERE t.typowner = app AND t.typtype IN ('b', 'd', 'e', 'r', 'm')
          AND t.typcategory <> 'A'  -- not the array type every table gets
        UNION ALL
        SELECT format('cast %s', c.oid) FROM pg_cast c JOIN pg_proc p ON p.oid = c.castfunc
        WHERE p.proowner = app
        UNION ALL  -- jobs TimescaleDB would run as the owner: only its own policies move
        SELECT format('TimescaleDB job %s (%I.%I)', j.id, j.proc_schema, j.proc_name)
        FROM _timescaledb_config.bgw_job j
        WHERE j.owner = app AND j.proc_schema NOT IN ('_timescaledb_functions', '_timescaledb_internal')
    ) AS suspicious(what);
    IF found IS NOT NULL THEN
        RAISE EXCEPTION 'the application role % owns objects that would run code as the owner role once moved to it: %',
            current_setting('tsdb.app_user'), found
            USING HINT = 'inspect them; drop them, or (if they are yours) ALTER ... OWNER TO the '
                         'owner role yourself, then deploy again';
    END IF;
END
$$;

SELECT pg_catalog.format('CREATE ROLE %I LOGIN', :'owner_role')
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = :'owner_role')
\gexec
ALTER ROLE :"owner_role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD NULL;
-- Nobody may act as the owner by membership (a role that existed before, by whatever name).
SET LOCAL tsdb.owner_role = :'owner_role';
DO $$
DECLARE
    members text := (SELECT string_agg(m.member::regrole::text, ', ')
                     FROM pg_auth_members m
                     WHERE m.roleid = current_setting('tsdb.owner_role')::regrole);
BEGIN
    IF members IS NOT NULL THEN
        RAISE EXCEPTION 'roles % are members of the owner role %: they could act as it',
            members, current_setting('tsdb.owner_role')
            USING HINT = 'REVOKE the owner role from them, then deploy again';
    END IF;
END
$$;

-- Everything the application role owns: the database, the schema objects, the jobs.
REASSIGN OWNED BY :"app_user" TO :"owner_role";

-- The application role: whatever it held before (as owner, or granted) is revoked. It reads
-- every table and view, and writes (no TRUNCATE, TRIGGER, REFERENCES) only the tables the
-- ingest fills; no CREATE anywhere. EXECUTE on the serving functions is PUBLIC's, as
-- PostgreSQL gives it; the maintenance functions revoked it from PUBLIC when they were made,
-- so only their owner runs them.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM :"app_user";
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM :"app_user";
REVOKE ALL ON ALL ROUTINES IN SCHEMA public FROM :"app_user";
REVOKE ALL ON SCHEMA public FROM :"app_user";
SELECT pg_catalog.format('REVOKE ALL ON DATABASE %I FROM %I', pg_catalog.current_database(),
                         :'app_user')
\gexec
SELECT pg_catalog.format('GRANT CONNECT ON DATABASE %I TO %I', pg_catalog.current_database(),
                         :'app_user')
\gexec
-- PUBLIC: whatever the application role, as the database's owner, may have granted to
-- everyone (CREATE on the schema, TRIGGER or TRUNCATE on a table) goes too; the maintenance
-- functions are again their owner's alone.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC;
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
             WHERE p.pronamespace = 'public'::regnamespace
               AND p.proname IN ('klaviyo_run_maintenance', 'klaviyo_drop_expired_events',
                                 'refresh_klaviyo_aggregated_metrics')
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$$;
GRANT USAGE ON SCHEMA public TO :"app_user";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"app_user";
GRANT INSERT, UPDATE, DELETE ON
    public.klaviyo_events, public.klaviyo_metrics, public.klaviyo_profiles,
    public.klaviyo_campaigns, public.klaviyo_flows, public.klaviyo_forms,
    public.klaviyo_segments, public.klaviyo_segment_profiles
    TO :"app_user";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app_user";
-- What later migrations create, the application role may read; a table it must write is
-- granted by its migration.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
    GRANT SELECT ON TABLES TO :"app_user";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"app_user";

-- The read-only role reads what the owner creates from now on, as it read the application
-- role's (0001).
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" GRANT SELECT ON TABLES TO :"readonly_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" GRANT SELECT ON SEQUENCES TO :"readonly_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" GRANT USAGE ON SCHEMAS TO :"readonly_role";

-- The Apache build's maintenance scheduled with pg_cron (0005), if it was: it now runs as the
-- owner, the only role that may run the maintenance functions (pg_cron then needs
-- cron.use_background_workers = on: the owner has no network rule to connect with).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        UPDATE cron.job SET username = current_setting('tsdb.owner_role')
        WHERE jobname = 'klaviyo_run_maintenance';
    END IF;
END
$$;
