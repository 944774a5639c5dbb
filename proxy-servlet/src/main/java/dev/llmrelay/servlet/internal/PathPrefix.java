package dev.llmrelay.servlet.internal;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Where the relay sits inside its web application: the root ({@code ""}) or a prefix such as
 * {@code /llm}, below which the relay's paths ({@code /v1/chat/completions}, {@code /health}) are
 * found. Validated once, so that a mapping built from it is always a legal servlet mapping and never
 * reaches outside the prefix. Immutable.
 */
public final class PathPrefix {
  /** The whole web application: the launcher's layout. */
  public static final PathPrefix ROOT = new PathPrefix("");

  /** One path segment: letters, digits and the URL-safe punctuation a mapping may hold literally. */
  private static final Pattern SEGMENT = Pattern.compile("[A-Za-z0-9._~!$&'()+,=:@-]+");

  private final String value;

  private PathPrefix(String value) {
    this.value = value;
  }

  /**
   * Parses a prefix: {@code ""} or {@code "/"} for the root, else one or more segments, each
   * after a {@code /}, without a trailing {@code /} ({@code /llm}, {@code /api/llm}).
   *
   * @param prefix the prefix as configured
   * @return the prefix
   * @throws IllegalArgumentException saying what is wrong: no leading {@code /}, a trailing
   *     {@code /}, a wildcard, an empty, {@code .} or {@code ..} segment, or a character a servlet
   *     mapping cannot hold literally
   */
  public static PathPrefix of(String prefix) {
    Objects.requireNonNull(prefix, "prefix");
    if (prefix.isEmpty() || prefix.equals("/")) {
      return ROOT;
    }
    String why = null;
    if (!prefix.startsWith("/")) {
      why = "it must start with \"/\"";
    } else if (prefix.endsWith("/")) {
      why = "it must not end with \"/\"";
    } else if (prefix.indexOf('*') >= 0) {
      why = "it must not contain a wildcard: the relay adds \"/*\" itself";
    } else {
      for (String segment : prefix.substring(1).split("/", -1)) {
        if (segment.isEmpty() || segment.equals(".") || segment.equals("..") || !SEGMENT.matcher(segment).matches()) {
          why = "each segment must be non-empty, not \".\" or \"..\", and hold only letters, digits and -._~!$&'()+,=:@";
          break;
        }
      }
    }
    if (why != null) {
      throw new IllegalArgumentException(
          "invalid path prefix \"" + LogSafe.text(prefix, 100) + "\": " + why
              + " (for example \"/llm\"; \"\" or \"/\" mounts at the root)");
    }
    return new PathPrefix(prefix);
  }

  /** {@code ""} for the root, else the prefix ({@code /llm}). */
  public String value() {
    return value;
  }

  /** True for the root. */
  public boolean isRoot() {
    return value.isEmpty();
  }

  /** The servlet mapping of {@code path} (which starts with {@code /}) below this prefix. */
  public String mapping(String path) {
    return value + path;
  }

  /**
   * The part of {@code pathWithinContext} below this prefix, {@code "/"} for the prefix itself,
   * or null when the path is not below it.
   */
  public String strip(String pathWithinContext) {
    if (isRoot()) {
      return pathWithinContext;
    }
    if (pathWithinContext.equals(value)) {
      return "/";
    }
    if (pathWithinContext.startsWith(value) && pathWithinContext.charAt(value.length()) == '/') {
      return pathWithinContext.substring(value.length());
    }
    return null;
  }

  @Override
  public String toString() {
    return isRoot() ? "/" : value;
  }
}
