package dev.llmrelay.servlet.internal;

import jakarta.servlet.http.HttpServletRequest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The client request headers the relay offers to forward upstream. The core removes hop-by-hop
 * headers, {@code Host}, {@code Content-Length} and {@code X-Request-Id} and sets the upstream key;
 * this class removes what only the servlet side knows must stay: the client's {@code
 * Authorization} when it carries the proxy key (so the proxy key never travels upstream), {@code
 * Expect} (the container already answered {@code 100-continue}; forwarded, it would make the
 * upstream call wait for an interim response), and {@code Cookie} (cookies of the proxy's own
 * domain are not the upstream's business). Stateless.
 */
public final class ClientHeaders {
  private static final Set<String> NEVER_FORWARDED = Set.of("expect", "cookie");

  private ClientHeaders() {}

  /**
   * @param clientRequest the client request
   * @param stripAuthorization true when the client's {@code Authorization} is the proxy key
   * @return a case-insensitive map of header name to values
   */
  public static Map<String, List<String>> forwardable(HttpServletRequest clientRequest, boolean stripAuthorization) {
    Map<String, List<String>> headers = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
    for (String name : Collections.list(clientRequest.getHeaderNames())) {
      String lower = name.toLowerCase(Locale.ROOT);
      if (headers.containsKey(name)
          || NEVER_FORWARDED.contains(lower)
          || (stripAuthorization && lower.equals("authorization"))) {
        continue;
      }
      List<String> values = new ArrayList<>(Collections.list(clientRequest.getHeaders(name)));
      if (!values.isEmpty()) {
        headers.put(name, values);
      }
    }
    return headers;
  }
}
