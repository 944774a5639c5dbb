package dev.llmrelay.core.internal.jobs;

import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.Driver;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.util.Properties;
import java.util.logging.Logger;
import javax.sql.DataSource;

/**
 * A {@link DataSource} over the JDBC driver that accepts a URL, one new connection per call (no
 * pool: the job store's traffic is a few statements per job; embedders with a pool pass their own
 * DataSource). The driver is looked up once, so that a missing driver is reported at start-up.
 */
final class DriverDataSource implements DataSource {
  private final String url;
  private final Driver driver;
  private final Properties properties;

  DriverDataSource(String url, String user, String password, Driver driver) {
    this.url = url;
    this.driver = driver;
    this.properties = new Properties();
    if (user != null) {
      properties.setProperty("user", user);
    }
    if (password != null) {
      properties.setProperty("password", password);
    }
    if (url.startsWith("jdbc:postgresql:")) {
      // A database that accepts connections but never answers (a hung server, a pooler with a dead
      // backend, a partition mid-query) must not block a store call forever: a query timeout only
      // asks the server to cancel, it cannot end a socket read. Defaults, unless the URL sets them.
      defaultUnlessInUrl(url, "connectTimeout", "10");
      defaultUnlessInUrl(url, "loginTimeout", "10");
      defaultUnlessInUrl(url, "socketTimeout", "30");
      defaultUnlessInUrl(url, "tcpKeepAlive", "true");
      defaultUnlessInUrl(url, "ApplicationName", "llmrelay-jobs");
    }
  }

  private void defaultUnlessInUrl(String url, String name, String value) {
    if (!url.toLowerCase(java.util.Locale.ROOT).contains(name.toLowerCase(java.util.Locale.ROOT) + "=")) {
      properties.setProperty(name, value);
    }
  }

  /** The driver for {@code url}, or a clear error naming the artifact to add. */
  static Driver driverFor(String url, String redactedUrl) {
    try {
      return DriverManager.getDriver(url);
    } catch (SQLException none) {
      String artifact = url.startsWith("jdbc:sqlite:") ? "org.xerial:sqlite-jdbc" : "org.postgresql:postgresql";
      throw new IllegalStateException(
          "JOB_STORE_URL " + redactedUrl + ": no JDBC driver for it on the class path (add " + artifact + ")", none);
    }
  }

  @Override
  public Connection getConnection() throws SQLException {
    Connection c = driver.connect(url, properties);
    if (c == null) {
      throw new SQLException("the driver refused the URL");
    }
    return c;
  }

  @Override
  public Connection getConnection(String user, String password) throws SQLException {
    Properties p = new Properties();
    p.putAll(properties);
    p.setProperty("user", user);
    p.setProperty("password", password);
    return driver.connect(url, p);
  }

  @Override
  public PrintWriter getLogWriter() {
    return null;
  }

  @Override
  public void setLogWriter(PrintWriter out) {}

  @Override
  public void setLoginTimeout(int seconds) {}

  @Override
  public int getLoginTimeout() {
    return 0;
  }

  @Override
  public Logger getParentLogger() throws SQLFeatureNotSupportedException {
    throw new SQLFeatureNotSupportedException();
  }

  @Override
  public <T> T unwrap(Class<T> iface) throws SQLException {
    if (iface.isInstance(this)) {
      return iface.cast(this);
    }
    throw new SQLException("not a wrapper for " + iface);
  }

  @Override
  public boolean isWrapperFor(Class<?> iface) {
    return iface.isInstance(this);
  }
}
