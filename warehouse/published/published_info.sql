-- Comments on the table published_info (warehouse/publish.py creates it in the published copy).
COMMENT ON TABLE published_info IS 'Only in the published copy: one row saying how fresh the copy is.';
COMMENT ON COLUMN published_info.published_at IS 'When this copy was taken from the warehouse (it holds every load committed before).';
COMMENT ON COLUMN published_info.last_load_at IS 'When the newest spool batch in it was loaded.';
COMMENT ON COLUMN published_info.articles IS 'Rows in articles.';
COMMENT ON COLUMN published_info.unique_articles IS 'Rows in articles_unique.';
COMMENT ON COLUMN published_info.source IS 'The warehouse file it was copied from.';
COMMENT ON COLUMN published_info.publish_seconds IS 'How long the copy and the index took.';
