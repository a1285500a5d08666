-- 0012_query_statistics: pg_stat_statements in the analytics database
--
-- The planner preloads the library (shared_preload_libraries), which makes the server count
-- every statement; the view that shows those counts exists only where the extension is
-- created. Slow queries, their calls, rows and I/O time (track_io_timing) are then one query
-- away for operators, tsdb-status and the Prometheus exporter. The application role sees its
-- own statements' text only; pg_read_all_stats (held by pg_monitor) sees all.
--
-- As the superuser: the extension's objects belong to the role that creates it, so the owner
-- and the application roles cannot replace the functions monitoring calls.

CREATE EXTENSION IF NOT EXISTS pg_stat_statements WITH SCHEMA public;

-- The extension grants its view to PUBLIC; statistics are for monitoring (pg_monitor, which
-- the exporter's and tsdb-status's role holds), not for every role (dev-sec postgres-17).
REVOKE ALL ON public.pg_stat_statements, public.pg_stat_statements_info FROM PUBLIC;
REVOKE ALL ON FUNCTION public.pg_stat_statements(boolean), public.pg_stat_statements_info()
    FROM PUBLIC;
GRANT SELECT ON public.pg_stat_statements, public.pg_stat_statements_info TO pg_monitor;
GRANT EXECUTE ON FUNCTION public.pg_stat_statements(boolean),
    public.pg_stat_statements_info() TO pg_monitor;
