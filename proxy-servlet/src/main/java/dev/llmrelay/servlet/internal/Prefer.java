package dev.llmrelay.servlet.internal;

import java.time.Duration;
import java.util.Enumeration;
import java.util.Locale;

/**
 * The preferences of a request's {@code Prefer} headers (RFC 7240) that the relay acts on: {@code
 * respond-async} and {@code wait}. Each header holds comma-separated preferences, {@code token [=
 * value] *( ";" parameter )}; tokens compare case-insensitively, values may be quoted, and a
 * preference given twice counts the first time (RFC 7240 §2). Anything not understood is ignored, as
 * the RFC asks: a malformed {@code wait} is no {@code wait}. Immutable and thread-safe.
 *
 * @param respondAsync whether {@code respond-async} was asked for
 * @param waitSeconds the {@code wait} preference in seconds, or -1 when none was given
 */
public record Prefer(boolean respondAsync, long waitSeconds) {
  /** No preference. */
  public static final Prefer NONE = new Prefer(false, -1);

  /**
   * Reads every {@code Prefer} header of a request.
   *
   * @param headers the values of the {@code Prefer} headers, or null
   * @return the preferences
   */
  public static Prefer parse(Enumeration<String> headers) {
    boolean async = false;
    boolean seenAsync = false;
    long wait = -1;
    boolean seenWait = false;
    if (headers == null) {
      return NONE;
    }
    while (headers.hasMoreElements()) {
      String header = headers.nextElement();
      if (header == null) {
        continue;
      }
      for (String preference : splitOutsideQuotes(header, ',')) {
        String head = splitOutsideQuotes(preference, ';').get(0).trim();
        if (head.isEmpty()) {
          continue;
        }
        int eq = head.indexOf('=');
        String token = (eq < 0 ? head : head.substring(0, eq)).trim().toLowerCase(Locale.ROOT);
        String value = eq < 0 ? null : unquote(head.substring(eq + 1).trim());
        if (token.equals("respond-async") && !seenAsync) {
          seenAsync = true;
          async = true;
        } else if (token.equals("wait") && !seenWait) {
          seenWait = true;
          wait = deltaSeconds(value);
        }
      }
    }
    return new Prefer(async, wait);
  }

  /**
   * The {@code wait} preference, capped.
   *
   * @param cap the longest wait the relay grants
   * @return the wait, zero when none was asked for
   */
  public Duration waitAtMost(Duration cap) {
    if (waitSeconds <= 0) {
      return Duration.ZERO;
    }
    Duration asked = Duration.ofSeconds(waitSeconds);
    return asked.compareTo(cap) > 0 ? cap : asked;
  }

  private static long deltaSeconds(String value) {
    if (value == null || value.isEmpty() || value.length() > 10) {
      return -1;
    }
    for (int i = 0; i < value.length(); i++) {
      if (value.charAt(i) < '0' || value.charAt(i) > '9') {
        return -1;
      }
    }
    return Long.parseLong(value);
  }

  private static String unquote(String value) {
    if (value.length() >= 2 && value.startsWith("\"") && value.endsWith("\"")) {
      return value.substring(1, value.length() - 1).replaceAll("\\\\(.)", "$1");
    }
    return value;
  }

  private static java.util.List<String> splitOutsideQuotes(String s, char separator) {
    java.util.List<String> parts = new java.util.ArrayList<>();
    StringBuilder part = new StringBuilder();
    boolean quoted = false;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (quoted && c == '\\' && i + 1 < s.length()) {
        part.append(c).append(s.charAt(++i));
        continue;
      }
      if (c == '"') {
        quoted = !quoted;
      }
      if (c == separator && !quoted) {
        parts.add(part.toString());
        part.setLength(0);
      } else {
        part.append(c);
      }
    }
    parts.add(part.toString());
    return parts;
  }
}
