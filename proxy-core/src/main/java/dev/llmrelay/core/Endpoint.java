package dev.llmrelay.core;

import java.util.Optional;

/**
 * The fixed allowlist of upstream endpoints the relay forwards to. Client paths are matched
 * against this list and never concatenated raw onto the upstream URL. Immutable.
 */
public enum Endpoint {
  /** {@code POST /v1/chat/completions} (JSON or SSE streaming). */
  CHAT_COMPLETIONS("POST", "/chat/completions"),
  /** {@code POST /v1/completions} (legacy completions). */
  COMPLETIONS("POST", "/completions"),
  /** {@code POST /v1/embeddings}. */
  EMBEDDINGS("POST", "/embeddings"),
  /** {@code GET /v1/models}. */
  MODELS("GET", "/models");

  private final String method;
  private final String upstreamPath;

  Endpoint(String method, String upstreamPath) {
    this.method = method;
    this.upstreamPath = upstreamPath;
  }

  /** {@return the only HTTP method this endpoint accepts} */
  public String method() {
    return method;
  }

  /** {@return the path below the upstream base URL, for example {@code /chat/completions}} */
  public String upstreamPath() {
    return upstreamPath;
  }

  /** {@return the client-facing path, {@code /v1} followed by {@link #upstreamPath()}} */
  public String clientPath() {
    return "/v1" + upstreamPath;
  }

  /** {@return true when the request carries a JSON body that must be a JSON object} */
  public boolean hasBody() {
    return "POST".equals(method);
  }

  /**
   * The endpoint served at a client path, comparing exactly (no normalisation beyond one
   * optional trailing slash).
   *
   * @param path the client's path, may be null
   * @return the endpoint, or empty when the path is not on the allowlist
   */
  public static Optional<Endpoint> forClientPath(String path) {
    if (path == null) {
      return Optional.empty();
    }
    String p = path.length() > 1 && path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
    for (Endpoint e : values()) {
      if (e.clientPath().equals(p)) {
        return Optional.of(e);
      }
    }
    return Optional.empty();
  }
}
