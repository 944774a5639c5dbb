package dev.llmrelay.core.jobs;

import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

/** The job service on an embedded SQLite file. */
class SqliteJobsTest extends JobsContract {
  @TempDir Path dir;

  @Override
  JobsConfig.Builder store() {
    return JobsConfig.builder().storeUrl("jdbc:sqlite:" + dir.resolve("data/jobs.db"));
  }
}
