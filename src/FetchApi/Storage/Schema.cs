namespace FetchApi.Storage;

/// <summary>SQLite schema, one constant per version; <c>PRAGMA user_version</c> records which one a file has.</summary>
static class Schema
{
    public const string V1 = """
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
        """;
}
