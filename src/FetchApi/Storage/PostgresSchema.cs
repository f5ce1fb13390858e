namespace FetchApi.Storage;

/// <summary>
/// PostgreSQL schema, one step per version; the <c>schema_version</c> table records which one a database has, and the
/// first node to start applies the missing steps under an advisory lock (the others wait, then find nothing to do).
/// Steps are never edited once released: add a new one.
/// </summary>
static class PostgresSchema
{
    public static readonly string[] Steps =
    [
        // 1: batches, slots with their leases, idempotency keys, counters, cluster-wide host holds, health, live nodes.
        """
        CREATE TABLE batches (
            seq               bigserial PRIMARY KEY,
            id                uuid     NOT NULL UNIQUE,
            owner             text,
            status            smallint NOT NULL,
            created_at        bigint   NOT NULL,
            started_at        bigint,
            completed_at      bigint,
            options           text     NOT NULL,
            total             integer  NOT NULL,
            pending           integer  NOT NULL,
            fetched           integer  NOT NULL,
            failed            integer  NOT NULL,
            cancelled         integer  NOT NULL,
            callback_url      text,
            callback_secret   text,
            callback_state    smallint NOT NULL DEFAULT 0,
            callback_attempts integer  NOT NULL DEFAULT 0,
            callback_next_at  bigint
        );
        CREATE INDEX batches_active ON batches (seq) WHERE status IN (0, 1);
        CREATE INDEX batches_owner ON batches (owner, seq);
        CREATE INDEX batches_ended ON batches (completed_at) WHERE status IN (2, 3);
        CREATE INDEX batches_callbacks ON batches (callback_next_at) WHERE callback_state = 1;

        CREATE TABLE slots (
            batch_seq      bigint   NOT NULL REFERENCES batches (seq) ON DELETE CASCADE,
            idx            integer  NOT NULL,
            url            text     NOT NULL,
            host           text     NOT NULL,
            state          smallint NOT NULL DEFAULT 0,
            attempts       integer  NOT NULL DEFAULT 0,
            duration_ms    bigint,
            status_code    integer,
            reason         text,
            final_url      text,
            redirects      integer,
            content_type   text,
            content_length bigint,
            sha256         text,
            body           text,
            error_code     smallint,
            error_message  text,
            done_seq       bigint,
            lease_owner    text,
            lease_until    bigint,
            PRIMARY KEY (batch_seq, idx)
        );
        CREATE INDEX slots_pending ON slots (batch_seq, idx) WHERE state = 0;
        CREATE INDEX slots_state ON slots (batch_seq, state, idx);
        CREATE INDEX slots_done ON slots (batch_seq, done_seq) WHERE done_seq IS NOT NULL;
        CREATE INDEX slots_leased ON slots (lease_owner) WHERE state = 0 AND lease_owner IS NOT NULL;

        CREATE TABLE idempotency (
            owner        text   NOT NULL,
            key          text   NOT NULL,
            request_hash text   NOT NULL,
            batch_id     uuid   NOT NULL,
            expires_at   bigint NOT NULL,
            PRIMARY KEY (owner, key)
        );
        CREATE INDEX idempotency_expiry ON idempotency (expires_at);

        CREATE TABLE counters (name text PRIMARY KEY, value bigint NOT NULL);
        INSERT INTO counters (name, value) VALUES ('done_seq', 0);

        CREATE TABLE host_holds (host text PRIMARY KEY, not_before bigint NOT NULL);

        CREATE TABLE health (node text PRIMARY KEY, checked_at bigint NOT NULL);

        CREATE TABLE nodes (node text PRIMARY KEY, seen_at bigint NOT NULL);
        """,

        // 2: what options.extract read from a page (JSON).
        """
        ALTER TABLE slots ADD COLUMN extracted text;
        """,

        // 3 (issue 23): leases apart from the slots, so that a slot row is written once (by its result), not three times
        // (lease, renewals, result); unlogged, since a lease lost with the server only means a slot fetched again. No
        // index on the state (each result moved its entry; reads by state scan the batch's key range, as on SQLite) nor on
        // a lease's owner (the table holds the fetches in flight: renewals scan it every 10 s). Never truncated by vacuum:
        // truncation takes an exclusive lock, and on a table with an insert and a delete per URL every statement queued
        // behind it (seconds, measured). Each
        // node process is an incarnation of its node id, alive while it holds a session advisory lock numbered lock_key.
        // A host's adaptive slow-down is recorded beside its Retry-After hold, so that it survives its owner.
        """
        DROP INDEX slots_leased;
        DROP INDEX slots_state;
        ALTER TABLE slots DROP COLUMN lease_owner, DROP COLUMN lease_until;
        CREATE UNLOGGED TABLE leases (
            batch_seq bigint  NOT NULL,
            idx       integer NOT NULL,
            host      text    NOT NULL,
            owner     text    NOT NULL,
            until     bigint  NOT NULL,
            PRIMARY KEY (batch_seq, idx)
        ) WITH (vacuum_truncate = false);
        ALTER TABLE nodes ADD COLUMN incarnation text, ADD COLUMN lock_key bigint;
        CREATE SEQUENCE node_locks MAXVALUE 2147483647 CYCLE;
        ALTER TABLE host_holds ADD COLUMN slow_down_ms bigint NOT NULL DEFAULT 0, ADD COLUMN slowed_at bigint, ADD COLUMN slowed_by text;
        """,
    ];

    public static int Version => Steps.Length;
}
