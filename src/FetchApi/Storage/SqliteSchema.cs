namespace FetchApi.Storage;

/// <summary>
/// SQLite schema, one step per version; <c>PRAGMA user_version</c> records which one a file has, and the service
/// applies the missing steps on start, in one transaction. Steps are never edited once released: add a new one.
/// </summary>
public static class SqliteSchema
{
    public static readonly string[] Steps =
    [
        // 1: batches and their slots.
        """
        CREATE TABLE batches (
            seq          INTEGER PRIMARY KEY AUTOINCREMENT,
            id           TEXT    NOT NULL UNIQUE,
            status       INTEGER NOT NULL,
            created_at   INTEGER NOT NULL,
            started_at   INTEGER,
            completed_at INTEGER,
            options      TEXT    NOT NULL,
            headers      TEXT    NOT NULL,
            total        INTEGER NOT NULL,
            pending      INTEGER NOT NULL,
            fetched      INTEGER NOT NULL,
            failed       INTEGER NOT NULL,
            cancelled    INTEGER NOT NULL
        );
        CREATE INDEX batches_status ON batches (status, seq);
        CREATE INDEX batches_ended ON batches (completed_at) WHERE status IN (2, 3);

        CREATE TABLE slots (
            batch_seq      INTEGER NOT NULL REFERENCES batches (seq),
            idx            INTEGER NOT NULL,
            url            TEXT    NOT NULL,
            state          INTEGER NOT NULL DEFAULT 0,
            attempts       INTEGER NOT NULL DEFAULT 0,
            duration_ms    INTEGER,
            status_code    INTEGER,
            reason         TEXT,
            final_url      TEXT,
            redirects      INTEGER,
            content_type   TEXT,
            content_length INTEGER,
            sha256         TEXT,
            body           TEXT,
            error_code     INTEGER,
            error_message  TEXT,
            PRIMARY KEY (batch_seq, idx)
        ) WITHOUT ROWID;
        CREATE INDEX slots_state ON slots (batch_seq, state, idx);

        CREATE TABLE health (id INTEGER PRIMARY KEY, checked_at INTEGER NOT NULL);
        """,

        // 2: owners (API keys), idempotency keys, the order slots became final (event streams), callbacks.
        """
        ALTER TABLE batches ADD COLUMN owner TEXT;
        ALTER TABLE batches ADD COLUMN callback_url TEXT;
        ALTER TABLE batches ADD COLUMN callback_secret TEXT;
        ALTER TABLE batches ADD COLUMN callback_state INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE batches ADD COLUMN callback_attempts INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE batches ADD COLUMN callback_next_at INTEGER;
        CREATE INDEX batches_owner ON batches (owner, seq);
        CREATE INDEX batches_callbacks ON batches (callback_next_at) WHERE callback_state = 1;

        ALTER TABLE slots ADD COLUMN done_seq INTEGER;
        CREATE INDEX slots_done ON slots (batch_seq, done_seq) WHERE done_seq IS NOT NULL;

        CREATE TABLE idempotency (
            owner        TEXT    NOT NULL,
            key          TEXT    NOT NULL,
            request_hash TEXT    NOT NULL,
            batch_id     TEXT    NOT NULL,
            expires_at   INTEGER NOT NULL,
            PRIMARY KEY (owner, key)
        );
        CREATE INDEX idempotency_expiry ON idempotency (expires_at);

        CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO counters (name, value) VALUES ('done_seq', 0);
        """,

        // 3: one options column: the request headers move into the stored options (clients never see them).
        """
        UPDATE batches SET options = json_set(options, '$.headers', json(headers));
        ALTER TABLE batches DROP COLUMN headers;
        """,

        // 4: what options.extract read from a page (JSON).
        """
        ALTER TABLE slots ADD COLUMN extracted TEXT;
        """,

        // 5: slots in a rowid table, a batch's slots at consecutive keys (slot_id = batches.first_slot + idx), and no
        // index on the state (issue 16). A result is one seek by integer key; a POST appends at the end of the table;
        // the only index left is the order slots became final. The per-result index moves of slots_state (out of
        // pending, into the final state) and the counters row (the order is now counted per batch) are gone. Reads by
        // state scan the batch's key range, which the page size bounds.
        """
        ALTER TABLE batches ADD COLUMN first_slot INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE slots_v5 (
            slot_id        INTEGER PRIMARY KEY,
            batch_seq      INTEGER NOT NULL,
            idx            INTEGER NOT NULL,
            url            TEXT    NOT NULL,
            state          INTEGER NOT NULL DEFAULT 0,
            attempts       INTEGER NOT NULL DEFAULT 0,
            duration_ms    INTEGER,
            status_code    INTEGER,
            reason         TEXT,
            final_url      TEXT,
            redirects      INTEGER,
            content_type   TEXT,
            content_length INTEGER,
            sha256         TEXT,
            body           TEXT,
            error_code     INTEGER,
            error_message  TEXT,
            done_seq       INTEGER,
            extracted      TEXT
        );
        INSERT INTO slots_v5 (slot_id, batch_seq, idx, url, state, attempts, duration_ms, status_code, reason, final_url, redirects,
            content_type, content_length, sha256, body, error_code, error_message, done_seq, extracted)
        SELECT row_number() OVER (ORDER BY batch_seq, idx), batch_seq, idx, url, state, attempts, duration_ms, status_code, reason,
            final_url, redirects, content_type, content_length, sha256, body, error_code, error_message, done_seq, extracted
        FROM slots;
        UPDATE batches SET first_slot = f.first
        FROM (SELECT batch_seq, min(slot_id) AS first FROM slots_v5 GROUP BY batch_seq) AS f
        WHERE f.batch_seq = batches.seq;
        DROP TABLE slots;
        ALTER TABLE slots_v5 RENAME TO slots;
        CREATE INDEX slots_done ON slots (batch_seq, done_seq) WHERE done_seq IS NOT NULL;
        DROP TABLE counters;
        """,
    ];

    /// <summary>
    /// The last number in the order slots of the batch whose <c>seq</c> is <paramref name="seq"/> became final (0 before
    /// the first): the next final slot of that batch takes the one after it. One seek at the end of the batch's part of
    /// <c>slots_done</c>.
    /// </summary>
    public static string LastDone(string seq) =>
        $"(SELECT COALESCE(MAX(done_seq), 0) FROM slots WHERE batch_seq = {seq} AND done_seq IS NOT NULL)";

    /// <summary>
    /// The condition that keeps the slots after index <paramref name="after"/> of the batch that <paramref name="batch"/>
    /// (a condition on <c>batches</c>) names, as a range of <c>slot_id</c>: one seek, then a scan of the table itself.
    /// </summary>
    public static string SlotsOf(string batch, string after = "-1") =>
        $"slot_id > (SELECT first_slot FROM batches WHERE {batch}) + {after} " +
        $"AND slot_id < (SELECT first_slot + total FROM batches WHERE {batch})";

    public static int Version => Steps.Length;
}
