package dev.llmrelay.core.internal.jobs;

import dev.llmrelay.core.jobs.Job;
import dev.llmrelay.core.jobs.JobPage;
import dev.llmrelay.core.jobs.JobStatus;
import dev.llmrelay.core.jobs.JobStoreUnavailableException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import javax.sql.DataSource;

/**
 * The job table, in SQLite or PostgreSQL: one SQL text per operation, each a single atomic
 * statement on its own connection (autocommit), so that no operation depends on the isolation
 * level. Times are the database's clock ({@link Dialect#nowMillis}).
 *
 * <p>Fencing: a claim increments {@code attempts} and names the holder; every later write of that
 * run (renew, complete, release) matches id, holder and attempts, so a worker whose lease lapsed
 * and was claimed again writes nothing.
 *
 * <p>Thread-safe: it holds no connection between calls.
 */
final class JdbcJobStore {
  static final String TABLE = "llmrelay_jobs";
  private static final String LIST_COLUMNS =
      "id, status, endpoint, model, created_at, started_at, completed_at, expires_at, attempts,"
          + " cancel_requested_at, metadata, response_status, response_content_type, error_code, error_message";
  private static final int QUERY_TIMEOUT_SECONDS = 10;

  private final DataSource dataSource;
  private final Dialect dialect;
  private final String where;
  private final String now;

  JdbcJobStore(DataSource dataSource, Dialect dialect, String where) {
    this.dataSource = dataSource;
    this.dialect = dialect;
    this.where = where;
    this.now = dialect.nowMillis;
  }

  /** A claimed job: what the worker needs to run it and to fence its writes. */
  record Claim(String id, String endpoint, String model, String headers, byte[] body, int attempts, String holder) {}

  /** What a renewal found. */
  enum Renewal {
    RUNNING,
    CANCEL_REQUESTED,
    LOST
  }

  /** What one sweep changed. */
  record Sweep(int requeued, int exhausted, int cancelled, int expiredQueued, int expiredResults, int deleted) {}

  /** An inserted or found job row, with its request hash for the idempotency check. */
  record Inserted(Job job, boolean created, String requestHash) {}

  void createSchema() {
    run("create the job table", c -> {
      try (Statement s = c.createStatement()) {
        s.setQueryTimeout(QUERY_TIMEOUT_SECONDS);
        for (String sql : dialect.prepareDatabase()) {
          s.execute(sql);
        }
        // Instances starting together on a new database: CREATE ... IF NOT EXISTS is not safe
        // against itself in PostgreSQL, so they create it one after another.
        for (String sql : dialect.lockSchema()) {
          s.execute(sql);
        }
        try {
          for (String sql : dialect.schema()) {
            s.execute(sql);
          }
        } finally {
          for (String sql : dialect.unlockSchema()) {
            s.execute(sql);
          }
        }
      }
      return null;
    });
  }

  int countQueued() {
    return run("count queued jobs", c -> {
      try (PreparedStatement p = c.prepareStatement("SELECT COUNT(*) FROM " + TABLE + " WHERE status = 'queued'")) {
        try (ResultSet r = query(p)) {
          r.next();
          return r.getInt(1);
        }
      }
    });
  }

  Map<JobStatus, Long> countByStatus() {
    return run("count jobs", c -> {
      Map<JobStatus, Long> counts = new EnumMap<>(JobStatus.class);
      for (JobStatus s : JobStatus.values()) {
        counts.put(s, 0L);
      }
      try (PreparedStatement p = c.prepareStatement("SELECT status, COUNT(*) FROM " + TABLE + " GROUP BY status")) {
        try (ResultSet r = query(p)) {
          while (r.next()) {
            counts.put(JobStatus.fromWireName(r.getString(1)), r.getLong(2));
          }
        }
      }
      return counts;
    });
  }

