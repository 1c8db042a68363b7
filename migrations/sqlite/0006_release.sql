-- Release management: who made a change (for the self-approval rule) and who decided a gate.

-- The pusher's and the commits' authors' emails and GitHub logins, lowercased, as a JSON
-- array: a release manager may not approve a change that is theirs.
ALTER TABLE runs ADD COLUMN authors TEXT NOT NULL DEFAULT '[]';

-- The person behind a decision (an email, a personal token's owner, or a service token's id),
-- so that "N approvals" counts people, not sessions or tokens.
ALTER TABLE gate_decisions ADD COLUMN person TEXT;
