package dev.llmrelay.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import dev.llmrelay.core.ClientRequest;
import dev.llmrelay.core.ExchangeResult;
import dev.llmrelay.core.RelayConfig;
import dev.llmrelay.core.RelayStats;
import dev.llmrelay.core.ResponseSink;
import dev.llmrelay.core.UpstreamClient;
import dev.llmrelay.core.UpstreamExchange;
import dev.llmrelay.core.UpstreamHealthProbe;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletInputStream;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayInputStream;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The servlet's async contract, checked where no container default can hide a mistake (Jetty's
 * default async timeout is 30 s and answers 500, PITFALLS P-J1): the request goes async before its
 * body is read (non-blocking, through a {@link ReadListener}) and before the exchange starts, with
 * the container timeout switched off and a listener that can cancel.
 */
class RelayServletAsyncTest {
  @Test
  void exchangeStartsAsyncWithTheContainerTimeoutSwitchedOff() throws Exception {
    // Given a client that only records what it was asked to start
    AtomicReference<ClientRequest> started = new AtomicReference<>();
    UpstreamClient recording = new RecordingClient(started);
    List<Long> timeouts = new ArrayList<>();
    List<String> events = new ArrayList<>();
    List<AsyncListener> listeners = new ArrayList<>();
    AsyncContext async =
        (AsyncContext)
            Proxy.newProxyInstance(
                getClass().getClassLoader(),
                new Class<?>[] {AsyncContext.class},
                (proxy, method, args) -> {
                  switch (method.getName()) {
                    case "setTimeout":
                      timeouts.add((Long) args[0]);
                      return null;
                    case "addListener":
                      listeners.add((AsyncListener) args[0]);
                      return null;
                    default:
                      return null;
                  }
                });
    byte[] body = "{\"model\":\"m\",\"stream\":true}".getBytes(StandardCharsets.UTF_8);
    ByteArrayInputStream in = new ByteArrayInputStream(body);
    HttpServletRequest clientRequest =
        (HttpServletRequest)
            Proxy.newProxyInstance(
                getClass().getClassLoader(),
                new Class<?>[] {HttpServletRequest.class},
                (proxy, method, args) -> {
                  switch (method.getName()) {
                    case "getMethod":
                      return "POST";
                    case "getServletPath":
                      return "/v1/chat/completions";
                    case "getContentLengthLong":
                      return (long) body.length;
                    case "getInputStream":
                      return servletInput(in, events);
                    case "getHeaderNames":
                      return Collections.enumeration(List.of("Content-Type"));
                    case "getHeaders":
                      return Collections.enumeration(List.of("application/json"));
                    case "startAsync":
                      events.add("startAsync");
                      return async;
                    default:
                      return null; // getHeader, getPathInfo, ...: absent
                  }
                });
    HttpServletResponse clientResponse =
        (HttpServletResponse)
            Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[] {HttpServletResponse.class}, (p, m, a) -> null);

    // When the servlet serves a chat request
    new RelayServlet(recording).service(clientRequest, clientResponse);

    // Then it went async with no container timeout, read the body without blocking, listening for
    // errors, and started the exchange
    assertThat(timeouts).as("async timeouts set").containsExactly(0L);
    assertThat(events).as("async first, then the body through a read listener").containsExactly("startAsync", "setReadListener");
    assertThat(listeners).as("async listeners: the response sink and the body reader").hasSize(2);
    assertThat(started.get()).as("started request").isNotNull();
    assertThat(started.get().model()).as("model for the log").isEqualTo("m");
    assertThat(started.get().streamRequested()).as("stream flag for the log").isTrue();
    assertThat(started.get().body()).as("body").isEqualTo(body);
  }

  /** A ready stream whose read listener is called back at once, as a container with the whole body would. */
  private static ServletInputStream servletInput(ByteArrayInputStream in, List<String> events) {
    return new ServletInputStream() {
      @Override
      public int read() {
        return in.read();
      }

      @Override
      public int read(byte[] b, int off, int len) {
        return in.read(b, off, len);
      }

      @Override
      public boolean isFinished() {
        return in.available() == 0;
      }

      @Override
      public boolean isReady() {
        return true;
      }

      @Override
      public void setReadListener(ReadListener readListener) {
        events.add("setReadListener");
        try {
          readListener.onDataAvailable();
          readListener.onAllDataRead();
        } catch (java.io.IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      }
    };
  }

  /** An {@link UpstreamClient} that records the started request and never finishes it. */
  private static final class RecordingClient implements UpstreamClient {
    private final AtomicReference<ClientRequest> started;
    private final RelayConfig config = RelayConfig.builder().debugModeFile(null).build();

    RecordingClient(AtomicReference<ClientRequest> started) {
      this.started = started;
    }

    @Override
    public UpstreamExchange newExchange(ClientRequest clientRequest, ResponseSink sink) {
      return new UpstreamExchange() {
        @Override
        public UpstreamExchange start() {
          started.set(clientRequest);
          return this;
        }

        @Override
        public ExchangeResult execute() {
          throw new UnsupportedOperationException("never finishes");
        }

        @Override
        public void cancel() {}

        @Override
        public CompletionStage<ExchangeResult> completion() {
          return new CompletableFuture<>();
        }
      };
    }

    @Override
    public UpstreamHealthProbe healthProbe() {
      throw new UnsupportedOperationException();
    }

    @Override
    public void recordRejection(String requestId, String method, String path, dev.llmrelay.core.RelayException error) {}

    @Override
    public RelayStats stats() {
      throw new UnsupportedOperationException();
    }

    @Override
    public RelayConfig config() {
      return config;
    }

    @Override
    public void close() {}
  }
}
