-- 0001_roles_and_privileges: the read-only dashboard role and the privileges every object inherits
--
-- Runs as the superuser (CREATE ROLE and privileges for another role need it), connected to the
-- application database. The application role (:app_user) already exists and owns the database;
-- it owns every object the later migrations create (they SET ROLE to it).

-- The dashboard's group role: NOLOGIN; the dashboard's login roles are GRANTed into it. Roles are
-- cluster-wide, so another database on this cluster or an earlier deploy may have created it:
-- create it only when missing, and make sure it stays a group role either way.
SELECT format('CREATE ROLE %I NOLOGIN', :'readonly_role')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'readonly_role')
\gexec
ALTER ROLE :"readonly_role" NOLOGIN;

-- It may connect to this database and look up objects in the public schema; only the schema's
-- owner (the application role, as owner of the database) may create in it (PostgreSQL 15+'s
-- default, stated here so that a cluster upgraded from an older default is corrected too).
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'readonly_role')
\gexec
GRANT USAGE ON SCHEMA public TO :"readonly_role";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- Read everything the application role creates, now and in later migrations: default privileges
-- for tables (which covers views, materialized views and continuous aggregates), sequences and
-- schemas it creates, in any schema. Nothing else is granted, so it can write nothing.
ALTER DEFAULT PRIVILEGES FOR ROLE :"app_user" GRANT SELECT ON TABLES TO :"readonly_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"app_user" GRANT SELECT ON SEQUENCES TO :"readonly_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"app_user" GRANT USAGE ON SCHEMAS TO :"readonly_role";

-- Anything already in the schema (none on a fresh database; an adopted one may have tables).
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"readonly_role";

SET ROLE :"app_user";
