CREATE OR REPLACE VIEW duplicate_evidence AS
SELECT
    a.article_id,
    a.url,
    a.title,
    a.domain,
    a.duplicate_of,
    r.url AS representative_url,
    r.title AS representative_title,
    r.domain AS representative_domain,
    l.representative,
    l.method,
    l.similarity,
    l.length_ratio,
    l.fact_overlap,
    l.novel_share,
    l.stripped_sentences,
    l.rule,
    l.decided_at
FROM articles a
JOIN articles r ON r.article_id = a.duplicate_of
LEFT JOIN duplicate_links l ON l.article_id = a.article_id;
COMMENT ON VIEW duplicate_evidence IS 'Why two articles were linked: every article with duplicate_of set, its representative, and the evidence checked (method, similarity of the boilerplate-stripped texts, facts, novel text).';
COMMENT ON COLUMN duplicate_evidence.article_id IS 'The duplicate (articles.article_id).';
COMMENT ON COLUMN duplicate_evidence.url IS 'The duplicate''s URL.';
COMMENT ON COLUMN duplicate_evidence.title IS 'The duplicate''s title.';
COMMENT ON COLUMN duplicate_evidence.domain IS 'The duplicate''s domain.';
COMMENT ON COLUMN duplicate_evidence.duplicate_of IS 'The representative article (articles.duplicate_of).';
COMMENT ON COLUMN duplicate_evidence.representative_url IS 'The representative''s URL.';
COMMENT ON COLUMN duplicate_evidence.representative_title IS 'The representative''s title.';
COMMENT ON COLUMN duplicate_evidence.representative_domain IS 'The representative''s domain.';
COMMENT ON COLUMN duplicate_evidence.representative IS 'The article the evidence was checked against (equals duplicate_of; NULL if no evidence is recorded).';
COMMENT ON COLUMN duplicate_evidence.method IS 'exact or shingle_containment.';
COMMENT ON COLUMN duplicate_evidence.similarity IS 'Share of the smaller stripped text''s shingles found in the other (1.0 for exact).';
COMMENT ON COLUMN duplicate_evidence.length_ratio IS 'Smaller over larger stripped shingle set size.';
COMMENT ON COLUMN duplicate_evidence.fact_overlap IS 'Share of the smaller set of facts (numbers, names) found in the other, counting only the facts of sentences the two texts do not share verbatim (1 when either has fewer than 8).';
COMMENT ON COLUMN duplicate_evidence.novel_share IS 'Share of text in sentences the other never tells (smaller side); a site''s furniture is never counted as untold.';
COMMENT ON COLUMN duplicate_evidence.stripped_sentences IS 'Sentences left out of both texts as learned boilerplate.';
COMMENT ON COLUMN duplicate_evidence.rule IS 'Rule version that decided (legacy: decided on whole texts before migration 006).';
COMMENT ON COLUMN duplicate_evidence.decided_at IS 'When the link was decided.';
