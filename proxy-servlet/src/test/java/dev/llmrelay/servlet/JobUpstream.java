package dev.llmrelay.servlet;

import java.io.IOException;
import java.net.InetAddress;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import mockwebserver3.Dispatcher;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.RecordedRequest;

/**
 * The job tests' upstream: a MockWebServer on loopback that answers every request with the same
 * chat completion ({@link Upstreams#CHAT_JSON}), counts and records what arrived, and holds a
 * request whose body contains {@code "slow"} until {@link #release()} (or 30 s), so a test can
 * keep jobs running for as long as it needs them running.
 */
final class JobUpstream extends Dispatcher {
  final MockWebServer server = new MockWebServer();
  final AtomicInteger calls = new AtomicInteger();
  final List<String> bodies = new CopyOnWriteArrayList<>();
  final List<String> authorizations = new CopyOnWriteArrayList<>();
  /** Counts the slow requests that arrived and are being held. */
  final AtomicInteger held = new AtomicInteger();
  private volatile CountDownLatch release = new CountDownLatch(1);

  JobUpstream() throws IOException {
    server.setDispatcher(this);
    server.start(InetAddress.getByName("127.0.0.1"), 0);
  }

  String baseUrl() {
    return "http://127.0.0.1:" + server.getPort() + "/v1";
  }

  @Override
  public MockResponse dispatch(RecordedRequest request) throws InterruptedException {
    calls.incrementAndGet();
    String body = request.getBody() == null ? "" : request.getBody().utf8();
    bodies.add(body);
    String auth = request.getHeaders().get("Authorization");
    authorizations.add(auth == null ? "" : auth);
    if (body.contains("slow")) {
      held.incrementAndGet();
      try {
        release.await(30, TimeUnit.SECONDS);
      } finally {
        held.decrementAndGet();
      }
    }
    return Upstreams.chatJson();
  }

  /** Lets every held request (and every later slow one) answer. */
  void release() {
    release.countDown();
  }

  /** Holds slow requests again. */
  void holdAgain() {
    release = new CountDownLatch(1);
  }

  long callsWith(String text) {
    return bodies.stream().filter(b -> b.contains(text)).count();
  }

  /** Releases what is held and stops the server. */
  void stop() {
    release();
    server.close();
  }
}
