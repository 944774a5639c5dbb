package dev.llmrelay.servlet.internal;

/**
 * A client request body that was read within {@code MAX_REQUEST_BYTES} and found to be one JSON
 * object, with the two fields the request log wants. The array is not copied: treat it as
 * immutable. Thread-safe under that rule.
 *
 * @param bytes the body exactly as the client sent it
 * @param model the top-level {@code model} string exactly as sent, or null
 * @param streamRequested the top-level {@code stream} flag
 * @param models the top-level {@code models} array (OpenRouter's fallback list), empty if none
 */
public record ClientBody(byte[] bytes, String model, boolean streamRequested, java.util.List<String> models) {
  /** The body of a request that has none ({@code GET /v1/models}). */
  public static final ClientBody EMPTY = new ClientBody(new byte[0], null, false, java.util.List.of());

  /** Freezes the list. */
  public ClientBody {
    models = java.util.List.copyOf(models);
  }
}
