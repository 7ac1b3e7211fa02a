-- Near-duplicates decided on the story (tasks/boilerplate.py, warehouse/stories.py):
-- sentences learned as boilerplate, and the evidence of every duplicate_of link.

CREATE TABLE text_units (
    unit_hash BIGINT NOT NULL,
    domain VARCHAR NOT NULL,
    stories INTEGER NOT NULL,
    first_article VARCHAR NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (unit_hash, domain)
);
COMMENT ON TABLE text_units IS 'Sentences of the stories loaded, counted per domain: a sentence that several distinct stories contain is boilerplate (footers, disclaimers, bios, template lines) and is left out when texts are compared for near-duplicates.';
COMMENT ON COLUMN text_units.unit_hash IS 'Hash of the sentence''s case-folded words (tasks.boilerplate.unit_hash).';
COMMENT ON COLUMN text_units.domain IS 'The domain of the stories counted ('''' when unknown).';
COMMENT ON COLUMN text_units.stories IS 'Distinct stories (cluster representatives) of this domain that contain the sentence; copies of one story count once.';
COMMENT ON COLUMN text_units.first_article IS 'The first article (articles.article_id) of this domain that contained it.';
COMMENT ON COLUMN text_units.first_seen IS 'When that article was ingested.';

CREATE TABLE duplicate_links (
    article_id VARCHAR PRIMARY KEY,
    representative VARCHAR NOT NULL,
    method VARCHAR NOT NULL,
    similarity DOUBLE NOT NULL,
    length_ratio DOUBLE,
    fact_overlap DOUBLE,
    novel_share DOUBLE,
    stripped_sentences INTEGER,
    rule VARCHAR NOT NULL,
    decided_at TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE duplicate_links IS 'Why each article with duplicate_of set was linked: the evidence checked against its cluster''s representative (see view duplicate_evidence).';
COMMENT ON COLUMN duplicate_links.article_id IS 'The duplicate (articles.article_id).';
COMMENT ON COLUMN duplicate_links.representative IS 'The article it was checked against: its duplicate_of, the cluster''s representative (never another member).';
COMMENT ON COLUMN duplicate_links.method IS 'exact (the same text: equal content_hash) or shingle_containment (the boilerplate-stripped texts nearly match).';
COMMENT ON COLUMN duplicate_links.similarity IS 'Share of the smaller boilerplate-stripped text''s 3-word shingles found in the other (1.0 for exact).';
COMMENT ON COLUMN duplicate_links.length_ratio IS 'Size of the smaller stripped shingle set over the larger''s.';
COMMENT ON COLUMN duplicate_links.fact_overlap IS 'Share of the smaller set of facts (numbers, capitalised names) found in the other.';
COMMENT ON COLUMN duplicate_links.novel_share IS 'Share of the text in sentences the other does not tell (the smaller of the two texts'' shares).';
COMMENT ON COLUMN duplicate_links.stripped_sentences IS 'Sentences of the two texts left out as learned boilerplate before comparing.';
COMMENT ON COLUMN duplicate_links.rule IS 'The rule version that decided (tasks.boilerplate.RULE).';
COMMENT ON COLUMN duplicate_links.decided_at IS 'When the link was decided (ingest or backfill rededup).';

-- Links made before this migration were decided on whole texts (furniture included): they
-- keep working, recorded as such, until `newsflow backfill --mode rededup` recomputes them.
INSERT INTO duplicate_links
SELECT a.article_id, a.duplicate_of,
    CASE WHEN a.content_hash = r.content_hash THEN 'exact' ELSE 'shingle_containment' END,
    CASE WHEN a.content_hash = r.content_hash THEN 1.0 ELSE 0.35 END,
    NULL, NULL, NULL, NULL, 'legacy', now()
FROM articles a JOIN articles r ON r.article_id = a.duplicate_of
WHERE a.duplicate_of IS NOT NULL;
