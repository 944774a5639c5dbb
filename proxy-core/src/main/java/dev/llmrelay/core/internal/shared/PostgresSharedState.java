package dev.llmrelay.core.internal.shared;

import dev.llmrelay.core.internal.Threads;
import dev.llmrelay.core.shared.SharedState;
import java.sql.Connection;
import java.sql.Driver;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * Shared state in PostgreSQL: permits are rows with an expiry, hints rows with an end, every time
 * the server's {@code clock_timestamp()}. Acquiring takes a transaction-scoped advisory lock, so
 * concurrent acquirers on several instances count one after another and the cap holds exactly.
 *
 * <p>One connection, used by one thread ({@code llmrelay-shared-pg}), opened lazily and again
 * after any failure: a handful of short statements per request need no pool, and calls queue
 * rather than open connections. Each statement runs under {@code statement_timeout}; callers bound
 * the whole call as well. Thread-safe.
 */
public final class PostgresSharedState implements SharedState {
  private static final long LOCK_KEY = 0x6c6c6d72656c6179L; // "llmrelay"
  private final String url;
  private final Properties properties = new Properties();
  private final Duration timeout;
  private final ExecutorService thread = Executors.newSingleThreadExecutor(Threads.daemonFactory("llmrelay-shared-pg-"));
  private Connection connection; // only the thread
  private boolean schemaReady; // only the thread

  public PostgresSharedState(String url, String user, String password, Duration timeout) {
    this.url = url;
    this.timeout = timeout;
    if (user != null) {
      properties.setProperty("user", user);
    }
    if (password != null) {
      properties.setProperty("password", password);
    }
    long seconds = Math.max(1, (timeout.toMillis() + 999) / 1000);
    properties.setProperty("connectTimeout", Long.toString(seconds));
    properties.setProperty("loginTimeout", Long.toString(seconds));
    properties.setProperty("socketTimeout", Long.toString(Math.max(5, seconds * 4)));
    properties.setProperty("tcpKeepAlive", "true");
    properties.setProperty("ApplicationName", "llmrelay");
  }

  @FunctionalInterface
  private interface Work<T> {
    T run(Connection c) throws SQLException;
  }

  private <T> CompletionStage<T> submit(Work<T> work) {
    CompletableFuture<T> result = new CompletableFuture<>();
    try {
      thread.execute(() -> {
        try {
          Connection c = connection();
          result.complete(work.run(c));
        } catch (SQLException | RuntimeException e) {
          drop();
          result.completeExceptionally(e);
        }
      });
    } catch (java.util.concurrent.RejectedExecutionException closed) {
      result.completeExceptionally(new IllegalStateException("closed"));
    }
    return result;
  }

  private Connection connection() throws SQLException {
    if (connection == null || connection.isClosed()) {
      Driver driver = DriverManager.getDriver(url);
      Connection c = driver.connect(url, properties);
      try (Statement s = c.createStatement()) {
        s.execute("SET statement_timeout = " + Math.max(1, timeout.toMillis()));
      }
      connection = c;
    }
    if (!schemaReady) {
      try (Statement s = connection.createStatement()) {
        s.execute("SELECT pg_advisory_lock(" + LOCK_KEY + ")"); // two instances creating at once
        try {
          s.execute("CREATE TABLE IF NOT EXISTS llmrelay_permits (lease_id TEXT PRIMARY KEY, expires_at TIMESTAMPTZ NOT NULL)");
          s.execute("CREATE TABLE IF NOT EXISTS llmrelay_route_hints (route TEXT PRIMARY KEY, open_until TIMESTAMPTZ NOT NULL)");
        } finally {
          s.execute("SELECT pg_advisory_unlock(" + LOCK_KEY + ")");
        }
      }
      schemaReady = true;
    }
    return connection;
  }

  private void drop() {
    Connection c = connection;
    connection = null;
    if (c != null) {
      try {
        c.close();
      } catch (SQLException ignored) {
        // it is broken anyway
      }
    }
  }

