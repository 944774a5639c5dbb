package dev.llmrelay.example;

import java.net.URI;

/**
 * A URL as the launcher may log it: user-info replaced by {@code ***}, the query by {@code ?***},
 * the fragment dropped ({@code http://user:pw@host/v1?key=k} becomes {@code
 * http://***@host/v1?***}). An upstream URL can carry credentials in either place, and logs are
 * read by more people than the configuration is. Stateless.
 */
final class LogSafeUrl {
  private LogSafeUrl() {}

  /** The URL with user-info and query masked and the fragment dropped. */
  static String of(URI url) {
    if (url == null) {
      return "null";
    }
    if (url.getRawAuthority() == null) {
      return url.getScheme() == null ? "***" : url.getScheme() + ":***"; // opaque or relative: say nothing
    }
    StringBuilder safe = new StringBuilder();
    if (url.getScheme() != null) {
      safe.append(url.getScheme()).append(':');
    }
    safe.append("//");
    String authority = url.getRawAuthority();
    int at = authority.lastIndexOf('@');
    if (at >= 0) {
      safe.append("***@").append(authority, at + 1, authority.length());
    } else {
      safe.append(authority);
    }
    if (url.getRawPath() != null) {
      safe.append(url.getRawPath());
    }
    if (url.getRawQuery() != null) {
      safe.append("?***");
    }
    return safe.toString();
  }
}
