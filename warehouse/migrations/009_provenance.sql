-- Where an article's metadata came from: the page itself or the intake (feed entry, sitemap).

ALTER TABLE articles ADD COLUMN provenance VARCHAR;
COMMENT ON COLUMN articles.provenance IS 'JSON: where tags, authors, image and title came from, each "page" (the page''s JSON-LD/meta tags) or the intake ("feed", "url", "seed"): {"tags": {"page": [...], "feed": [...]}, "authors": "page", "image": "page", "title": "feed"}; query with provenance->>''$.authors''. Dates keep theirs in published_source/modified_source. NULL when the text came without a page (seed article files).';
COMMENT ON COLUMN articles.tags IS 'Keywords and tags: the page''s own (JSON-LD keywords, article:tag, news_keywords), then the feed entry''s categories it lacks; the same page gives the same tags by any path, plus its feed''s. Sources in provenance.';
COMMENT ON COLUMN articles.image IS 'URL of the article''s lead image: the page''s (og:image, JSON-LD), else the feed entry''s. Source in provenance.';