  /**
   * Stores a queued job, unless the owner's idempotency key names one already: then that one is
   * returned with {@code created} false.
   */
  /**
   * Stores a queued job if fewer than {@code maxQueued} are queued, unless the owner's idempotency
   * key names one already: then that one is returned with {@code created} false. Null when the
   * queue is full (and the key, if any, names no job). The count and the insert are one step:
   * one statement in SQLite (one writer at a time), and under a transaction-scoped advisory lock
   * in PostgreSQL, so concurrent submissions cannot overshoot the limit.
   */
  Inserted insert(
      String id,
      String owner,
      String endpoint,
      String model,
      String headers,
      byte[] body,
      String requestHash,
      String metadata,
      String idempotencyKey,
      long maxQueueMillis,
      int maxQueued) {
    return run("store the job", c -> {
      String sql =
          "INSERT INTO " + TABLE + " (id, owner, status, endpoint, model, request_headers, request_body,"
              + " request_hash, metadata, idempotency_key, created_at, expires_at, attempts)"
              + " SELECT ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, " + now + ", " + now + " + ?, 0"
              + " WHERE (SELECT COUNT(*) FROM " + TABLE + " WHERE status = 'queued') < ?"
              + " ON CONFLICT (owner, idempotency_key) DO NOTHING"
              + " RETURNING " + LIST_COLUMNS; // the job comes back from the statement that stored it
      boolean transaction = !dialect.lockQueue().isEmpty();
      if (transaction) {
        c.setAutoCommit(false);
      }
      try {
        if (transaction) {
          try (Statement lock = c.createStatement()) {
            lock.setQueryTimeout(QUERY_TIMEOUT_SECONDS);
            for (String statement : dialect.lockQueue()) {
              lock.execute(statement);
            }
          }
        }
        Inserted stored = null;
        try (PreparedStatement p = c.prepareStatement(sql)) {
          p.setQueryTimeout(QUERY_TIMEOUT_SECONDS);
          p.setString(1, id);
          p.setString(2, owner);
          p.setString(3, endpoint);
          p.setString(4, model);
          p.setString(5, headers);
          p.setBytes(6, body);
          p.setString(7, requestHash);
          p.setString(8, metadata);
          p.setString(9, idempotencyKey);
          p.setLong(10, maxQueueMillis);
          p.setInt(11, maxQueued);
          try (ResultSet r = query(p)) {
            if (r.next()) {
              stored = new Inserted(job(r, false), true, requestHash);
            }
          }
        }
        if (transaction) {
          c.commit();
        }
        if (stored != null) {
          return stored;
        }
      } catch (SQLException e) {
        if (transaction) {
          c.rollback();
        }
        throw e;
      } finally {
        if (transaction) {
          c.setAutoCommit(true);
        }
      }
      if (idempotencyKey == null) {
        return null; // the queue is full
      }
      try (PreparedStatement p =
          c.prepareStatement("SELECT id, request_hash FROM " + TABLE + " WHERE owner = ? AND idempotency_key = ?")) {
        p.setString(1, owner);
        p.setString(2, idempotencyKey);
        try (ResultSet r = query(p)) {
          if (!r.next()) {
            return null; // not a conflict: the queue is full
          }
          String existing = r.getString(1);
          String hash = r.getString(2);
          return new Inserted(selectOne(c, "id = ? AND owner = ?", existing, owner, false).orElseThrow(), false, hash);
        }
      }
    });
  }

  /** Claims the oldest queued job that has not expired, or returns null. */
  Claim claimNext(String holder, long leaseMillis) {
    return claim(
        "id = (SELECT id FROM " + TABLE + " WHERE status = 'queued'"
            + " AND (started_at IS NOT NULL OR expires_at > " + now + ")"
            + " ORDER BY " + dialect.seq + " LIMIT 1" + dialect.skipLocked + ")",
        holder,
        leaseMillis,
        null);
  }

  /** Claims this queued job, or returns null when it is not queued any more. */
  Claim claimById(String id, String holder, long leaseMillis) {
    return claim("id = ?", holder, leaseMillis, id);
  }

