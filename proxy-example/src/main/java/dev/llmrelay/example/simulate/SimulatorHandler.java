package dev.llmrelay.example.simulate;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.io.EofException;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.Promise;
import org.eclipse.jetty.util.thread.Invocable;
import org.eclipse.jetty.util.thread.Scheduler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The simulator's Jetty core handler: routes a request, reads its body without blocking, picks its
 * fault, and hands it to a {@link SimulatedExchange} that answers on Jetty's scheduler.
 *
 * <p>Why a core handler and not a servlet: a servlet stream would block a thread per open stream
 * or held request (or need the servlet async I/O listeners); a core handler writes with callbacks
 * and waits with scheduler tasks, so hundreds of slow streams and held "timeouts" cost memory, not
 * threads.
 *
 * <p>Thread-safe: counters are atomic, live exchanges are in a concurrent set, the fault picker
 * locks its own draws.
 */
final class SimulatorHandler extends Handler.Abstract {
  /** Largest request body read; a larger one is answered 413. */
  static final int MAX_REQUEST_BYTES = 16 * 1024 * 1024;
  /** Largest {@value SimulatedUpstream#LATENCY_HEADER} accepted: one hour. */
  static final long MAX_LATENCY_HEADER_MILLIS = 3_600_000L;

  private static final Logger log = LoggerFactory.getLogger(SimulatorHandler.class);
  private static final String JSON = "application/json";

  private final SimulatorConfig config;
  private final FaultPicker faultPicker;
  private final Scheduler scheduler;
  private final AtomicLong ids = new AtomicLong();
  private final LongAdder totalRequests = new LongAdder();
  private final LongAdder clientAborts = new LongAdder();
  private final Map<SimulatedAnswer, LongAdder> answers = new EnumMap<>(SimulatedAnswer.class);
  private final Set<SimulatedExchange> live = ConcurrentHashMap.newKeySet();

  SimulatorHandler(SimulatorConfig config, Scheduler scheduler) {
    this.config = config;
    this.faultPicker = new FaultPicker(config);
    this.scheduler = scheduler;
    for (SimulatedAnswer answer : SimulatedAnswer.values()) {
      answers.put(answer, new LongAdder());
    }
  }

  @Override
  public boolean handle(Request request, Response response, Callback callback) {
    totalRequests.increment();
    SimulatedExchange exchange =
        new SimulatedExchange(this, request, response, callback, scheduler);
    live.add(exchange);
    // All timing is ours (latency, gaps, holds): Jetty's idle timeout must not end a held
    // request or a slow stream. It still closes idle keep-alive connections between requests.
    request.addIdleTimeoutListener(timeout -> false);
    request.addFailureListener(exchange::clientGone);
    try {
      route(exchange);
    } catch (RuntimeException e) {
      exchange.failUnexpectedly(e);
    }
    return true;
  }

  SimulatorStats stats() {
    Map<SimulatedAnswer, Long> counts = new EnumMap<>(SimulatedAnswer.class);
    answers.forEach((answer, adder) -> counts.put(answer, adder.sum()));
    return new SimulatorStats(totalRequests.sum(), counts, live.size(), clientAborts.sum());
  }

  /** Called once per exchange when it ends, however it ends. */
  void ended(SimulatedExchange exchange, boolean clientAbort) {
    live.remove(exchange);
    if (clientAbort) {
      clientAborts.increment();
    }
  }

  /** Closes the connection of every exchange still open, as a crashing server would. */
  void closeAll() {
    for (SimulatedExchange exchange : live) {
      exchange.closeConnection(new EofException("simulated upstream is closing"));
    }
  }

