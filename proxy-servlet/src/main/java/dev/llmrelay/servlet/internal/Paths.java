package dev.llmrelay.servlet.internal;

import jakarta.servlet.http.HttpServletRequest;

/**
 * The path of a request within its web application, whatever the servlet's mapping: the servlet
 * path plus the path info. Mapped at {@code /}, {@code /*}, {@code /v1/*} or exactly, a request for
 * {@code /v1/chat/completions} always yields that string. Stateless.
 */
public final class Paths {
  private Paths() {}

  /** The decoded, container-normalised path below the context path, never null. */
  public static String withinContext(HttpServletRequest clientRequest) {
    String servletPath = clientRequest.getServletPath();
    String pathInfo = clientRequest.getPathInfo();
    String path = (servletPath == null ? "" : servletPath) + (pathInfo == null ? "" : pathInfo);
    return path.isEmpty() ? "/" : path;
  }
}
