-- Feed validators and health from polls whose entries this batch's run spooled first.
--
-- Outcomes: ok / not_modified reset the failure counts and clear quarantine; soft and hard
-- failures are counted apart; 3 hard failures in a row quarantine the feed (1, 2, 4 ...
-- days, at most 30) and 410 Gone at once (30 days); after that time it is polled again.
-- Validators change only with a response that was parsed (ok) or confirmed (304).

-- name: new_feeds
INSERT INTO feeds (url) SELECT DISTINCT url FROM new_feed_states
WHERE url NOT IN (SELECT url FROM feeds);

-- name: feed_states
UPDATE feeds SET
name = coalesce(s.name, feeds.name), title = coalesce(s.title, feeds.title),
etag = CASE WHEN s.outcome = 'ok' THEN s.etag
  WHEN s.outcome = 'not_modified' THEN coalesce(s.etag, feeds.etag) ELSE feeds.etag END,
last_modified = CASE WHEN s.outcome = 'ok' THEN s.last_modified
  WHEN s.outcome = 'not_modified' THEN coalesce(s.last_modified, feeds.last_modified)
  ELSE feeds.last_modified END,
last_status = s.status, last_polled_at = s.polled_at, last_error = s.error,
last_entries = CASE WHEN s.outcome = 'ok' THEN s.entries END,
consecutive_failures = CASE WHEN s.ok THEN 0 ELSE feeds.consecutive_failures + 1 END,
last_success_at = CASE WHEN s.ok THEN s.polled_at ELSE feeds.last_success_at END,
soft_failures = CASE WHEN s.ok THEN 0 WHEN s.outcome = 'soft'
  THEN coalesce(feeds.soft_failures, 0) + 1 ELSE feeds.soft_failures END,
hard_failures = CASE WHEN s.ok THEN 0 WHEN s.outcome IN ('hard', 'gone')
  THEN coalesce(feeds.hard_failures, 0) + 1 ELSE feeds.hard_failures END,
quarantined_until = CASE WHEN s.ok THEN NULL
  WHEN s.outcome = 'gone' THEN s.polled_at + INTERVAL 30 DAY
  WHEN s.outcome = 'hard' AND coalesce(feeds.hard_failures, 0) + 1 >= 3
  THEN s.polled_at + to_days(CAST(least(30, pow(2, coalesce(feeds.hard_failures, 0) - 2))
    AS INTEGER))
  ELSE feeds.quarantined_until END
FROM (SELECT *, outcome IN ('ok', 'not_modified') AS ok FROM new_feed_states
      QUALIFY row_number() OVER (PARTITION BY url ORDER BY polled_at DESC) = 1) s
WHERE feeds.url = s.url;
