package dev.llmrelay.servlet.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class StoreCallsTest {
  @Test
  void slowCallsNeverDelayAnotherAndClosingEndsThem() throws Exception {
    StoreCalls calls = new StoreCalls();
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch interrupted = new CountDownLatch(40);
    for (int i = 0; i < 40; i++) { // more slow calls (wait=60 submissions, say) than any fixed pool would take
      calls.run(() -> {
        try {
          release.await();
        } catch (InterruptedException e) {
          interrupted.countDown();
        }
      });
    }
    CountDownLatch quick = new CountDownLatch(1);
    calls.run(quick::countDown); // a poll or a cancel
    assertThat(quick.await(5, TimeUnit.SECONDS)).as("the quick call ran beside the slow ones").isTrue();

    calls.close();
    assertThat(interrupted.await(5, TimeUnit.SECONDS)).as("every slow call was told to stop, none dropped").isTrue();
  }
}