  private Claim claim(String selection, String holder, long leaseMillis, String id) {
    return run("claim a job", c -> {
      String sql =
          "UPDATE " + TABLE + " SET status = 'in_progress', attempts = attempts + 1, lease_owner = ?,"
              + " lease_expires_at = " + now + " + ?, started_at = COALESCE(started_at, " + now + ")"
              + " WHERE " + selection + " AND status = 'queued'"
              + " RETURNING id, endpoint, model, request_headers, request_body, attempts";
      try (PreparedStatement p = c.prepareStatement(sql)) {
        p.setString(1, holder);
        p.setLong(2, leaseMillis);
        if (id != null) {
          p.setString(3, id);
        }
        try (ResultSet r = query(p)) {
          if (!r.next()) {
            return null;
          }
          return new Claim(
              r.getString(1), r.getString(2), r.getString(3), r.getString(4), r.getBytes(5), r.getInt(6), holder);
        }
      }
    });
  }

  Renewal renew(Claim claim, long leaseMillis) {
    return run("renew a job lease", c -> {
      String sql =
          "UPDATE " + TABLE + " SET lease_expires_at = " + now + " + ?"
              + " WHERE id = ? AND lease_owner = ? AND attempts = ? AND status IN ('in_progress', 'cancelling')"
              + " RETURNING status";
      try (PreparedStatement p = c.prepareStatement(sql)) {
        p.setLong(1, leaseMillis);
        fence(p, 2, claim);
        try (ResultSet r = query(p)) {
          if (!r.next()) {
            return Renewal.LOST;
          }
          return "cancelling".equals(r.getString(1)) ? Renewal.CANCEL_REQUESTED : Renewal.RUNNING;
        }
      }
    });
  }

  /**
   * Writes the run's end, fenced: false when this worker no longer holds the job. A cancel asked
   * for meanwhile wins: the job becomes cancelled and the response is dropped.
   */
  boolean finish(
      Claim claim,
      JobStatus status,
      Integer responseStatus,
      String contentType,
      byte[] responseBody,
      String errorCode,
      String errorMessage,
      long ttlMillis) {
    return run("store the job's result", c -> {
      String sql =
          "UPDATE " + TABLE + " SET"
              + " response_status = CASE WHEN status = 'cancelling' THEN NULL ELSE ? END,"
              + " response_content_type = CASE WHEN status = 'cancelling' THEN NULL ELSE ? END,"
              + " response_body = CASE WHEN status = 'cancelling' THEN NULL ELSE ? END,"
              + " error_code = CASE WHEN status = 'cancelling' THEN 'job_cancelled' ELSE ? END,"
              + " error_message = CASE WHEN status = 'cancelling' THEN 'The job was cancelled.' ELSE ? END,"
              + " status = CASE WHEN status = 'cancelling' THEN 'cancelled' ELSE ? END,"
              + " completed_at = " + now + ", expires_at = " + now + " + ?,"
              + " lease_owner = NULL, lease_expires_at = NULL, request_body = NULL, request_headers = NULL"
              + " WHERE id = ? AND lease_owner = ? AND attempts = ? AND status IN ('in_progress', 'cancelling')";
      try (PreparedStatement p = c.prepareStatement(sql)) {
        p.setQueryTimeout(QUERY_TIMEOUT_SECONDS);
        if (responseStatus == null) {
          p.setNull(1, Types.INTEGER);
        } else {
          p.setInt(1, responseStatus);
        }
        p.setString(2, contentType);
        p.setBytes(3, responseBody);
        p.setString(4, errorCode);
        p.setString(5, errorMessage);
        p.setString(6, status.wireName());
        p.setLong(7, ttlMillis);
        fence(p, 8, claim);
        return p.executeUpdate() == 1;
      }
    });
  }

