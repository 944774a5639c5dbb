package dev.llmrelay.servlet.internal;

/**
 * Makes client-controlled text (a path, a model name) safe to put into one log line or one error
 * message: control characters become {@code ?} and long values are cut, so a client can neither
 * forge log lines nor flood them. Stateless.
 */
public final class LogSafe {
  private LogSafe() {}

  /**
   * @param value the client's text, or null
   * @param maxLength the longest result before the {@code ...} marker
   * @return the cleaned text, or null when {@code value} is null
   */
  public static String text(String value, int maxLength) {
    if (value == null) {
      return null;
    }
    boolean cut = value.length() > maxLength;
    String v = cut ? value.substring(0, maxLength) : value;
    StringBuilder out = null;
    for (int i = 0; i < v.length(); i++) {
      char c = v.charAt(i);
      if (Character.isISOControl(c)) {
        if (out == null) {
          out = new StringBuilder(v.length() + 3).append(v, 0, i);
        }
        out.append('?');
      } else if (out != null) {
        out.append(c);
      }
    }
    String clean = out == null ? v : out.toString();
    return cut ? clean + "..." : clean;
  }
}
