package dev.llmrelay.core.enginetests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.llmrelay.core.testing.PostgresEngine;
import dev.llmrelay.core.testing.RequiresPostgres;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The private PostgreSQL cluster that tests get: reachable, crash-safe, and gone when closed. */
@RequiresPostgres
class PostgresEngineTest {

  private static Connection connect(PostgresEngine pg, String url) throws SQLException {
    return DriverManager.getConnection(url, pg.user(), pg.password());
  }

  @Test
  void answersAJdbcConnectionOnLoopback(PostgresEngine pg) throws SQLException {
    String url = pg.createDatabase("engine_select_one");
    assertThat(url).isEqualTo("jdbc:postgresql://127.0.0.1:" + pg.port() + "/engine_select_one");

    try (Connection connection = connect(pg, url);
        Statement statement = connection.createStatement();
        ResultSet rs = statement.executeQuery("select 1, host(inet_server_addr()), current_database(), current_user")) {
      assertThat(rs.next()).isTrue();
      assertThat(rs.getInt(1)).isEqualTo(1);
      assertThat(rs.getString(2)).isEqualTo("127.0.0.1");
      assertThat(rs.getString(3)).isEqualTo("engine_select_one");
      assertThat(rs.getString(4)).isEqualTo(PostgresEngine.USER);
    }
  }

  @Test
  void refusesAWrongPassword(PostgresEngine pg) {
    assertThatThrownBy(() -> DriverManager.getConnection(pg.jdbcUrl(), pg.user(), "wrong").close())
        .isInstanceOf(SQLException.class)
        .hasMessageContaining("password authentication failed");
  }

  @Test
  void createDatabaseGivesAnEmptyOneEachTime(PostgresEngine pg) throws SQLException {
    String url = pg.createDatabase("engine_fresh");
    try (Connection connection = connect(pg, url); Statement statement = connection.createStatement()) {
      statement.execute("create table leftover (id int)");
    }
    // Connections still open to the old one do not stop it from being dropped.
    try (Connection stillOpen = connect(pg, url)) {
      pg.createDatabase("engine_fresh");
      assertThat(stillOpen.isValid(5)).as("the old database's connection, ended by the drop").isFalse();
    }
    try (Connection connection = connect(pg, url);
        Statement statement = connection.createStatement();
        ResultSet rs = statement.executeQuery("select to_regclass('leftover') is null")) {
      assertThat(rs.next()).isTrue();
      assertThat(rs.getBoolean(1)).as("the table of the dropped database is gone").isTrue();
    }
  }

  @Test
  void committedRowsSurviveAnImmediateStop(PostgresEngine pg) throws SQLException {
    String url = pg.createDatabase("engine_crash");
    int port = pg.port();
    try (Connection connection = connect(pg, url); Statement statement = connection.createStatement()) {
      statement.execute("create table jobs (id int primary key, status text not null)");
      statement.execute("insert into jobs values (1, 'queued')");
    }
    try {
      pg.stopImmediately();
      assertThat(pg.isRunning()).isFalse();
      assertThatThrownBy(() -> connect(pg, url).close()).isInstanceOf(SQLException.class);

      pg.start();
      assertThat(pg.isRunning()).isTrue();
      assertThat(pg.port()).as("same port after a restart").isEqualTo(port);
      try (Connection connection = connect(pg, url);
          Statement statement = connection.createStatement();
          ResultSet rs = statement.executeQuery("select status from jobs where id = 1")) {
        assertThat(rs.next()).as("the committed row after crash recovery").isTrue();
        assertThat(rs.getString(1)).isEqualTo("queued");
      }
    } finally {
      pg.start();
    }
  }

  @Test
  void theSharedClusterIsNotClosedByTests(PostgresEngine pg) {
    assertThat(pg).isSameAs(PostgresEngine.shared());
    assertThatThrownBy(pg::close).isInstanceOf(IllegalStateException.class).hasMessageContaining("shutdown hook");
    assertThat(pg.isRunning()).isTrue();
  }

  @Test
  void aPrivateClusterWithFsyncIsGoneWhenClosed() throws Exception {
    Path dir;
    long postmaster;
    try (PostgresEngine pg = PostgresEngine.builder().fsync(true).start()) {
      dir = pg.directory();
      try (Connection connection = DriverManager.getConnection(pg.jdbcUrl(), pg.user(), pg.password());
          Statement statement = connection.createStatement();
          ResultSet rs = statement.executeQuery("show fsync")) {
        assertThat(rs.next()).isTrue();
        assertThat(rs.getString(1)).isEqualTo("on");
      }
      postmaster = Long.parseLong(Files.readAllLines(dir.resolve("data/postmaster.pid")).get(0).strip());
      assertThat(running(postmaster)).as("postmaster running").isTrue();
    }
    assertThat(dir).doesNotExist();
    assertThat(running(postmaster)).as("postmaster running").isFalse();
  }

  /** Whether {@code pid} runs: exists and is not a zombie (PID 1 here may reap the postmaster late). */
  private static boolean running(long pid) throws IOException {
    Path stat = Path.of("/proc/" + pid + "/stat");
    if (!Files.exists(stat)) {
      return false;
    }
    String line = Files.readString(stat);
    return line.charAt(line.lastIndexOf(')') + 2) != 'Z';
  }

  @Test
  void aRestartOnATakenPortFailsWithTheServerLog() throws Exception {
    try (PostgresEngine pg = PostgresEngine.builder().startTimeout(Duration.ofSeconds(10)).start()) {
      pg.stopImmediately();
      try (ServerSocket squatter = new ServerSocket()) {
        squatter.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), pg.port()));
        assertThatThrownBy(pg::start)
            .isInstanceOf(IllegalStateException.class)
            .hasMessageContaining("port " + pg.port())
            .hasMessageContaining("could not bind");
      }
      pg.start();
      try (Connection connection = DriverManager.getConnection(pg.jdbcUrl(), pg.user(), pg.password())) {
        assertThat(connection.isValid(5)).isTrue();
      }
    }
  }
}
