package dev.llmrelay.core.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JsonLinesWriterTest {
  @Test
  void aFullQueueDropsAndCountsInsteadOfBlocking() throws Exception {
    // Given a writer whose disk is stuck
    CountDownLatch unblock = new CountDownLatch(1);
    List<String> written = new CopyOnWriteArrayList<>();
    JsonLinesWriter writer = new JsonLinesWriter((day, record) -> {
      try {
        unblock.await(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      written.add(new String(record, StandardCharsets.UTF_8));
    }, 10, ZoneOffset.UTC);

    // When many more records arrive than the queue holds
    long start = System.nanoTime();
    int accepted = 0;
    for (int i = 0; i < 100; i++) {
      if (writer.offer(Instant.now(), ("{\"n\":" + i + "}").getBytes(StandardCharsets.UTF_8))) {
        accepted++;
      }
    }
    long elapsedMs = (System.nanoTime() - start) / 1_000_000;

    // Then no caller waited, and what did not fit was dropped and counted
    assertThat(elapsedMs).as("100 offers against a stuck writer").isLessThan(500);
    assertThat(accepted).isBetween(10, 11);
    assertThat(writer.dropped()).isEqualTo(100 - accepted);
    unblock.countDown();
    int expected = accepted;
    await().atMost(Duration.ofSeconds(3)).until(() -> written.size() == expected);
    writer.close();
  }

  @Test
  void recordsGoToDailyFilesAndOldFilesAreDeleted(@TempDir Path dir) throws Exception {
    LocalDate today = LocalDate.now(ZoneId.systemDefault());
    Path old = dir.resolve("requests-" + today.minusDays(10) + ".jsonl");
    Path recent = dir.resolve("requests-" + today.minusDays(2) + ".jsonl");
    Path other = dir.resolve("notes.txt");
    Files.writeString(old, "{}\n");
    Files.writeString(recent, "{}\n");
    Files.writeString(other, "keep");

    JsonLinesWriter writer = JsonLinesWriter.daily(dir, 7);
    writer.offer(Instant.now(), "{\"a\":1}".getBytes(StandardCharsets.UTF_8));
    writer.offer(Instant.now(), "{\"a\":2}".getBytes(StandardCharsets.UTF_8));
    writer.close();

    assertThat(Files.readAllLines(dir.resolve("requests-" + today + ".jsonl"))).containsExactly("{\"a\":1}", "{\"a\":2}");
    assertThat(old).as("older than LOG_RETENTION_DAYS").doesNotExist();
    assertThat(recent).exists();
    assertThat(other).exists();
  }
}
