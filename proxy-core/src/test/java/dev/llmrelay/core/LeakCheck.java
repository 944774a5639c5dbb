package dev.llmrelay.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.llmrelay.core.internal.RealUpstreamClient;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Creates the clients a test uses and, after every test, checks that each gave back every permit,
 * holds no leased upstream connection and has no exchange left running; then closes it. A test
 * that leaks fails here even if its own assertions passed.
 */
public final class LeakCheck implements AfterEachCallback {
  private final List<RealUpstreamClient> clients = new CopyOnWriteArrayList<>();

  /** A client whose resources are checked after the test. */
  public RealUpstreamClient client(RelayConfig config) {
    RealUpstreamClient client = (RealUpstreamClient) UpstreamClient.create(config);
    clients.add(client);
    return client;
  }

  @Override
  public void afterEach(ExtensionContext context) {
    try {
      for (RealUpstreamClient client : clients) {
        await("permits, connections and exchanges returned")
            .atMost(Duration.ofSeconds(5))
            .pollInterval(Duration.ofMillis(20))
            .untilAsserted(() -> {
              assertThat(client.gate().availablePermits())
                  .as("free permits")
                  .isEqualTo(client.gate().maxPermits());
              assertThat(client.gate().queued()).as("queued waiters").isZero();
              assertThat(client.leasedConnections()).as("leased upstream connections").isZero();
              assertThat(client.activeExchanges()).as("running exchanges").isZero();
            });
      }
    } finally {
      clients.forEach(RealUpstreamClient::close);
      clients.clear();
    }
  }
}
