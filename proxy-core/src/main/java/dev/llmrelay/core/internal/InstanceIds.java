package dev.llmrelay.core.internal;

/** The default {@code RELAY_INSTANCE_ID}: one name for this process in job leases and shared permits. */
public final class InstanceIds {
  private static final String DEFAULT = compute();

  private InstanceIds() {}

  /** {@return the host name and the process id, such as {@code web-3-41872}} */
  public static String defaultId() {
    return DEFAULT;
  }

  private static String compute() {
    String host;
    try {
      host = java.net.InetAddress.getLocalHost().getHostName();
    } catch (java.io.IOException | RuntimeException e) {
      host = "localhost";
    }
    return host + "-" + ProcessHandle.current().pid();
  }
}