  @Override
  public CompletionStage<Boolean> tryAcquire(String leaseId, int limit, Duration lease) {
    return submit(c -> {
      c.setAutoCommit(false);
      try {
        try (Statement s = c.createStatement()) {
          s.execute("SELECT pg_advisory_xact_lock(" + LOCK_KEY + ")");
          s.execute("DELETE FROM llmrelay_permits WHERE expires_at <= clock_timestamp()");
        }
        int inserted;
        try (PreparedStatement p = c.prepareStatement(
            "INSERT INTO llmrelay_permits (lease_id, expires_at)"
                + " SELECT ?, clock_timestamp() + ? * INTERVAL '1 millisecond'"
                + " WHERE (SELECT COUNT(*) FROM llmrelay_permits) < ?")) {
          p.setString(1, leaseId);
          p.setLong(2, lease.toMillis());
          p.setInt(3, limit);
          inserted = p.executeUpdate();
        }
        c.commit();
        return inserted == 1;
      } catch (SQLException e) {
        c.rollback();
        throw e;
      } finally {
        c.setAutoCommit(true);
      }
    });
  }

  @Override
  public CompletionStage<Boolean> renew(String leaseId, Duration lease) {
    return submit(c -> {
      try (PreparedStatement p = c.prepareStatement(
          "UPDATE llmrelay_permits SET expires_at = clock_timestamp() + ? * INTERVAL '1 millisecond'"
              + " WHERE lease_id = ? AND expires_at > clock_timestamp()")) {
        p.setLong(1, lease.toMillis());
        p.setString(2, leaseId);
        return p.executeUpdate() == 1;
      }
    });
  }

  @Override
  public CompletionStage<Void> release(String leaseId) {
    return submit(c -> {
      try (PreparedStatement p = c.prepareStatement("DELETE FROM llmrelay_permits WHERE lease_id = ?")) {
        p.setString(1, leaseId);
        p.executeUpdate();
        return null;
      }
    });
  }

  @Override
  public CompletionStage<Integer> held() {
    return submit(c -> {
      try (Statement s = c.createStatement();
          ResultSet r = s.executeQuery("SELECT COUNT(*) FROM llmrelay_permits WHERE expires_at > clock_timestamp()")) {
        r.next();
        return r.getInt(1);
      }
    });
  }

  @Override
  public CompletionStage<Void> publishOpenRoute(String route, Duration openFor) {
    return submit(c -> {
      try (PreparedStatement p = c.prepareStatement(
          "INSERT INTO llmrelay_route_hints (route, open_until)"
              + " VALUES (?, clock_timestamp() + ? * INTERVAL '1 millisecond')"
              + " ON CONFLICT (route) DO UPDATE SET open_until ="
              + " GREATEST(llmrelay_route_hints.open_until, EXCLUDED.open_until)")) {
        p.setString(1, route);
        p.setLong(2, openFor.toMillis());
        p.executeUpdate();
        return null;
      }
    });
  }

  @Override
  public CompletionStage<Map<String, Duration>> openRoutes() {
    return submit(c -> {
      Map<String, Duration> open = new HashMap<>();
      try (Statement s = c.createStatement();
          ResultSet r = s.executeQuery(
              "SELECT route, CAST(EXTRACT(EPOCH FROM (open_until - clock_timestamp())) * 1000 AS BIGINT)"
                  + " FROM llmrelay_route_hints WHERE open_until > clock_timestamp()")) {
        while (r.next()) {
          open.put(r.getString(1), Duration.ofMillis(r.getLong(2)));
        }
      }
      return open;
    });
  }

  @Override
  public void close() {
    thread.execute(this::drop);
    thread.shutdown();
    try {
      if (!thread.awaitTermination(5, TimeUnit.SECONDS)) {
        thread.shutdownNow();
      }
    } catch (InterruptedException e) {
      thread.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }
}
