-- Tenant billing portal: sign-in links and sessions; see the PostgreSQL migration for the why.
-- Instants are integer microseconds (see store/codec.rs).
create table portal_login_token (
    tenant_id text not null,
    token_hash text not null,
    email text not null,
    expires_at integer not null,
    used_at integer,
    created_at integer not null,
    primary key (tenant_id, token_hash)
);
create index portal_login_token_by_hash on portal_login_token (token_hash);

create table portal_session (
    tenant_id text not null,
    session_hash text not null,
    email text not null,
    expires_at integer not null,
    revoked_at integer,
    created_at integer not null,
    primary key (tenant_id, session_hash)
);