  /**
   * Gives a claimed job back without counting the claim (this instance is shutting down); a job
   * whose cancel was asked for becomes cancelled instead.
   */
  boolean release(Claim claim, long ttlMillis) {
    return run("give a job back", c -> {
      String sql =
          "UPDATE " + TABLE + " SET"
              + " error_code = CASE WHEN status = 'cancelling' THEN 'job_cancelled' ELSE error_code END,"
              + " error_message = CASE WHEN status = 'cancelling' THEN 'The job was cancelled.' ELSE error_message END,"
              + " completed_at = CASE WHEN status = 'cancelling' THEN " + now + " ELSE completed_at END,"
              + " expires_at = CASE WHEN status = 'cancelling' THEN " + now + " + ? ELSE expires_at END,"
              + " attempts = CASE WHEN status = 'cancelling' THEN attempts ELSE attempts - 1 END,"
              + " status = CASE WHEN status = 'cancelling' THEN 'cancelled' ELSE 'queued' END,"
              + " lease_owner = NULL, lease_expires_at = NULL"
              + " WHERE id = ? AND lease_owner = ? AND attempts = ? AND status IN ('in_progress', 'cancelling')";
      try (PreparedStatement p = c.prepareStatement(sql)) {
        p.setQueryTimeout(QUERY_TIMEOUT_SECONDS);
        p.setLong(1, ttlMillis);
        fence(p, 2, claim);
        return p.executeUpdate() == 1;
      }
    });
  }

  /**
   * Cancels: a queued job becomes cancelled at once (it never runs), a running one cancelling;
   * anything else is left as it is. Returns the job after the change, or empty when the owner has
   * no such job.
   */
  Optional<Job> cancel(String owner, String id, long ttlMillis) {
    return run("cancel the job", c -> {
      // One statement, so that nothing (a release back to the queue, say) can change the status
      // between deciding and writing.
      try (PreparedStatement p = c.prepareStatement(
          "UPDATE " + TABLE + " SET"
              + " cancel_requested_at = CASE WHEN status IN ('queued', 'in_progress') THEN " + now
              + " ELSE cancel_requested_at END,"
              + " completed_at = CASE WHEN status = 'queued' THEN " + now + " ELSE completed_at END,"
              + " expires_at = CASE WHEN status = 'queued' THEN " + now + " + ? ELSE expires_at END,"
              + " error_code = CASE WHEN status = 'queued' THEN 'job_cancelled' ELSE error_code END,"
              + " error_message = CASE WHEN status = 'queued' THEN 'The job was cancelled.' ELSE error_message END,"
              + " request_body = CASE WHEN status = 'queued' THEN NULL ELSE request_body END,"
              + " request_headers = CASE WHEN status = 'queued' THEN NULL ELSE request_headers END,"
              + " status = CASE WHEN status = 'queued' THEN 'cancelled'"
              + " WHEN status = 'in_progress' THEN 'cancelling' ELSE status END"
              + " WHERE id = ? AND owner = ?")) {
        p.setQueryTimeout(QUERY_TIMEOUT_SECONDS);
        p.setLong(1, ttlMillis);
        p.setString(2, id);
        p.setString(3, owner);
        p.executeUpdate();
      }
      return selectOne(c, "id = ? AND owner = ?", id, owner, false);
    });
  }

  /** The owner's job named by {@code idempotencyKey}, with its request hash; empty when none. */
  Optional<Inserted> findByKey(String owner, String idempotencyKey) {
    return run("read the job", c -> {
      try (PreparedStatement p =
          c.prepareStatement("SELECT id, request_hash FROM " + TABLE + " WHERE owner = ? AND idempotency_key = ?")) {
        p.setString(1, owner);
        p.setString(2, idempotencyKey);
        try (ResultSet r = query(p)) {
          if (!r.next()) {
            return Optional.empty();
          }
          String existing = r.getString(1);
          String hash = r.getString(2);
          return selectOne(c, "id = ? AND owner = ?", existing, owner, false).map(j -> new Inserted(j, false, hash));
        }
      }
    });
  }

