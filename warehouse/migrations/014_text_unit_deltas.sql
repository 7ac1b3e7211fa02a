-- On a lake, a load that adds stories to sentences already in text_units appends the counts
-- here instead of updating text_units: an update finds its rows by a join over the whole
-- table (111M rows at 1M articles), a cost every load paid in proportion to the warehouse.
-- Maintenance folds these rows into text_units.stories; text_unit_stories is the sum at any
-- moment. The single-file warehouse updates text_units in place and leaves this table empty.

CREATE TABLE text_unit_deltas (
    unit_hash BIGINT NOT NULL,
    domain VARCHAR NOT NULL,
    stories INTEGER NOT NULL,
    added_at TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE text_unit_deltas IS 'On a lake: stories that loads added to sentences already in text_units, not yet folded into text_units.stories by maintenance (text_unit_stories gives the sum). Empty on the single-file warehouse.';
COMMENT ON COLUMN text_unit_deltas.unit_hash IS 'text_units.unit_hash of the sentence.';
COMMENT ON COLUMN text_unit_deltas.domain IS 'text_units.domain of the stories counted.';
COMMENT ON COLUMN text_unit_deltas.stories IS 'Distinct stories one load added for this sentence and domain.';
COMMENT ON COLUMN text_unit_deltas.added_at IS 'When the load that added them ran.';

-- Facts are compared outside the sentences both texts hold verbatim (furniture not yet learned
-- as boilerplate carries its own names and numbers into every brief of a site).
COMMENT ON COLUMN duplicate_links.fact_overlap IS 'Share of the smaller set of facts (numbers, capitalised names) found in the other, counting only the facts of sentences the two texts do not share verbatim (1 when either has fewer than 8).';
