-- Runs tell the truth about how they ended and what they loaded. Each run's row is written
-- when it starts, with the process that runs it (pid, host, the process's start time), so
-- a later start can tell a run whose process is gone (killed, the machine rebooted) and
-- mark it abandoned. Counts are credited to the run that spooled each batch, whichever
-- process merged it.
ALTER TABLE runs ADD COLUMN unchanged INTEGER;
ALTER TABLE runs ADD COLUMN sightings INTEGER;
ALTER TABLE runs ADD COLUMN error VARCHAR;
ALTER TABLE runs ADD COLUMN pid INTEGER;
ALTER TABLE runs ADD COLUMN host VARCHAR;
ALTER TABLE runs ADD COLUMN pid_started BIGINT;
COMMENT ON COLUMN runs.status IS 'running, completed, failed (see error), cancelled (Ctrl-C or SIGTERM; what it spooled is loaded later and still counted here) or abandoned (its process ended without finishing the run: killed, or the machine stopped).';
COMMENT ON COLUMN runs.finished_at IS 'When the run finished, failed, was cancelled, or was found abandoned.';
COMMENT ON COLUMN runs.loaded IS 'New articles loaded from the batches this run spooled (whichever process merged them).';
COMMENT ON COLUMN runs.batches IS 'Spool batches of this run loaded.';
COMMENT ON COLUMN runs.unchanged IS 'Known articles seen again with the same text.';
COMMENT ON COLUMN runs.sightings IS 'New sightings (article_sightings rows) loaded.';
COMMENT ON COLUMN runs.error IS 'Why the run failed or was abandoned, one line; NULL otherwise.';
COMMENT ON COLUMN runs.pid IS 'Process id of the process that ran it (with host and pid_started, how a later start knows whether it is still alive).';
COMMENT ON COLUMN runs.host IS 'Host name of the machine that ran it.';
COMMENT ON COLUMN runs.pid_started IS 'Start time of that process (clock ticks since boot, Linux), so a reused pid is not taken for the run''s process.';
