package dev.llmrelay.core.internal.jobs;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;

/**
 * What differs between the two job stores: column types, the database clock, row locking, and
 * per-connection settings. Everything else is one SQL text.
 */
enum Dialect {
  /**
   * Embedded. One writer at a time (the claim is a single UPDATE, atomic by itself); the process
   * clock is the database clock. WAL with synchronous=FULL, so an acknowledged commit survives a
   * power cut, and a busy timeout so concurrent writers wait instead of failing.
   */
  SQLITE("BLOB", "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)", "", "", "rowid") {
    @Override
    void initConnection(Connection c) throws SQLException {
      try (Statement s = c.createStatement()) {
        s.execute("PRAGMA busy_timeout = 10000");
        s.execute("PRAGMA synchronous = FULL");
      }
    }

    @Override
    List<String> prepareDatabase() {
      return List.of("PRAGMA journal_mode = WAL");
    }

    @Override
    List<String> lockSchema() {
      return List.of(); // one writer at a time anyway
    }

    @Override
    List<String> unlockSchema() {
      return List.of();
    }

    @Override
    List<String> migrations() {
      return List.of();
    }

    @Override
    List<String> lockQueue() {
      return List.of(); // the insert is one statement, and SQLite has one writer at a time
    }
  },
  /**
   * Shared. Claims skip rows another instance has locked; every time (leases included) is the
   * database server's clock, so instances with skewed clocks agree.
   */
  POSTGRES(
      "BYTEA",
      "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
      " FOR UPDATE SKIP LOCKED",
      "seq BIGSERIAL NOT NULL,",
      "seq") {
    @Override
    void initConnection(Connection c) {}

    @Override
    List<String> prepareDatabase() {
      return List.of();
    }

    @Override
    List<String> lockSchema() {
      return List.of("SELECT pg_advisory_lock(" + SCHEMA_LOCK + ")");
    }

    @Override
    List<String> unlockSchema() {
      return List.of("SELECT pg_advisory_unlock(" + SCHEMA_LOCK + ")");
    }

    @Override
    List<String> lockQueue() {
      return List.of("SELECT pg_advisory_xact_lock(" + QUEUE_LOCK + ")");
    }

    @Override
    List<String> migrations() {
      // A table made before the insertion-order column existed.
      return List.of("ALTER TABLE llmrelay_jobs ADD COLUMN IF NOT EXISTS seq BIGSERIAL");
    }
  };

  /** The advisory lock key under which instances create the table one at a time. */
  private static final long SCHEMA_LOCK = 0x6c6c6d6a6f6273L; // "llmjobs"
  /** The advisory lock key under which submissions count the queue and insert, one at a time. */
  private static final long QUEUE_LOCK = 0x6c6c6d71756575L; // "llmqueu"

  final String blobType;
  /** An SQL expression: the database clock in epoch milliseconds. */
  final String nowMillis;
  /** Appended to the claim's row selection. */
  final String skipLocked;
  /** The column that numbers rows in insertion order, in the table's definition (SQLite: none). */
  final String seqColumn;
  /**
   * Insertion order, for "oldest first" claims and "newest first" lists: timestamps tie within a
   * millisecond and ids are random. SQLite's rowid grows with each insert (a reused rowid is one
   * whose row is gone); PostgreSQL gets a sequence.
   */
  final String seq;

  Dialect(String blobType, String nowMillis, String skipLocked, String seqColumn, String seq) {
    this.blobType = blobType;
    this.nowMillis = nowMillis;
    this.skipLocked = skipLocked;
    this.seqColumn = seqColumn;
    this.seq = seq;
  }

  abstract void initConnection(Connection c) throws SQLException;

  abstract List<String> prepareDatabase();

  /** Statements that make concurrent schema creation safe (taken before it). */
  abstract List<String> lockSchema();

  /** Statements that undo {@link #lockSchema()}. */
  abstract List<String> unlockSchema();

  /** Statements, in a transaction, that make counting the queue and inserting one step. */
  abstract List<String> lockQueue();

  /** Changes to a table an earlier version created, run after CREATE TABLE IF NOT EXISTS. */
  abstract List<String> migrations();

  static Dialect forUrl(String url) {
    if (url.startsWith("jdbc:sqlite:")) {
      return SQLITE;
    }
    if (url.startsWith("jdbc:postgresql:")) {
      return POSTGRES;
    }
    throw new IllegalArgumentException("JOB_STORE_URL must start with jdbc:sqlite: or jdbc:postgresql:");
  }

  List<String> schema() {
    List<String> statements = new java.util.ArrayList<>();
    statements.add(
        "CREATE TABLE IF NOT EXISTS llmrelay_jobs ("
            + "id VARCHAR(64) PRIMARY KEY,"
            + seqColumn
            + "owner VARCHAR(128) NOT NULL,"
            + "status VARCHAR(16) NOT NULL,"
            + "endpoint VARCHAR(64) NOT NULL,"
            + "model TEXT,"
            + "request_headers TEXT,"
            + "request_body " + blobType + ","
            + "request_hash VARCHAR(64) NOT NULL,"
            + "metadata TEXT,"
            + "idempotency_key VARCHAR(256),"
            + "created_at BIGINT NOT NULL,"
            + "started_at BIGINT,"
            + "completed_at BIGINT,"
            + "expires_at BIGINT NOT NULL,"
            + "attempts INTEGER NOT NULL DEFAULT 0,"
            + "cancel_requested_at BIGINT,"
            + "lease_owner VARCHAR(256),"
            + "lease_expires_at BIGINT,"
            + "response_status INTEGER,"
            + "response_content_type TEXT,"
            + "response_body " + blobType + ","
            + "error_code VARCHAR(64),"
            + "error_message TEXT,"
            + "UNIQUE (owner, idempotency_key))");
    statements.addAll(migrations());
    statements.addAll(List.of(
        // An SQLite index ends with the rowid by itself (and may not name it).
        "CREATE INDEX IF NOT EXISTS llmrelay_jobs_queue_seq ON llmrelay_jobs (status" + (seqColumn.isEmpty() ? "" : ", " + seq) + ")",
        "CREATE INDEX IF NOT EXISTS llmrelay_jobs_owner_seq ON llmrelay_jobs (owner" + (seqColumn.isEmpty() ? "" : ", " + seq) + ")"));
    return statements;
  }
}
