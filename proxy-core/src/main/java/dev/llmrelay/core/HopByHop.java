package dev.llmrelay.core;

import dev.llmrelay.core.internal.HopByHopHeaders;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The hop-by-hop rule of the relay (RFC 9110 §7.6.1), for code that writes headers itself, such as
 * a {@link ResponseSink}: {@code Connection} and every header it names, {@code Keep-Alive}, {@code
 * Proxy-*}, {@code TE}, {@code Trailer}, {@code Transfer-Encoding}, {@code Upgrade}, and {@code
 * Host} and {@code Content-Length} (which the container sets) are never passed on. The relay
 * applies it in both directions already; a sink may apply it again as a second line of defence.
 * Stateless and thread-safe.
 */
public final class HopByHop {
  private HopByHop() {}

  /**
   * The end-to-end headers of {@code headers}, as a new case-insensitive map: without the
   * hop-by-hop ones and without every header that {@code Connection} names.
   *
   * @param headers the headers as received (name to values)
   * @return a new map with the end-to-end headers only
   */
  public static Map<String, List<String>> endToEnd(Map<String, ? extends Collection<String>> headers) {
    return HopByHopHeaders.endToEnd(headers, Set.of());
  }

  /**
   * True for a header name that is hop-by-hop whatever {@code Connection} says.
   *
   * @param name a header name, in any case
   * @return true when the header is never forwarded
   */
  public static boolean isHopByHop(String name) {
    return HopByHopHeaders.isAlwaysHopByHop(name);
  }
}
