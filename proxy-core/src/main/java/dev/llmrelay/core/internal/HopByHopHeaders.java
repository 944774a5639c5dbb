package dev.llmrelay.core.internal;

import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Which headers stop at the proxy (RFC 9110 §7.6.1): Connection and every header it names,
 * Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade; plus Host and Content-Length,
 * which the next leg sets itself. Applied in both directions. Stateless.
 */
public final class HopByHopHeaders {
  private static final Set<String> ALWAYS =
      Set.of(
          "connection",
          "keep-alive",
          "proxy-connection",
          "proxy-authenticate",
          "proxy-authorization",
          "te",
          "trailer",
          "trailers",
          "transfer-encoding",
          "upgrade",
          "host",
          "content-length");

  private HopByHopHeaders() {}

  /**
   * Returns the end-to-end headers of {@code headers} (a new case-insensitive map), dropping
   * hop-by-hop ones, every header named by {@code Connection}, and {@code extraDropped}.
   */
  public static Map<String, List<String>> endToEnd(
      Map<String, ? extends Collection<String>> headers, Set<String> extraDropped) {
    Set<String> named = new TreeSet<>(String.CASE_INSENSITIVE_ORDER);
    headers.forEach((name, values) -> {
      if (name.equalsIgnoreCase("connection")) {
        for (String v : values) {
          for (String token : v.split(",")) {
            String t = token.trim();
            if (!t.isEmpty()) {
              named.add(t);
            }
          }
        }
      }
    });
    Map<String, List<String>> out = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
    headers.forEach((name, values) -> {
      String lower = name.toLowerCase(Locale.ROOT);
      if (!ALWAYS.contains(lower)
          && !lower.startsWith("proxy-")
          && !named.contains(name)
          && !extraDropped.contains(lower)) {
        out.merge(name, List.copyOf(values), (a, b) -> {
          List<String> merged = new java.util.ArrayList<>(a);
          merged.addAll(b);
          return merged;
        });
      }
    });
    return out;
  }

  /** True when {@code name} is hop-by-hop regardless of what Connection names. */
  public static boolean isAlwaysHopByHop(String name) {
    String lower = name.toLowerCase(Locale.ROOT);
    return ALWAYS.contains(lower) || lower.startsWith("proxy-");
  }
}