  private void route(SimulatedExchange exchange) {
    Request request = exchange.request();
    String path = exchange.path();
    Route route = Route.of(path);
    if (route == null) {
      sendError(exchange, 404, SimulatedAnswer.NOT_FOUND,
          "Invalid URL (" + request.getMethod() + " " + path + ")", "invalid_request_error", null);
      return;
    }
    if (!route.method.equals(request.getMethod())) {
      exchange.response().getHeaders().put(HttpHeader.ALLOW, route.method);
      sendError(exchange, 405, SimulatedAnswer.METHOD_NOT_ALLOWED,
          request.getMethod() + " is not allowed on " + path + "; use " + route.method,
          "invalid_request_error", null);
      return;
    }

    String faultHeader = request.getHeaders().get(SimulatedUpstream.FAULT_HEADER);
    SimulatedFault requestedFault = null;
    if (faultHeader != null) {
      requestedFault = SimulatedFault.fromHeaderValue(faultHeader).orElse(null);
      if (requestedFault == null) {
        sendInvalid(exchange, SimulatedUpstream.FAULT_HEADER + " must be one of timeout, error,"
            + " html-error, rate-limit, cut, none; was '" + faultHeader + "'");
        return;
      }
    }
    String latencyHeader = request.getHeaders().get(SimulatedUpstream.LATENCY_HEADER);
    Duration requestedLatency = null;
    if (latencyHeader != null) {
      requestedLatency = parseLatency(latencyHeader);
      if (requestedLatency == null) {
        sendInvalid(exchange, SimulatedUpstream.LATENCY_HEADER + " must be a whole number of"
            + " milliseconds from 0 to " + MAX_LATENCY_HEADER_MILLIS + "; was '" + latencyHeader
            + "'");
        return;
      }
    }

    if (!route.inference) {
      FaultPlan plan = FaultPicker.requestedOnly(requestedFault);
      Duration latency = requestedLatency != null ? requestedLatency : Duration.ZERO;
      execute(exchange, route, plan, latency, null);
      return;
    }
    if (request.getLength() > MAX_REQUEST_BYTES) {
      sendTooLarge(exchange);
      return;
    }
    SimulatedFault fault = requestedFault;
    Duration latency = requestedLatency != null ? requestedLatency : config.latency();
    Content.Source.asByteArrayAsync(
        request,
        MAX_REQUEST_BYTES,
        Promise.Invocable.from(
            Invocable.InvocationType.NON_BLOCKING,
            (byte[] body, Throwable failure) -> {
              if (failure instanceof IllegalStateException) { // Jetty: "Max size exceeded"
                sendTooLarge(exchange);
                return;
              }
              if (failure != null) {
                exchange.clientGone(failure);
                return;
              }
              try {
                onBody(exchange, route, body, fault, latency);
              } catch (RuntimeException e) {
                exchange.failUnexpectedly(e);
              }
            }));
  }

  private void onBody(
      SimulatedExchange exchange,
      Route route,
      byte[] body,
      SimulatedFault requestedFault,
      Duration latency) {
    JsonNode json;
    try {
      json = OpenAiBodies.mapper().readTree(body);
    } catch (IOException e) {
      sendInvalid(exchange, "We could not parse the JSON body of your request: "
          + e.getClass().getSimpleName());
      return;
    }
    if (json == null || !json.isObject()) {
      sendInvalid(exchange, "The request body must be a JSON object.");
      return;
    }
    JsonNode stream = json.path("stream");
    boolean streaming = route.streams && stream.isBoolean() && stream.booleanValue();
    JsonNode modelNode = json.path("model");
    String model = modelNode.isTextual() && !modelNode.asText().isBlank()
        ? modelNode.asText()
        : OpenAiBodies.DEFAULT_MODEL;
    int inputs = embeddingInputs(json.path("input"));
    FaultPlan plan = faultPicker.pick(streaming, requestedFault);
    execute(exchange, route, plan, latency, new Ask(model, streaming, body.length, inputs));
  }

  private void execute(
      SimulatedExchange exchange, Route route, FaultPlan plan, Duration latency, Ask ask) {
    boolean streaming = ask != null && ask.streaming;
    SimulatedAnswer answer = answerFor(plan.fault(), streaming);
    answers.get(answer).increment();
    log.debug("{} {} -> {} (status {}, latency {} ms)", exchange.request().getMethod(),
        exchange.path(), answer, plan.status(), latency.toMillis());
    if (plan.fault() == SimulatedFault.TIMEOUT) {
      exchange.hold(config.timeoutHold());
      return;
    }
    exchange.afterLatency(latency, () -> respond(exchange, route, plan, answer, ask));
  }

  private void respond(
      SimulatedExchange exchange, Route route, FaultPlan plan, SimulatedAnswer answer, Ask ask) {
    switch (plan.fault()) {
      case ERROR -> sendError(exchange, plan.status(), answer, serverErrorMessage(plan.status()),
          "server_error", null);
      case HTML_ERROR -> exchange.send(502, "text/html; charset=utf-8",
          OpenAiBodies.HTML_BAD_GATEWAY.getBytes(StandardCharsets.UTF_8), answer);
      case RATE_LIMIT -> {
        exchange.response().getHeaders().put(HttpHeader.RETRY_AFTER, "1");
        String model = ask != null ? ask.model : OpenAiBodies.DEFAULT_MODEL;
        sendError(exchange, 429, answer, "Rate limit reached for " + model
            + " (simulated). Please try again in 1s.", "requests", "rate_limit_exceeded");
      }
      case NONE, CUT -> answerWell(exchange, route, plan, answer, ask);
      case TIMEOUT -> throw new IllegalStateException("a timeout is held, not answered");
    }
  }

