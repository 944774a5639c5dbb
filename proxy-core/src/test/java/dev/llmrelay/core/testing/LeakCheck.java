package dev.llmrelay.core.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.llmrelay.core.RelayConfig;
import dev.llmrelay.core.RelayStats;
import dev.llmrelay.core.UpstreamClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.ToIntFunction;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.AfterTestExecutionCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The leak check every module's tests share: a JUnit 5 extension that fails any test leaving an
 * {@link UpstreamClient} with a permit taken, a request queued or in flight, or an upstream
 * connection leased. A test that leaks fails here even if its own assertions passed; a permit or
 * a connection that is never given back is the worst bug this project can have.
 *
 * <p>Register it on an instance field and let it create (or track) the test's clients:
 *
 * <pre>{@code
 * @RegisterExtension final LeakCheck leaks = new LeakCheck();
 *
 * @Test
 * void someBehaviour() {
 *   UpstreamClient client = leaks.client(config);
 *   ...
 * }
 * }</pre>
 *
 * <p>Right after the test method, and so before the test's own {@code @AfterEach} methods tear
 * down its servlet container and upstream (which would end whatever is still running and hide
 * the leak), it waits up to {@link #TIMEOUT} for each client to be idle: every permit free
 * ({@link RelayConfig#maxConcurrentRequests()} of them), nobody queued, nothing in flight and no
 * upstream connection leased (open minus idle). After the {@code @AfterEach} methods it closes
 * every client it created or tracked, whether the check passed or not.
 *
 * <p>Registered on a static field instead, for a client the whole class shares (created in
 * {@code @BeforeAll}), it still checks after every test but closes its clients after the
 * {@code @AfterAll} methods.
 *
 * <p>It reads nothing but {@link UpstreamClient#stats()} and {@link UpstreamClient#config()}, so it
 * works for any module's tests without reaching into {@code dev.llmrelay.core.internal}. A module
 * that can see more adds its own gauges with {@link #alsoRequireZero}.
 *
 * <p>Modules other than proxy-core get it from proxy-core's test-jar, which holds only this
 * package. Not thread-safe to configure; clients may be created and tracked from any thread.
 */
public final class LeakCheck
    implements BeforeAllCallback, AfterTestExecutionCallback, AfterEachCallback, AfterAllCallback {
  /** How long a client gets to give everything back after the test: 5 s. */
  public static final Duration TIMEOUT = Duration.ofSeconds(5);

  private static final Duration POLL_INTERVAL = Duration.ofMillis(20);

  private final List<UpstreamClient> clients = new CopyOnWriteArrayList<>();
  private final List<Gauge> extraGauges = new ArrayList<>();

  /** True when registered for the whole class (a static field): clients then live until afterAll. */
  private boolean classScoped;

  /** A gauge beyond the public ones that must also read zero once the client is idle. */
  private record Gauge(String description, ToIntFunction<UpstreamClient> reading) {}

  /** A leak check with the public gauges only. */
  public LeakCheck() {}

  /**
   * Adds a gauge that must also come down to zero, for checks a module's tests can make through
   * what only they can see (proxy-core's own tests add the running exchanges).
   *
   * @param description what the gauge counts, for the failure message
   * @param gauge reads the gauge from a client the check created or tracked
   * @return this
   */
  public LeakCheck alsoRequireZero(String description, ToIntFunction<UpstreamClient> gauge) {
    extraGauges.add(new Gauge(Objects.requireNonNull(description, "description"), Objects.requireNonNull(gauge, "gauge")));
    return this;
  }

  /** A new client with {@code config}, checked after the test and then closed. */
  public UpstreamClient client(RelayConfig config) {
    return track(UpstreamClient.create(config));
  }

  /**
   * Checks {@code client} after the test and then closes it: for a client built elsewhere (with
   * a listener, a clock or an executor, or by the code under test).
   *
   * @return {@code client}
   */
  public <C extends UpstreamClient> C track(C client) {
    clients.add(Objects.requireNonNull(client, "client"));
    return client;
  }

  /**
   * The check itself, now: waits up to {@link #TIMEOUT} for {@code client} to have every permit
   * free, nobody queued, nothing in flight and no upstream connection leased, and fails if it does
   * not. For a test that must check before it tears down what it started inside the test (a
   * servlet container, a servlet that closes its client on destroy); everything else is checked
   * after the test without asking.
   *
   * @throws AssertionError naming the first gauge still off, with the client's last stats
   */
  public void assertReleased(UpstreamClient client) {
    int permits = client.config().maxConcurrentRequests();
    try {
      await("permits, queue, in-flight requests and upstream connections released")
          .atMost(TIMEOUT)
          .pollInterval(POLL_INTERVAL)
          .untilAsserted(() -> {
            RelayStats stats = client.stats();
            assertThat(stats.permitsAvailable()).as("free permits").isEqualTo(permits);
            assertThat(stats.queued()).as("queued requests").isZero();
            assertThat(stats.inFlight()).as("requests in flight").isZero();
            assertThat(stats.upstreamConnections() - stats.idleUpstreamConnections())
                .as("leased upstream connections (%d open, %d idle)", stats.upstreamConnections(), stats.idleUpstreamConnections())
                .isZero();
            for (Gauge gauge : extraGauges) {
              assertThat(gauge.reading().applyAsInt(client)).as(gauge.description()).isZero();
            }
          });
    } catch (ConditionTimeoutException e) {
      throw new AssertionError("leak: " + e.getMessage().strip() + "\nlast stats: " + client.stats(), e);
    }
  }

  @Override
  public void beforeAll(ExtensionContext context) {
    classScoped = true; // JUnit calls this only on an extension registered for the whole class
  }

  @Override
  public void afterTestExecution(ExtensionContext context) {
    for (UpstreamClient client : clients) {
      assertReleased(client);
    }
  }

  @Override
  public void afterEach(ExtensionContext context) {
    if (!classScoped) {
      closeClients();
    }
  }

  @Override
  public void afterAll(ExtensionContext context) {
    closeClients();
  }

  private void closeClients() {
    RuntimeException failure = null;
    for (UpstreamClient client : clients) {
      try {
        client.close();
      } catch (RuntimeException e) {
        if (failure == null) {
          failure = e;
        } else {
          failure.addSuppressed(e);
        }
      }
    }
    clients.clear();
    if (failure != null) {
      throw failure;
    }
  }
}
