-- The core tables of the public interface. Every table and column carries a COMMENT: the
-- schema reference in warehouse/README.md is generated from them.

CREATE TABLE articles (
    article_id VARCHAR PRIMARY KEY,
    url VARCHAR NOT NULL,
    canonical_url VARCHAR NOT NULL,
    domain VARCHAR,
    title VARCHAR,
    published_at TIMESTAMPTZ,
    language VARCHAR,
    language_confidence DOUBLE,
    text VARCHAR NOT NULL,
    word_count INTEGER NOT NULL,
    content_hash VARCHAR NOT NULL,
    duplicate_of VARCHAR,
    origin VARCHAR NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ
);
COMMENT ON TABLE articles IS 'One row per distinct canonical URL: the latest text of every article newsflow loaded.';
COMMENT ON COLUMN articles.article_id IS 'Stable id: 16 hex digits of the BLAKE2b hash of canonical_url (the same on every machine).';
COMMENT ON COLUMN articles.url IS 'The URL the article was first loaded from.';
COMMENT ON COLUMN articles.canonical_url IS 'Normalized URL: lower-case scheme and host, no default port, fragment or tracking parameters.';
COMMENT ON COLUMN articles.domain IS 'Registered domain under the public suffix (www.bbc.co.uk -> bbc.co.uk).';
COMMENT ON COLUMN articles.title IS 'Headline, whitespace folded; NULL if unknown.';
COMMENT ON COLUMN articles.published_at IS 'Publication time; NULL if unknown or the stated date was impossible (see article_notes).';
COMMENT ON COLUMN articles.language IS 'ISO 639-1 code detected from the text; NULL if unknown or unsure.';
COMMENT ON COLUMN articles.language_confidence IS 'The language model''s probability for language (0-1).';
COMMENT ON COLUMN articles.text IS 'Article text, one paragraph a line; publisher comments are in article_comments.';
COMMENT ON COLUMN articles.word_count IS 'Number of words (\w+ runs) in text.';
COMMENT ON COLUMN articles.content_hash IS 'Hash of text with case, punctuation and spacing folded: equal hashes mean the same text.';
COMMENT ON COLUMN articles.duplicate_of IS 'NULL, or the article_id of the first article with the same or nearly the same text.';
COMMENT ON COLUMN articles.origin IS 'How the article first came in: seed, feed or url.';
COMMENT ON COLUMN articles.ingested_at IS 'When the article was first processed.';
COMMENT ON COLUMN articles.updated_at IS 'When the text last changed (the earlier text is in article_versions); NULL if never.';

