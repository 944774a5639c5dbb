package dev.llmrelay.servlet.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.llmrelay.core.ExchangeResult;
import dev.llmrelay.core.UpstreamExchange;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.AsyncEvent;
import java.io.IOException;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The sink's contract with the container: headers, client-gone handling, completing exactly once. */
class ServletResponseSinkTest {
  private final FakeResponse fake = new FakeResponse();
  private final AtomicInteger completions = new AtomicInteger();
  private final AsyncContext async =
      (AsyncContext)
          Proxy.newProxyInstance(
              getClass().getClassLoader(),
              new Class<?>[] {AsyncContext.class},
              (proxy, method, args) -> {
                if (method.getName().equals("complete")) {
                  if (completions.incrementAndGet() > 1) {
                    throw new IllegalStateException("already completed");
                  }
                  return null;
                }
                if (method.getName().equals("getRequest") || method.getName().equals("getResponse")) {
                  return null; // read by the AsyncEvent constructor
                }
                throw new UnsupportedOperationException(method.getName());
              });
  private final FakeExchange exchange = new FakeExchange();
  private final ServletResponseSink sink = new ServletResponseSink(async, fake.response, "sink-1");

  private static final class FakeExchange implements UpstreamExchange {
    final AtomicInteger cancels = new AtomicInteger();
    final CompletableFuture<ExchangeResult> completion = new CompletableFuture<>();

    @Override
    public UpstreamExchange start() {
      return this;
    }

    @Override
    public ExchangeResult execute() {
      return completion.join();
    }

    @Override
    public void cancel() {
      cancels.incrementAndGet();
    }

    @Override
    public CompletionStage<ExchangeResult> completion() {
      return completion;
    }
  }

  @Test
  void responseHeadersSkipHopByHopAndKeepTheRelaysRequestId() throws Exception {
    sink.attach(exchange);

    sink.onResponse(
        201,
        Map.of(
            "Content-Type", List.of("application/json"),
            "Connection", List.of("X-Named"),
            "X-Named", List.of("hop"),
            "Transfer-Encoding", List.of("chunked"),
            "Content-Length", List.of("999"),
            "X-Request-Id", List.of("upstream-id"),
            "Set-Cookie", List.of("a=1", "b=2"),
            "x-ratelimit-remaining-tokens", List.of("10")));

    assertThat(fake.status).as("status").isEqualTo(201);
    assertThat(fake.headers.keySet())
        .as("header names")
        .containsExactlyInAnyOrder("Content-Type", "Set-Cookie", "x-ratelimit-remaining-tokens", "X-Request-Id");
    assertThat(fake.headers.get("Set-Cookie")).as("multi-valued header").containsExactly("a=1", "b=2");
    assertThat(fake.header("X-Request-Id")).as("request id").isEqualTo("sink-1");
  }

  @Test
  void bodyIsWrittenUnchangedAndTheContextCompletedOnceWhenTheExchangeAlsoEnds() throws Exception {
    sink.attach(exchange);
    byte[] data = "data: {\"x\":1}\n\n".getBytes(StandardCharsets.UTF_8);

    sink.onResponse(200, Map.of());
    sink.onBody(data, 0, data.length);
    sink.flush();
    sink.onComplete();
    exchange.completion.complete(null);

    assertThat(fake.body.toByteArray()).as("body").isEqualTo(data);
    assertThat(fake.flushes).as("flushes").isGreaterThanOrEqualTo(1);
    assertThat(completions.get()).as("async completions").isEqualTo(1);
    assertThat(exchange.cancels.get()).as("cancels").isZero();
  }

  @Test
  void failedWriteMeansClientGoneAndEveryLaterWriteFailsToo() throws Exception {
    sink.attach(exchange);
    sink.onResponse(200, Map.of());
    fake.failWrites = true;

    assertThatThrownBy(() -> sink.onBody(new byte[] {1}, 0, 1)).as("write to a gone client").isInstanceOf(IOException.class);
    fake.failWrites = false;
    assertThatThrownBy(() -> sink.flush()).as("flush after the client went").isInstanceOf(IOException.class);
    exchange.completion.complete(null); // the core cancels and ends the exchange

    assertThat(completions.get()).as("async completions").isEqualTo(1);
  }

  @Test
  void asyncErrorCancelsTheExchangeAndCompletesOnce() throws Exception {
    sink.attach(exchange);

    sink.onError(new AsyncEvent(async, new IOException("reset")));
    exchange.completion.complete(null);

    assertThat(exchange.cancels.get()).as("cancels").isEqualTo(1);
    assertThat(completions.get()).as("async completions").isEqualTo(1);
    assertThatThrownBy(() -> sink.onBody(new byte[] {1}, 0, 1)).as("write after the error").isInstanceOf(IOException.class);
  }

  @Test
  void clientGoneBeforeTheExchangeWasAttachedCancelsItOnAttach() {
    sink.onError(new AsyncEvent(async, new IOException("reset")));

    sink.attach(exchange);

    assertThat(exchange.cancels.get()).as("cancels").isEqualTo(1);
  }

  @Test
  void failureIsRenderedAndCompletesEvenBeforeAttach() throws Exception {
    sink.onFailure(new InvalidJsonException("x")); // e.g. a synchronous rejection inside start()
    exchange.completion.complete(null);
    sink.attach(exchange);

    assertThat(fake.status).as("status").isEqualTo(400);
    assertThat(fake.header("X-Request-Id")).as("request id").isEqualTo("sink-1");
    assertThat(completions.get()).as("async completions").isEqualTo(1);
  }

  @Test
  void containerCompletingOnItsOwnCancelsTheExchange() {
    sink.attach(exchange);

    sink.onComplete(new AsyncEvent(async));

    assertThat(exchange.cancels.get()).as("cancels").isEqualTo(1);
    assertThat(completions.get()).as("the sink does not complete again").isZero();
  }
}
