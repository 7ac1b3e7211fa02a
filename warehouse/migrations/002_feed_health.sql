-- Feed health beyond the interface's columns: failures counted by kind, quarantine, last poll.
ALTER TABLE feeds ADD COLUMN name VARCHAR;
ALTER TABLE feeds ADD COLUMN title VARCHAR;
ALTER TABLE feeds ADD COLUMN last_polled_at TIMESTAMPTZ;
ALTER TABLE feeds ADD COLUMN last_error VARCHAR;
ALTER TABLE feeds ADD COLUMN last_entries INTEGER;
ALTER TABLE feeds ADD COLUMN soft_failures INTEGER DEFAULT 0;
ALTER TABLE feeds ADD COLUMN hard_failures INTEGER DEFAULT 0;
ALTER TABLE feeds ADD COLUMN quarantined_until TIMESTAMPTZ;
COMMENT ON COLUMN feeds.name IS 'The name given in the feeds file, if any.';
COMMENT ON COLUMN feeds.title IS 'The title the feed gives itself.';
COMMENT ON COLUMN feeds.last_polled_at IS 'When the feed was last polled (successfully or not).';
COMMENT ON COLUMN feeds.last_error IS 'Why the last poll failed (reason: detail), or what was malformed in a feed that still gave entries; NULL if nothing.';
COMMENT ON COLUMN feeds.last_entries IS 'Entries in the last response parsed (NULL after a 304 or a failure).';
COMMENT ON COLUMN feeds.soft_failures IS 'Consecutive soft failures (timeouts, 429, 5xx, connection errors, unparsable responses), reset by a success.';
COMMENT ON COLUMN feeds.hard_failures IS 'Consecutive hard failures (404 and other 4xx, blocked address, not a feed, too large), reset by a success.';
COMMENT ON COLUMN feeds.quarantined_until IS 'Not polled before this time: set after 3 hard failures in a row (1, 2, 4 ... up to 30 days) or at once by 410 Gone (30 days); the feed is re-probed after it, and a success clears it.';
