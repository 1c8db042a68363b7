-- When the engine last sent RegisterTaskDefinition for a deploy. Set before the call, so a
-- restarted engine knows whether a tagged revision from an earlier attempt may exist and
-- needs looking for; a deploy that never got that far skips the search.
ALTER TABLE deploys ADD COLUMN register_attempted_at INTEGER;
