package dev.llmrelay.core.internal;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.llmrelay.core.ClientRequest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import okhttp3.Headers;
import okhttp3.MediaType;
import okhttp3.Request;
import okhttp3.RequestBody;

/**
 * Builds the upstream request of each attempt from the client request: the route's URL, the
 * client's end-to-end headers with the route's key, and the body for the route's model (the
 * client's bytes untouched when they already name it) or, for a continuation, the request plus the
 * text sent so far as an assistant prefill. Not thread-safe: one per exchange.
 */
final class UpstreamRequests {
  private static final MediaType JSON = MediaType.get("application/json");
  /** Client headers the relay sets itself or must not forward. */
  private static final Set<String> NOT_FORWARDED_UP = Set.of("accept-encoding", "x-request-id");

  private final ClientRequest clientRequest;
  private final Map<String, List<String>> forwarded;
  private final MediaType contentType;
  private final Map<String, byte[]> bodiesByModel = new HashMap<>(4);

  UpstreamRequests(ClientRequest clientRequest) {
    this.clientRequest = clientRequest;
    this.forwarded = HopByHopHeaders.endToEnd(clientRequest.headers(), NOT_FORWARDED_UP);
    List<String> ct = clientRequest.headers().get("Content-Type");
    String type = ct == null || ct.isEmpty() ? null : ct.get(0);
    MediaType parsed = type == null || type.equalsIgnoreCase("application/json") ? JSON : MediaType.parse(type);
    this.contentType = parsed == null ? JSON : parsed;
  }

  /** The first response's request for {@code route}. */
  Request forRoute(Route route) {
    return build(route, clientRequest.endpoint().hasBody() ? bodyFor(route.model) : null);
  }

  /** A continuation's request for {@code route}: {@code prefilled} with the route's model. */
  Request continuation(Route route, ObjectNode prefilled) {
    ObjectNode copy = prefilled.deepCopy();
    if (route.model != null) {
      copy.put("model", route.model);
    }
    try {
      return build(route, Json.MAPPER.writeValueAsBytes(copy));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private Request build(Route route, byte[] body) {
    Upstream upstream = route.upstream;
    Headers.Builder headers = new Headers.Builder();
    // The primary without a key passes the client's Authorization through; any other upstream
    // gets its own key or none: a client's key for one provider never goes to another.
    boolean keepClientAuthorization = upstream.config.key().isEmpty() && upstream.config.primary();
    forwarded.forEach((name, values) -> {
      if (!keepClientAuthorization && name.equalsIgnoreCase("authorization")) {
        return;
      }
      for (String v : values) {
        headers.addUnsafeNonAscii(name, v);
      }
    });
    upstream.config.key().ifPresent(key -> headers.set("Authorization", "Bearer " + key));
    headers.set("X-Request-Id", clientRequest.requestId());
    Request.Builder upstreamRequest =
        new Request.Builder().url(upstream.urlFor(clientRequest.endpoint())).headers(headers.build());
    if (body != null) {
      upstreamRequest.post(RequestBody.create(body, contentType));
    } else {
      upstreamRequest.get();
    }
    return upstreamRequest.build();
  }

  /**
   * The body sent for {@code model}: the client's bytes untouched when they already name it (the
   * common case), else rewritten to carry exactly that one model.
   */
  private byte[] bodyFor(String model) {
    if (model == null || (model.equals(clientRequest.model()) && clientRequest.models().isEmpty())) {
      return clientRequest.body();
    }
    return bodiesByModel.computeIfAbsent(model, m -> {
      try {
        JsonNode tree = Json.MAPPER.readTree(clientRequest.body());
        if (!(tree instanceof ObjectNode object)) {
          return clientRequest.body();
        }
        object.put("model", m);
        object.remove("models");
        return Json.MAPPER.writeValueAsBytes(object);
      } catch (IOException e) {
        return clientRequest.body(); // the servlet validated it; an embedder's odd body goes as is
      }
    });
  }

  /**
   * The request plus an assistant message holding {@code sent}, streamed; null when the request
   * cannot be continued that way (no messages array, or several choices asked for).
   */
  ObjectNode prefilled(String sent) {
    try {
      JsonNode tree = Json.MAPPER.readTree(clientRequest.body());
      if (!(tree instanceof ObjectNode object) || !object.path("messages").isArray() || object.path("n").asInt(1) > 1) {
        return null;
      }
      object.remove("models");
      object.put("stream", true);
      ObjectNode prefill = ((ArrayNode) object.get("messages")).addObject();
      prefill.put("role", "assistant");
      prefill.put("content", sent);
      return object;
    } catch (IOException e) {
      return null;
    }
  }
}
