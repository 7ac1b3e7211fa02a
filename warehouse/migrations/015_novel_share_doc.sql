-- A sentence a site has shown under another story is that site's furniture, not text the
-- article tells anew (tasks/boilerplate.novel_share): the column's description says so.
COMMENT ON COLUMN duplicate_links.novel_share IS 'Share of the text in sentences the other does not tell (the smaller of the two texts'' shares); a sentence its site has shown under another story is the site''s furniture and never counted as untold.';
