package dev.llmrelay.servlet.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The relay servlet's two timers end their threads before {@code close()} returns, so that the
 * servlet's {@code destroy} leaves nothing alive for a container that stops the application next
 * (Tomcat warns about every live thread the application started).
 */
class TimerThreadsTest {
  @Test
  void closingTheBodyDeadlinesEndsTheirThreadBeforeItReturns() throws Exception {
    BodyDeadlines deadlines = BodyDeadlines.create();
    CountDownLatch ran = new CountDownLatch(1);
    deadlines.timer().schedule(ran::countDown, 1, TimeUnit.MILLISECONDS);
    assertThat(ran.await(5, TimeUnit.SECONDS)).as("the timer ran a deadline").isTrue();
    assertThat(deadlines.aliveThreads()).as("the timer's thread, idle").isEqualTo(1);

    deadlines.close();

    assertThat(deadlines.aliveThreads()).as("threads alive right after close()").isZero();
  }

  @Test
  void closingTheBlockingReadsSweepEndsItsThreadBeforeItReturns() {
    BlockingBodyRead reads = new BlockingBodyRead(Duration.ofSeconds(1));
    assertThat(reads.aliveThreads()).as("the sweep's thread").isEqualTo(1);

    reads.close();

    assertThat(reads.aliveThreads()).as("threads alive right after close()").isZero();
  }
}
