-- Tenant billing portal (DESIGN §11): single-use sign-in links and server-side sessions.
-- Only SHA-256 hashes of the secrets are stored (hex), so a read of this database (a backup,
-- a replica) cannot sign anyone in. Keys start with tenant_id like every tenant table.

-- A magic link: minted when the outbox worker sends the sign-in email (or by
-- `tally portal-link`), consumed once by `GET /portal/auth` (used_at set atomically).
create table portal_login_token (
    tenant_id text not null,
    token_hash text not null,
    email text not null,
    expires_at timestamptz not null,
    used_at timestamptz,
    created_at timestamptz not null,
    primary key (tenant_id, token_hash)
);
-- The link carries only the token, so consuming it looks it up by hash alone.
create index portal_login_token_by_hash on portal_login_token (token_hash);

-- A signed-in browser: the cookie holds `<tenant>.<secret>`; revoked on logout.
create table portal_session (
    tenant_id text not null,
    session_hash text not null,
    email text not null,
    expires_at timestamptz not null,
    revoked_at timestamptz,
    created_at timestamptz not null,
    primary key (tenant_id, session_hash)
);
