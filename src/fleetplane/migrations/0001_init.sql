-- Initial schema. Portable SQL: TEXT timestamps (fixed-width UTC RFC 3339, so
-- lexical order is time order), JSON kept as TEXT, booleans as INTEGER.

CREATE TABLE issuers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE owners (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT
);

CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE renewal_policies (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    renew_before_days INTEGER NOT NULL,
    validity_days INTEGER NOT NULL
);

-- acme_id is the {id} of /acme/profile/{id}/...
CREATE TABLE profiles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    acme_id TEXT NOT NULL UNIQUE
);

CREATE TABLE certificates (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    common_name TEXT NOT NULL,
    sans TEXT NOT NULL,
    environment TEXT,
    owner_id TEXT NOT NULL,
    team_id TEXT NOT NULL,
    issuer_id TEXT NOT NULL,
    renewal_policy_id TEXT NOT NULL,
    profile_id TEXT,
    status TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    tags TEXT NOT NULL,
    run_id TEXT,
    serial_hex TEXT NOT NULL,
    aki_hex TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_renewed_at TEXT
);

CREATE INDEX certificates_status_idx ON certificates (status);
CREATE INDEX certificates_expires_idx ON certificates (expires_at, id);
CREATE INDEX certificates_created_idx ON certificates (created_at, id);
CREATE INDEX certificates_owner_idx ON certificates (owner_id);
CREATE INDEX certificates_team_idx ON certificates (team_id);
CREATE INDEX certificates_issuer_idx ON certificates (issuer_id);
CREATE INDEX certificates_run_idx ON certificates (run_id);
CREATE UNIQUE INDEX certificates_ari_idx ON certificates (serial_hex, aki_hex);

-- status: Active | Pending (awaiting approval) | Retired. Online/Offline is
-- derived from last_heartbeat_at when read.
CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    hostname TEXT NOT NULL,
    os TEXT,
    architecture TEXT,
    version TEXT,
    labels TEXT NOT NULL,
    run_id TEXT,
    status TEXT NOT NULL,
    transport TEXT NOT NULL,
    public_key_hex TEXT,
    token_hash TEXT UNIQUE,
    registered_at TEXT NOT NULL,
    last_heartbeat_at TEXT,
    retired_at TEXT,
    heartbeat_count BIGINT NOT NULL DEFAULT 0,
    pushes_sent BIGINT NOT NULL DEFAULT 0,
    task_results BIGINT NOT NULL DEFAULT 0,
    task_failures BIGINT NOT NULL DEFAULT 0,
    check_results BIGINT NOT NULL DEFAULT 0,
    check_failures BIGINT NOT NULL DEFAULT 0,
    inventory_packages BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX agents_run_idx ON agents (run_id);
CREATE INDEX agents_heartbeat_idx ON agents (status, last_heartbeat_at);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    certificate_id TEXT,
    agent_id TEXT,
    status TEXT NOT NULL,
    message TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_by TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    started_at TEXT,
    completed_at TEXT
);

CREATE INDEX jobs_status_idx ON jobs (status, created_at, id);
CREATE INDEX jobs_agent_idx ON jobs (agent_id, status);
CREATE INDEX jobs_certificate_idx ON jobs (certificate_id);
CREATE INDEX jobs_created_idx ON jobs (created_at, id);

INSERT INTO issuers (id, name) VALUES ('iss-local', 'Local development CA') ON CONFLICT DO NOTHING;
INSERT INTO owners (id, name, email) VALUES ('o-alice', 'Alice', 'alice@example.com') ON CONFLICT DO NOTHING;
INSERT INTO teams (id, name) VALUES ('t-platform', 'Platform') ON CONFLICT DO NOTHING;
INSERT INTO renewal_policies (id, name, renew_before_days, validity_days) VALUES ('rp-standard', 'Standard (renew 30 days before, 90 day validity)', 30, 90) ON CONFLICT DO NOTHING;
INSERT INTO profiles (id, name, acme_id) VALUES ('prof-default', 'Default ACME profile', 'default') ON CONFLICT DO NOTHING;
