package dev.llmrelay.core.internal.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.llmrelay.core.jobs.JobsConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SqliteJobStoreTest extends JobStoreContract {
  @TempDir Path dir;

  @Override
  DataSource dataSource() {
    String url = "jdbc:sqlite:" + dir.resolve("jobs.db");
    return new DriverDataSource(url, null, null, DriverDataSource.driverFor(url, url));
  }

  @Override
  Dialect dialect() {
    return Dialect.SQLITE;
  }

  @Test
  void theDatabaseFileAndItsDirectoryAreTheOwnersOnlyAndInWalMode() throws Exception {
    Path file = dir.resolve("data/sub/jobs.db");
    dev.llmrelay.core.UpstreamClient client =
        dev.llmrelay.core.UpstreamClient.create(dev.llmrelay.core.RelayConfig.builder().healthInterval(java.time.Duration.ZERO).debugModeFile(null).build());
    try (var jobs = RealRelayJobs.start(client, JobsConfig.builder().storeUrl("jdbc:sqlite:" + file).build(), null)) {
      assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
      assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file.getParent()))).isEqualTo("rwx------");
      assertThat(Files.exists(dir.resolve("data/sub/jobs.db-wal"))).isTrue();
      assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("data/sub/jobs.db-wal"))))
          .isEqualTo("rw-------");
    } finally {
      client.close();
    }
  }
}
