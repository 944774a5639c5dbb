package dev.llmrelay.core.shared;

import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Settings for sharing limits across instances: which engine ({@code SHARED_STATE_URL}), the
 * global cap, the permit lease, the per-call timeout and what to do while the engine is down.
 * Without a URL nothing is shared. Build one with {@link #builder()} or read it with {@link
 * #fromEnvironment(Map)}.
 *
 * <p>Immutable and thread-safe.
 */
public final class SharedStateConfig {
  /** Default {@code SHARED_PERMIT_LEASE_SECONDS}: a permit lapses 30 s after its holder stopped renewing it. */
  public static final Duration DEFAULT_LEASE = Duration.ofSeconds(30);
  /** Default {@code SHARED_STATE_TIMEOUT_MILLIS}: the longest one engine call may take. */
  public static final Duration DEFAULT_TIMEOUT = Duration.ofMillis(250);

  private final String url;
  private final String user;
  private final String password;
  private final int maxConcurrentRequests;
  private final Duration lease;
  private final Duration timeout;
  private final FailureMode failureMode;
  private final String instanceId;

  private SharedStateConfig(Builder b) {
    this.url = b.url;
    this.user = b.user;
    this.password = b.password;
    this.maxConcurrentRequests = b.maxConcurrentRequests;
    this.lease = b.lease;
    this.timeout = b.timeout;
    this.failureMode = b.failureMode;
    this.instanceId = b.instanceId != null ? b.instanceId : dev.llmrelay.core.internal.InstanceIds.defaultId();
  }

  /** {@return a builder: nothing shared until a URL is set} */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Reads {@code SHARED_STATE_URL}, {@code SHARED_STATE_USER}, {@code SHARED_STATE_PASSWORD},
   * {@code SHARED_MAX_CONCURRENT_REQUESTS}, {@code SHARED_PERMIT_LEASE_SECONDS}, {@code
   * SHARED_STATE_TIMEOUT_MILLIS}, {@code SHARED_STATE_FAILURE_MODE} and {@code RELAY_INSTANCE_ID};
   * other names are ignored.
   *
   * @param variables name to value
   * @return the settings
   * @throws IllegalArgumentException naming the variable when a value is invalid, or when a URL is
   *     set without {@code SHARED_MAX_CONCURRENT_REQUESTS}
   */
  public static SharedStateConfig fromEnvironment(Map<String, String> variables) {
    Objects.requireNonNull(variables, "variables");
    Builder b = builder();
    String url = text(variables, "SHARED_STATE_URL");
    if (url != null) {
      b.url(url);
      String max = text(variables, "SHARED_MAX_CONCURRENT_REQUESTS");
      if (max == null) {
        throw new IllegalArgumentException("SHARED_MAX_CONCURRENT_REQUESTS must be set when SHARED_STATE_URL is");
      }
      b.maxConcurrentRequests((int) number(max, "SHARED_MAX_CONCURRENT_REQUESTS"));
    }
    b.user(text(variables, "SHARED_STATE_USER"));
    b.password(text(variables, "SHARED_STATE_PASSWORD"));
    String lease = text(variables, "SHARED_PERMIT_LEASE_SECONDS");
    if (lease != null) {
      b.lease(Duration.ofSeconds(number(lease, "SHARED_PERMIT_LEASE_SECONDS")));
    }
    String timeout = text(variables, "SHARED_STATE_TIMEOUT_MILLIS");
    if (timeout != null) {
      b.timeout(Duration.ofMillis(number(timeout, "SHARED_STATE_TIMEOUT_MILLIS")));
    }
    String mode = text(variables, "SHARED_STATE_FAILURE_MODE");
    if (mode != null) {
      switch (mode.toLowerCase(Locale.ROOT)) {
        case "open":
          b.failureMode(FailureMode.OPEN);
          break;
        case "closed":
          b.failureMode(FailureMode.CLOSED);
          break;
        default:
          throw new IllegalArgumentException("SHARED_STATE_FAILURE_MODE must be open or closed, was \"" + mode + "\"");
      }
    }
    b.instanceId(text(variables, "RELAY_INSTANCE_ID"));
    return b.build();
  }

  private static String text(Map<String, String> v, String name) {
    String s = v.get(name);
    return s == null || s.isBlank() ? null : s.trim();
  }

  private static long number(String s, String name) {
    try {
      long n = Long.parseLong(s);
      if (n >= 1 && n <= Integer.MAX_VALUE) {
        return n;
      }
    } catch (NumberFormatException e) {
      // below
    }
    throw new IllegalArgumentException(name + " must be a whole number from 1, was \"" + s + "\"");
  }

  /** {@return whether anything is shared: a URL is set} */
  public boolean enabled() {
    return url != null;
  }

  /** {@return {@code SHARED_STATE_URL}: {@code jdbc:postgresql://...} or {@code redis://...}, if set} */
  public Optional<String> url() {
    return Optional.ofNullable(url);
  }

  /** {@return {@code SHARED_STATE_USER} (PostgreSQL), if set} */
  public Optional<String> user() {
    return Optional.ofNullable(user);
  }

  /** {@return {@code SHARED_STATE_PASSWORD} (PostgreSQL), if set; never logged} */
  public Optional<String> password() {
    return Optional.ofNullable(password);
  }

  /** {@return {@code SHARED_MAX_CONCURRENT_REQUESTS}: requests in flight upstream across every instance} */
  public int maxConcurrentRequests() {
    return maxConcurrentRequests;
  }

  /** {@return {@code SHARED_PERMIT_LEASE_SECONDS}: a permit not renewed within this lapses} */
  public Duration lease() {
    return lease;
  }

  /** {@return {@code SHARED_STATE_TIMEOUT_MILLIS}: the longest one engine call may take} */
  public Duration timeout() {
    return timeout;
  }

  /** {@return {@code SHARED_STATE_FAILURE_MODE}: open (the default) or closed} */
  public FailureMode failureMode() {
    return failureMode;
  }

  /** {@return {@code RELAY_INSTANCE_ID}: this instance's name in lease ids and logs} */
  public String instanceId() {
    return instanceId;
  }

  /** Builds a {@link SharedStateConfig}. Not thread-safe. */
  public static final class Builder {
    private String url;
    private String user;
    private String password;
    private int maxConcurrentRequests = Integer.MAX_VALUE;
    private Duration lease = DEFAULT_LEASE;
    private Duration timeout = DEFAULT_TIMEOUT;
    private FailureMode failureMode = FailureMode.OPEN;
    private String instanceId;

    private Builder() {}

    /**
     * Sets the engine.
     *
     * @param url {@code jdbc:postgresql://...} or {@code redis://...}
     * @return this builder
     */
    public Builder url(String url) {
      Objects.requireNonNull(url, "url");
      if (!url.startsWith("jdbc:postgresql:") && !url.startsWith("redis://") && !url.startsWith("rediss://")) {
        throw new IllegalArgumentException("SHARED_STATE_URL must start with jdbc:postgresql:, redis:// or rediss://");
      }
      this.url = url;
      return this;
    }

    /**
     * Sets the PostgreSQL user.
     *
     * @param user the user, or null
     * @return this builder
     */
    public Builder user(String user) {
      this.user = user;
      return this;
    }

    /**
     * Sets the PostgreSQL password.
     *
     * @param password the password, or null
     * @return this builder
     */
    public Builder password(String password) {
      this.password = password;
      return this;
    }

    /**
     * Sets the global cap.
     *
     * @param max requests in flight across every instance; at least 1
     * @return this builder
     */
    public Builder maxConcurrentRequests(int max) {
      if (max < 1) {
        throw new IllegalArgumentException("SHARED_MAX_CONCURRENT_REQUESTS must be at least 1");
      }
      this.maxConcurrentRequests = max;
      return this;
    }

    /**
     * Sets the permit lease.
     *
     * @param lease positive
     * @return this builder
     */
    public Builder lease(Duration lease) {
      if (lease.isZero() || lease.isNegative()) {
        throw new IllegalArgumentException("SHARED_PERMIT_LEASE_SECONDS must be positive");
      }
      this.lease = lease;
      return this;
    }

    /**
     * Sets the per-call timeout.
     *
     * @param timeout positive
     * @return this builder
     */
    public Builder timeout(Duration timeout) {
      if (timeout.isZero() || timeout.isNegative()) {
        throw new IllegalArgumentException("SHARED_STATE_TIMEOUT_MILLIS must be positive");
      }
      this.timeout = timeout;
      return this;
    }

    /**
     * Sets what happens while the engine is down.
     *
     * @param mode open or closed
     * @return this builder
     */
    public Builder failureMode(FailureMode mode) {
      this.failureMode = Objects.requireNonNull(mode, "mode");
      return this;
    }

    /**
     * Names this instance.
     *
     * @param id the name, or null for host and process id
     * @return this builder
     */
    public Builder instanceId(String id) {
      this.instanceId = id;
      return this;
    }

    /** {@return the settings} */
    public SharedStateConfig build() {
      return new SharedStateConfig(this);
    }
  }
}
