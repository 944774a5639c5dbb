package dev.llmrelay.core;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * The client's request as the relay forwards it: the endpoint, the end-to-end headers the client
 * sent, and the complete body (already read and validated by the caller).
 *
 * <p>Header names are case-insensitive; the relay removes hop-by-hop headers, {@code Host} and
 * {@code Content-Length} itself, and replaces {@code Authorization} when an upstream key is
 * configured. The body array is not copied: the caller must not change it afterwards.
 *
 * <p>Immutable and thread-safe as long as the caller honours that rule.
 *
 * @param endpoint which allowlisted endpoint to call
 * @param headers the client's headers (name to values)
 * @param body the request body (empty for GET)
 * @param requestId the request id sent upstream as {@code X-Request-Id} and used in logs
 * @param model the requested model, if the caller parsed it, else null; it drives model routing
 *     ({@code MODEL_FALLBACKS}, {@code UPSTREAM_<n>_MODELS}) and the request log: a null model
 *     goes to the primary upstream unchanged, with no fallback
 * @param streamRequested the request's {@code stream} flag (for logs); the response type decides
 *     streaming
 * @param models the request's {@code models} array (OpenRouter's "try these models in order"),
 *     empty when it sent none; the relay then tries them itself, one model per attempt
 */
public record ClientRequest(
    Endpoint endpoint,
    Map<String, List<String>> headers,
    byte[] body,
    String requestId,
    String model,
    boolean streamRequested,
    List<String> models) {

  /**
   * Validates and freezes the headers into a case-insensitive map.
   *
   * @param endpoint which allowlisted endpoint to call
   * @param headers the client's headers (name to values)
   * @param body the request body (empty for GET)
   * @param requestId the request id
   * @param model the requested model, or null
   * @param streamRequested the request's {@code stream} flag
   * @param models the request's {@code models} array, empty or null when it sent none
   */
  public ClientRequest {
    Objects.requireNonNull(endpoint, "endpoint");
    Objects.requireNonNull(body, "body");
    Objects.requireNonNull(requestId, "requestId");
    TreeMap<String, List<String>> h = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
    if (headers != null) {
      headers.forEach((k, v) -> h.put(k, List.copyOf(v)));
    }
    headers = java.util.Collections.unmodifiableMap(h);
    models = models == null ? List.of() : List.copyOf(models);
  }

  /**
   * A request without a {@code models} array.
   *
   * @param endpoint which allowlisted endpoint to call
   * @param headers the client's headers (name to values)
   * @param body the request body (empty for GET)
   * @param requestId the request id
   * @param model the requested model, or null
   * @param streamRequested the request's {@code stream} flag
   */
  public ClientRequest(
      Endpoint endpoint,
      Map<String, List<String>> headers,
      byte[] body,
      String requestId,
      String model,
      boolean streamRequested) {
    this(endpoint, headers, body, requestId, model, streamRequested, List.of());
  }

  /**
   * A request with no headers, for embedders: reads the body's top-level {@code model}, {@code
   * models} and {@code stream} (which drive model routing, fallbacks and the request log), so the
   * relay routes it exactly like the servlet's requests.
   *
   * @param endpoint which allowlisted endpoint to call
   * @param body the request body (empty for GET)
   * @param requestId the request id
   * @return the request
   */
  public static ClientRequest of(Endpoint endpoint, byte[] body, String requestId) {
    dev.llmrelay.core.internal.JsonBodies.RequestFields fields =
        dev.llmrelay.core.internal.JsonBodies.requestFields(body);
    return new ClientRequest(endpoint, Map.of(), body, requestId, fields.model(), fields.stream(), fields.models());
  }
}