CREATE TABLE rejects (
    source VARCHAR NOT NULL,
    stage VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    detail VARCHAR,
    run_id VARCHAR,
    rejected_at TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE rejects IS 'One row per item that was not loaded, per run that tried it.';
COMMENT ON COLUMN rejects.source IS 'The item: a URL or a seed file path.';
COMMENT ON COLUMN rejects.stage IS 'The stage that refused it: intake, fetch, extract, process.';
COMMENT ON COLUMN rejects.reason IS 'Short stable code, e.g. http_404, timeout, not_html, too_large, blocked_private, robots, parse_error, empty_text, empty_file, binary, bad_encoding, bad_url.';
COMMENT ON COLUMN rejects.detail IS 'Human-readable explanation.';
COMMENT ON COLUMN rejects.run_id IS 'The flow run (runs.run_id) that rejected it.';
COMMENT ON COLUMN rejects.rejected_at IS 'When it was rejected.';

CREATE TABLE feeds (
    url VARCHAR PRIMARY KEY,
    etag VARCHAR,
    last_modified VARCHAR,
    last_status INTEGER,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_success_at TIMESTAMPTZ
);
COMMENT ON TABLE feeds IS 'One row per feed polled, with its HTTP validators and health.';
COMMENT ON COLUMN feeds.url IS 'The feed URL.';
COMMENT ON COLUMN feeds.etag IS 'ETag of the last loaded response, sent back as If-None-Match.';
COMMENT ON COLUMN feeds.last_modified IS 'Last-Modified of the last loaded response, sent back as If-Modified-Since.';
COMMENT ON COLUMN feeds.last_status IS 'HTTP status of the last poll (NULL if no response).';
COMMENT ON COLUMN feeds.consecutive_failures IS 'Failed polls since the last success.';
COMMENT ON COLUMN feeds.last_success_at IS 'When a poll last succeeded.';

CREATE TABLE runs (
    run_id VARCHAR PRIMARY KEY,
    flow VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status VARCHAR,
    items INTEGER,
    loaded INTEGER,
    updated INTEGER,
    duplicates INTEGER,
    rejected INTEGER,
    batches INTEGER
);
COMMENT ON TABLE runs IS 'One row per flow run.';
COMMENT ON COLUMN runs.run_id IS 'The Prefect flow run id.';
COMMENT ON COLUMN runs.flow IS 'Flow name: ingest-seeds, ingest-feeds, ingest-urls, backfill.';
COMMENT ON COLUMN runs.started_at IS 'When the run started.';
COMMENT ON COLUMN runs.finished_at IS 'When the run finished.';
COMMENT ON COLUMN runs.status IS 'completed or failed.';
COMMENT ON COLUMN runs.items IS 'Items the run considered (files, entries, URLs).';
COMMENT ON COLUMN runs.loaded IS 'New articles loaded.';
COMMENT ON COLUMN runs.updated IS 'Known articles whose text changed.';
COMMENT ON COLUMN runs.duplicates IS 'New articles that duplicate an earlier one (duplicate_of set).';
COMMENT ON COLUMN runs.rejected IS 'Items rejected (rows in rejects).';
COMMENT ON COLUMN runs.batches IS 'Spool batches loaded.';

CREATE TABLE article_comments (
    article_id VARCHAR NOT NULL,
    position INTEGER NOT NULL,
    text VARCHAR NOT NULL
);
COMMENT ON TABLE article_comments IS 'The publisher''s editorial comments (seed Comment: lines), kept out of articles.text.';
COMMENT ON COLUMN article_comments.article_id IS 'The article (articles.article_id).';
COMMENT ON COLUMN article_comments.position IS 'Order of the comment within the article, from 1.';
COMMENT ON COLUMN article_comments.text IS 'The comment, without its Comment: prefix.';

CREATE TABLE article_sightings (
    article_id VARCHAR NOT NULL,
    origin VARCHAR NOT NULL,
    feed_url VARCHAR,
    guid VARCHAR,
    url_seen VARCHAR NOT NULL,
    seen_at TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE article_sightings IS 'One row per distinct way an article was seen (origin, feed, GUID, URL as seen), first time kept.';
COMMENT ON COLUMN article_sightings.article_id IS 'The article (articles.article_id).';
COMMENT ON COLUMN article_sightings.origin IS 'seed, feed or url.';
COMMENT ON COLUMN article_sightings.feed_url IS 'The feed it appeared in; NULL if none.';
COMMENT ON COLUMN article_sightings.guid IS 'The feed entry''s GUID; NULL if none.';
COMMENT ON COLUMN article_sightings.url_seen IS 'The URL exactly as seen, before canonicalization.';
COMMENT ON COLUMN article_sightings.seen_at IS 'When it was first seen this way.';

CREATE TABLE article_versions (
    article_id VARCHAR NOT NULL,
    title VARCHAR,
    text VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    valid_until TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE article_versions IS 'Earlier texts of articles whose text changed (updates, corrections).';
COMMENT ON COLUMN article_versions.article_id IS 'The article (articles.article_id).';
COMMENT ON COLUMN article_versions.title IS 'The title this version had.';
COMMENT ON COLUMN article_versions.text IS 'The earlier text.';
COMMENT ON COLUMN article_versions.content_hash IS 'content_hash of the earlier text.';
COMMENT ON COLUMN article_versions.valid_until IS 'When a newer text replaced it.';

CREATE TABLE article_notes (
    article_id VARCHAR NOT NULL,
    code VARCHAR NOT NULL,
    detail VARCHAR,
    noted_at TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE article_notes IS 'Problems with loaded articles that did not stop them loading, e.g. bad_date (published_at left NULL).';
COMMENT ON COLUMN article_notes.article_id IS 'The article (articles.article_id).';
COMMENT ON COLUMN article_notes.code IS 'Short stable code, e.g. bad_date.';
COMMENT ON COLUMN article_notes.detail IS 'Human-readable explanation.';
COMMENT ON COLUMN article_notes.noted_at IS 'When it was noted.';

CREATE TABLE spool_batches (
    batch_id VARCHAR PRIMARY KEY,
    run_id VARCHAR,
    loaded_at TIMESTAMPTZ NOT NULL,
    articles INTEGER,
    rejects INTEGER
);
COMMENT ON TABLE spool_batches IS 'Every spool batch the loader merged, recorded in the same transaction (what makes loading idempotent).';
COMMENT ON COLUMN spool_batches.batch_id IS 'The batch folder''s name in the spool.';
COMMENT ON COLUMN spool_batches.run_id IS 'The run that produced it.';
COMMENT ON COLUMN spool_batches.loaded_at IS 'When it was merged.';
COMMENT ON COLUMN spool_batches.articles IS 'Article rows it carried.';
COMMENT ON COLUMN spool_batches.rejects IS 'Reject rows it carried.';
