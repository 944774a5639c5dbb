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
    Set<String> named = Set.of();
    for (Map.Entry<String, ? extends Collection<String>> e : headers.entrySet()) {
      if (e.getKey().equalsIgnoreCase("connection")) {
        named = named.isEmpty() ? new TreeSet<>(String.CASE_INSENSITIVE_ORDER) : named;
        for (String v : e.getValue()) {
          addTokens(v, named);
        }
      }
    }
    Set<String> connectionNamed = named;
    Map<String, List<String>> out = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
    headers.forEach((name, values) -> {
      if (isEndToEnd(name, connectionNamed, extraDropped)) {
        out.merge(name, List.copyOf(values), (a, b) -> {
          List<String> merged = new java.util.ArrayList<>(a);
          merged.addAll(b);
          return merged;
        });
      }
    });
    return out;
  }

  /**
   * The same for OkHttp's headers (an upstream response), without an intermediate multimap;
   * names keep the upstream's spelling, repeated headers keep their order.
   */
  public static Map<String, List<String>> endToEnd(okhttp3.Headers headers, Set<String> extraDropped) {
    Set<String> named = Set.of();
    List<String> connection = headers.values("Connection");
    if (!connection.isEmpty()) {
      named = new TreeSet<>(String.CASE_INSENSITIVE_ORDER);
      for (String v : connection) {
        addTokens(v, named);
      }
    }
    Map<String, List<String>> out = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
    for (int i = 0, n = headers.size(); i < n; i++) {
      String name = headers.name(i);
      if (isEndToEnd(name, named, extraDropped)) {
        out.computeIfAbsent(name, k -> new java.util.ArrayList<>(1)).add(headers.value(i));
      }
    }
    return out;
  }

  private static void addTokens(String value, Set<String> into) {
    for (String token : value.split(",")) {
      String t = token.trim();
      if (!t.isEmpty()) {
        into.add(t);
      }
    }
  }

  private static boolean isEndToEnd(String name, Set<String> connectionNamed, Set<String> extraDropped) {
    String lower = name.toLowerCase(Locale.ROOT);
    return !ALWAYS.contains(lower)
        && !lower.startsWith("proxy-")
        && !connectionNamed.contains(name)
        && !extraDropped.contains(lower);
  }

  /** True when {@code name} is hop-by-hop regardless of what Connection names. */
  public static boolean isAlwaysHopByHop(String name) {
    String lower = name.toLowerCase(Locale.ROOT);
    return ALWAYS.contains(lower) || lower.startsWith("proxy-");
  }
}
