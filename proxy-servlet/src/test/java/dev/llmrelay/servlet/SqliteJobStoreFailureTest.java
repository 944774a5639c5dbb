package dev.llmrelay.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Test 12 on SQLite: the database's files and directory made unwritable (as root, for whom chmod
 * changes nothing, with the immutable attribute, as proxy-core's SqliteJobsTest does).
 */
class SqliteJobStoreFailureTest extends JobStoreFailureContract {
  @Override
  void breakStore() throws Exception {
    readOnly(true);
  }

  @Override
  void repairStore() throws Exception {
    readOnly(false);
  }

  private void readOnly(boolean on) throws IOException, InterruptedException {
    Path data = dir.resolve("data");
    List<Path> files = new ArrayList<>();
    try (Stream<Path> s = Files.list(data)) {
      s.forEach(files::add);
    }
    files.add(data);
    boolean root = "root".equals(System.getProperty("user.name"));
    for (Path f : files) {
      if (root) {
        Process p = new ProcessBuilder("chattr", on ? "+i" : "-i", f.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as("chattr: " + out).isZero();
      } else {
        f.toFile().setWritable(!on, false);
      }
    }
  }
}