  Optional<Job> get(String owner, String id, boolean withBody) {
    return run("read the job", c -> selectOne(c, "id = ? AND owner = ?", id, owner, withBody));
  }

  /** The job's status regardless of owner (for the worker's own bookkeeping). */
  Optional<Job> getAny(String id) {
    return run("read the job", c -> selectOne(c, "id = ?", id, null, true));
  }

  boolean delete(String owner, String id) {
    return run("delete the job", c -> {
      try (PreparedStatement p = c.prepareStatement("DELETE FROM " + TABLE + " WHERE id = ? AND owner = ?")) {
        p.setQueryTimeout(QUERY_TIMEOUT_SECONDS);
        p.setString(1, id);
        p.setString(2, owner);
        return p.executeUpdate() == 1;
      }
    });
  }

  JobPage list(String owner, int limit, String after, JobStatus status) {
    return run("list jobs", c -> {
      StringBuilder sql = new StringBuilder("SELECT " + LIST_COLUMNS + " FROM " + TABLE + " WHERE owner = ?");
      List<Object> args = new ArrayList<>();
      args.add(owner);
      if (status != null) {
        sql.append(" AND status = ?");
        args.add(status.wireName());
      }
      if (after != null) {
        Long cursor = null;
        try (PreparedStatement p = c.prepareStatement(
            "SELECT " + dialect.seq + " FROM " + TABLE + " WHERE id = ? AND owner = ?")) {
          p.setString(1, after);
          p.setString(2, owner);
          try (ResultSet r = query(p)) {
            if (r.next()) {
              cursor = r.getLong(1);
            }
          }
        }
        if (cursor == null) {
          return new JobPage(List.of(), false);
        }
        sql.append(" AND " + dialect.seq + " < ?");
        args.add(cursor);
      }
      sql.append(" ORDER BY " + dialect.seq + " DESC LIMIT ?");
      args.add(limit + 1);
      try (PreparedStatement p = c.prepareStatement(sql.toString())) {
        for (int i = 0; i < args.size(); i++) {
          p.setObject(i + 1, args.get(i));
        }
        List<Job> jobs = new ArrayList<>();
        try (ResultSet r = query(p)) {
          while (r.next()) {
            jobs.add(job(r, false));
          }
        }
        boolean more = jobs.size() > limit;
        return new JobPage(more ? jobs.subList(0, limit) : jobs, more);
      }
    });
  }

  /**
   * Housekeeping, in order: lapsed leases of jobs out of attempts fail, other lapsed leases are
   * re-queued, lapsed cancels end cancelled, jobs queued too long expire, finished jobs past their
   * TTL expire (their bodies are removed), and expired jobs past a second TTL are deleted.
   */
  Sweep sweep(int maxAttempts, long ttlMillis) {
    return run("sweep the job table", c -> {
      int exhausted = update(c,
          "UPDATE " + TABLE + " SET status = 'failed', error_code = 'job_attempts_exhausted',"
              + " error_message = 'The job was started ' || attempts || ' times and did not finish.',"
              + " completed_at = " + now + ", expires_at = " + now + " + ?, lease_owner = NULL, lease_expires_at = NULL,"
              + " request_body = NULL, request_headers = NULL"
              + " WHERE status = 'in_progress' AND lease_expires_at < " + now + " AND attempts >= ?",
          ttlMillis, maxAttempts);
      int requeued = update(c,
          "UPDATE " + TABLE + " SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL"
              + " WHERE status = 'in_progress' AND lease_expires_at < " + now);
      int cancelled = update(c,
          "UPDATE " + TABLE + " SET status = 'cancelled', error_code = 'job_cancelled',"
              + " error_message = 'The job was cancelled.', completed_at = " + now + ", expires_at = " + now + " + ?,"
              + " lease_owner = NULL, lease_expires_at = NULL, request_body = NULL, request_headers = NULL"
              + " WHERE status = 'cancelling' AND lease_expires_at < " + now,
          ttlMillis);
      int expiredQueued = update(c,
          "UPDATE " + TABLE + " SET status = 'expired', error_code = 'job_expired',"
              + " error_message = 'The job did not start before it expired.', completed_at = " + now + ","
              + " expires_at = " + now + " + ?, request_body = NULL, request_headers = NULL"
              + " WHERE status = 'queued' AND started_at IS NULL AND expires_at <= " + now,
          ttlMillis);
      int expiredResults = update(c,
          "UPDATE " + TABLE + " SET status = 'expired', error_code = 'job_expired',"
              + " error_message = 'The job''s result expired.', expires_at = " + now + " + ?,"
              + " response_body = NULL, request_body = NULL, request_headers = NULL"
              + " WHERE status IN ('completed', 'failed', 'cancelled') AND expires_at <= " + now,
          ttlMillis);
      int deleted = update(c, "DELETE FROM " + TABLE + " WHERE status = 'expired' AND expires_at <= " + now);
      return new Sweep(requeued, exhausted, cancelled, expiredQueued, expiredResults, deleted);
    });
  }

