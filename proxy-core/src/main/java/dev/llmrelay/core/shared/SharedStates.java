package dev.llmrelay.core.shared;

/** Creates the {@link SharedState} a {@link SharedStateConfig} names. Stateless. */
public final class SharedStates {
  private SharedStates() {}

  /**
   * The shared state for {@code config}: in the JVM when no URL is set (nothing shared),
   * PostgreSQL for {@code jdbc:postgresql:}, Redis for {@code redis://} (which needs {@code
   * io.lettuce:lettuce-core} on the class path). Connecting is lazy: an engine that is down at
   * start-up is handled like one that goes down later.
   *
   * @param config the settings
   * @return a new shared state; the caller closes it
   * @throws IllegalStateException when the engine's client library is missing
   * @throws IllegalArgumentException when a Redis URL is malformed (the message hides its password)
   */
  public static SharedState create(SharedStateConfig config) {
    String url = config.url().orElse(null);
    if (url == null) {
      return new dev.llmrelay.core.internal.shared.InJvmSharedState();
    }
    if (url.startsWith("jdbc:postgresql:")) {
      return new dev.llmrelay.core.internal.shared.PostgresSharedState(
          url, config.user().orElse(null), config.password().orElse(null), config.timeout());
    }
    try {
      Class.forName("io.lettuce.core.RedisClient", false, SharedStates.class.getClassLoader());
    } catch (ClassNotFoundException e) {
      throw new IllegalStateException(
          "SHARED_STATE_URL names Redis, but its client is not on the class path: add io.lettuce:lettuce-core");
    }
    try {
      return dev.llmrelay.core.internal.shared.RedisSharedState.create(url, config.timeout());
    } catch (RuntimeException e) {
      // Lettuce's message quotes the URL, password included: name the setting, never the value.
      throw new IllegalArgumentException(
          "SHARED_STATE_URL is not a valid Redis URL: " + dev.llmrelay.core.RelayConfig.redactUrl(url)
              + " (percent-encode special characters in the password)");
    }
  }
}