  private void answerWell(
      SimulatedExchange exchange, Route route, FaultPlan plan, SimulatedAnswer answer, Ask ask) {
    boolean cut = plan.fault() == SimulatedFault.CUT;
    long created = System.currentTimeMillis() / 1000;
    int events = config.streamChunks();
    if (ask != null && ask.streaming) {
      String id = (route == Route.CHAT ? "chatcmpl-sim-" : "cmpl-sim-") + ids.incrementAndGet();
      int promptTokens = OpenAiBodies.promptTokens(ask.requestBytes);
      new SseStream(
              exchange,
              index -> route == Route.CHAT
                  ? OpenAiBodies.chatChunkEvent(
                      id, ask.model, created, index, events, promptTokens)
                  : OpenAiBodies.textChunkEvent(
                      id, ask.model, created, index, events, promptTokens),
              events,
              config.chunkDelay(),
              cut ? plan.cutAfterEvents() : 0,
              answer)
          .start();
      return;
    }
    byte[] body = switch (route) {
      case CHAT -> OpenAiBodies.chatCompletion("chatcmpl-sim-" + ids.incrementAndGet(), ask.model,
          created, events - 2, OpenAiBodies.promptTokens(ask.requestBytes));
      case TEXT -> OpenAiBodies.textCompletion("cmpl-sim-" + ids.incrementAndGet(), ask.model,
          created, events - 1, OpenAiBodies.promptTokens(ask.requestBytes));
      case EMBEDDINGS -> OpenAiBodies.embeddings(ask.model, ask.embeddingInputs,
          OpenAiBodies.promptTokens(ask.requestBytes));
      case MODELS -> OpenAiBodies.models(created);
      case KEY -> OpenAiBodies.key();
    };
    if (cut) {
      exchange.sendTruncated(200, JSON, body, answer);
    } else {
      exchange.send(200, JSON, body, answer);
    }
  }

  private static SimulatedAnswer answerFor(SimulatedFault fault, boolean streaming) {
    return switch (fault) {
      case NONE -> streaming ? SimulatedAnswer.OK_STREAM : SimulatedAnswer.OK;
      case TIMEOUT -> SimulatedAnswer.TIMEOUT;
      case ERROR -> SimulatedAnswer.SERVER_ERROR;
      case HTML_ERROR -> SimulatedAnswer.HTML_ERROR;
      case RATE_LIMIT -> SimulatedAnswer.RATE_LIMITED;
      case CUT -> SimulatedAnswer.CUT;
    };
  }

  private static String serverErrorMessage(int status) {
    return switch (status) {
      case 503 -> "The engine is currently overloaded, please try again later. (simulated 503)";
      case 502 -> "Upstream provider returned an invalid response. (simulated 502)";
      default -> "The server had an error while processing your request. (simulated " + status
          + ")";
    };
  }

  private void sendTooLarge(SimulatedExchange exchange) {
    sendError(exchange, 413, SimulatedAnswer.REQUEST_TOO_LARGE,
        "Request body larger than " + MAX_REQUEST_BYTES + " bytes", "invalid_request_error", null);
  }

  private void sendInvalid(SimulatedExchange exchange, String message) {
    sendError(exchange, 400, SimulatedAnswer.INVALID_REQUEST, message, "invalid_request_error",
        null);
  }

  private void sendError(SimulatedExchange exchange, int status, SimulatedAnswer answer,
      String message, String type, String code) {
    if (answer != SimulatedAnswer.SERVER_ERROR && answer != SimulatedAnswer.RATE_LIMITED) {
      answers.get(answer).increment(); // fault answers were counted when they were picked
    }
    exchange.send(status, JSON, OpenAiBodies.error(message, type, code), answer);
  }

  private static Duration parseLatency(String value) {
    try {
      long millis = Long.parseLong(value.trim());
      if (millis < 0 || millis > MAX_LATENCY_HEADER_MILLIS) {
        return null;
      }
      return Duration.ofMillis(millis);
    } catch (NumberFormatException e) {
      return null;
    }
  }

  /** Embedding inputs: one for a string or a token array, one per item for an array of those. */
  private static int embeddingInputs(JsonNode input) {
    if (input.isArray() && input.size() > 0 && !input.get(0).isNumber()) {
      return input.size();
    }
    return 1;
  }

  /** What an inference request asked for, once its body has been read. */
  private record Ask(String model, boolean streaming, int requestBytes, int embeddingInputs) {}

  /** The endpoints, under {@code /v1}. */
  private enum Route {
    CHAT("/v1/chat/completions", "POST", true, true),
    TEXT("/v1/completions", "POST", true, true),
    EMBEDDINGS("/v1/embeddings", "POST", true, false),
    MODELS("/v1/models", "GET", false, false),
    KEY("/v1/key", "GET", false, false);

    private final String path;
    private final String method;
    /** Reads a JSON body, waits the configured latency and draws faults from the rates. */
    private final boolean inference;
    private final boolean streams;

    Route(String path, String method, boolean inference, boolean streams) {
      this.path = path;
      this.method = method;
      this.inference = inference;
      this.streams = streams;
    }

    static Route of(String path) {
      for (Route route : values()) {
        if (route.path.equals(path)) {
          return route;
        }
      }
      return null;
    }
  }
}