  private static int update(Connection c, String sql, Object... args) throws SQLException {
    try (PreparedStatement p = c.prepareStatement(sql)) {
      p.setQueryTimeout(QUERY_TIMEOUT_SECONDS);
      for (int i = 0; i < args.length; i++) {
        p.setObject(i + 1, args[i]);
      }
      return p.executeUpdate();
    }
  }

  private static void fence(PreparedStatement p, int first, Claim claim) throws SQLException {
    p.setString(first, claim.id());
    p.setString(first + 1, claim.holder());
    p.setInt(first + 2, claim.attempts());
  }

  private Optional<Job> selectOne(Connection c, String condition, String id, String owner, boolean withBody)
      throws SQLException {
    String columns = LIST_COLUMNS + (withBody ? ", response_body" : "");
    try (PreparedStatement p = c.prepareStatement("SELECT " + columns + " FROM " + TABLE + " WHERE " + condition)) {
      p.setString(1, id);
      if (owner != null) {
        p.setString(2, owner);
      }
      try (ResultSet r = query(p)) {
        return r.next() ? Optional.of(job(r, withBody)) : Optional.empty();
      }
    }
  }

  private static ResultSet query(PreparedStatement p) throws SQLException {
    p.setQueryTimeout(QUERY_TIMEOUT_SECONDS);
    return p.executeQuery();
  }

  private static Job job(ResultSet r, boolean withBody) throws SQLException {
    int responseStatus = r.getInt("response_status");
    boolean hasResponse = !r.wasNull();
    Job.Response response =
        hasResponse
            ? new Job.Response(responseStatus, r.getString("response_content_type"), withBody ? r.getBytes("response_body") : null)
            : null;
    String errorCode = r.getString("error_code");
    return new Job(
        r.getString("id"),
        JobStatus.fromWireName(r.getString("status")),
        r.getString("endpoint"),
        r.getString("model"),
        instant(r, "created_at"),
        instant(r, "started_at"),
        instant(r, "completed_at"),
        instant(r, "expires_at"),
        r.getInt("attempts"),
        instant(r, "cancel_requested_at"),
        r.getString("metadata"),
        response,
        errorCode == null ? null : new Job.Error(errorCode, r.getString("error_message")));
  }

  private static Instant instant(ResultSet r, String column) throws SQLException {
    long ms = r.getLong(column);
    return r.wasNull() ? null : Instant.ofEpochMilli(ms);
  }

  @FunctionalInterface
  interface SqlWork<T> {
    T apply(Connection c) throws SQLException;
  }

  private <T> T run(String what, SqlWork<T> work) {
    try (Connection c = dataSource.getConnection()) {
      dialect.initConnection(c);
      return work.apply(c);
    } catch (SQLException e) {
      throw new JobStoreUnavailableException("could not " + what + " in " + where + ": " + e.getMessage(), e);
    }
  }
}
