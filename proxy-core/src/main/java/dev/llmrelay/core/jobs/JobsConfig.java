package dev.llmrelay.core.jobs;

import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Settings of the durable job queue ({@link RelayJobs}): where jobs are stored, how long results
 * are kept, how jobs are leased and how many run at once. Build one with {@link #builder()} or read
 * it with {@link #fromEnvironment(Map, int)} from variables named as in the README's table.
 *
 * <p>Immutable and thread-safe.
 */
public final class JobsConfig {
  /** Default {@code JOB_STORE_URL}: a SQLite file under {@code ./llmrelay-data/}. */
  public static final String DEFAULT_STORE_URL = "jdbc:sqlite:llmrelay-data/jobs.db";
  /** Default {@code JOB_RESULT_TTL_SECONDS}: a finished job's result is kept one day. */
  public static final Duration DEFAULT_RESULT_TTL = Duration.ofDays(1);
  /** Default {@code JOB_MAX_QUEUE_SECONDS}: a job that has not started within a day expires. */
  public static final Duration DEFAULT_MAX_QUEUE = Duration.ofDays(1);
  /** Default {@code JOB_MAX_ATTEMPTS}: a job is claimed at most this many times. */
  public static final int DEFAULT_MAX_ATTEMPTS = 3;
  /** Default {@code JOB_LEASE_SECONDS}: a claim lapses after this long without renewal. */
  public static final Duration DEFAULT_LEASE = Duration.ofSeconds(60);
  /** Default {@code JOB_MAX_QUEUED}: queued jobs per store beyond which submissions get 429. */
  public static final int DEFAULT_MAX_QUEUED = 10_000;
  /** Default {@code JOB_POLL_MILLIS}: how often an idle instance looks for queued jobs. */
  public static final Duration DEFAULT_POLL_INTERVAL = Duration.ofMillis(500);

  private final boolean enabled;
  private final String storeUrl;
  private final String storeUser;
  private final String storePassword;
  private final Duration resultTtl;
  private final Duration maxQueue;
  private final int maxAttempts;
  private final Duration lease;
  private final int maxConcurrent;
  private final int maxQueued;
  private final Duration pollInterval;
  private final String instanceId;

  private JobsConfig(Builder b) {
    this.enabled = b.enabled;
    this.storeUrl = b.storeUrl;
    this.storeUser = b.storeUser;
    this.storePassword = b.storePassword;
    this.resultTtl = b.resultTtl;
    this.maxQueue = b.maxQueue;
    this.maxAttempts = b.maxAttempts;
    this.lease = b.lease;
    this.maxConcurrent = b.maxConcurrent;
    this.maxQueued = b.maxQueued;
    this.pollInterval = b.pollInterval;
    this.instanceId = b.instanceId != null ? b.instanceId : dev.llmrelay.core.internal.InstanceIds.defaultId();
  }

  /**
   * A builder with the defaults; {@code JOB_MAX_CONCURRENT} defaults to 1 until set.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Reads the settings from variables named as in the README's table ({@code JOBS_ENABLED}, {@code
   * JOB_STORE_URL}, {@code JOB_STORE_USER}, {@code JOB_STORE_PASSWORD}, {@code
   * JOB_RESULT_TTL_SECONDS}, {@code JOB_MAX_QUEUE_SECONDS}, {@code JOB_MAX_ATTEMPTS}, {@code
   * JOB_LEASE_SECONDS}, {@code JOB_MAX_CONCURRENT}, {@code JOB_MAX_QUEUED}, {@code
   * JOB_POLL_MILLIS}, {@code RELAY_INSTANCE_ID}). Other names are ignored.
   *
   * @param variables name to value
   * @param maxConcurrentRequests the relay's {@code MAX_CONCURRENT_REQUESTS}: {@code
   *     JOB_MAX_CONCURRENT} defaults to half of it, at least 1
   * @return the settings
   * @throws IllegalArgumentException naming the variable when a value is invalid
   */
  public static JobsConfig fromEnvironment(Map<String, String> variables, int maxConcurrentRequests) {
    Objects.requireNonNull(variables, "variables");
    Builder b = builder();
    b.enabled(bool(variables, "JOBS_ENABLED", true));
    String url = text(variables, "JOB_STORE_URL");
    if (url != null) {
      b.storeUrl(url);
    }
    b.storeUser(text(variables, "JOB_STORE_USER"));
    b.storePassword(text(variables, "JOB_STORE_PASSWORD"));
    b.resultTtl(seconds(variables, "JOB_RESULT_TTL_SECONDS", DEFAULT_RESULT_TTL));
    b.maxQueue(seconds(variables, "JOB_MAX_QUEUE_SECONDS", DEFAULT_MAX_QUEUE));
    b.maxAttempts((int) positive(variables, "JOB_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS));
    b.lease(seconds(variables, "JOB_LEASE_SECONDS", DEFAULT_LEASE));
    b.maxConcurrent((int) positive(variables, "JOB_MAX_CONCURRENT", Math.max(1, maxConcurrentRequests / 2)));
    b.maxQueued((int) positive(variables, "JOB_MAX_QUEUED", DEFAULT_MAX_QUEUED));
    b.pollInterval(Duration.ofMillis(positive(variables, "JOB_POLL_MILLIS", DEFAULT_POLL_INTERVAL.toMillis())));
    b.instanceId(text(variables, "RELAY_INSTANCE_ID"));
    return b.build();
  }

  private static String text(Map<String, String> v, String name) {
    String s = v.get(name);
    return s == null || s.isBlank() ? null : s.trim();
  }

  private static boolean bool(Map<String, String> v, String name, boolean dflt) {
    String s = text(v, name);
    if (s == null) {
      return dflt;
    }
    switch (s.toLowerCase(Locale.ROOT)) {
      case "true": case "1": case "yes": case "on":
        return true;
      case "false": case "0": case "no": case "off":
        return false;
      default:
        throw new IllegalArgumentException(name + " must be true or false, was \"" + s + "\"");
    }
  }

  private static long positive(Map<String, String> v, String name, long dflt) {
    String s = text(v, name);
    if (s == null) {
      return dflt;
    }
    long n;
    try {
      n = Long.parseLong(s);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + " must be a whole number, was \"" + s + "\"");
    }
    if (n < 1 || n > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(name + " must be between 1 and " + Integer.MAX_VALUE + ", was " + n);
    }
    return n;
  }

  /** A {@code *_SECONDS} value: decimals allowed ({@code 0.5}), as for every such setting; at least 1 ms. */
  private static Duration seconds(Map<String, String> v, String name, Duration dflt) {
    String s = text(v, name);
    if (s == null) {
      return dflt;
    }
    java.math.BigDecimal millis;
    try {
      millis = new java.math.BigDecimal(s).movePointRight(3).setScale(0, java.math.RoundingMode.HALF_UP);
    } catch (NumberFormatException | ArithmeticException e) {
      throw new IllegalArgumentException(name + " must be a number of seconds, was \"" + s + "\"");
    }
    if (millis.signum() <= 0 || millis.compareTo(java.math.BigDecimal.valueOf(Integer.MAX_VALUE * 1000L)) > 0) {
      throw new IllegalArgumentException(name + " must be more than 0 and at most " + Integer.MAX_VALUE + " seconds, was " + s);
    }
    return Duration.ofMillis(millis.longValueExact());
  }

  /** {@return {@code JOBS_ENABLED} (default true): whether {@code Prefer: respond-async} makes a job} */
  public boolean enabled() {
    return enabled;
  }

  /**
   * {@return {@code JOB_STORE_URL}: a JDBC URL, {@code jdbc:sqlite:FILE} (embedded, the default)
   * or {@code jdbc:postgresql://HOST:PORT/DB} (shared by several instances)}
   */
  public String storeUrl() {
    return storeUrl;
  }

  /** {@return {@code JOB_STORE_USER}, if set} */
  public Optional<String> storeUser() {
    return Optional.ofNullable(storeUser);
  }

  /** {@return {@code JOB_STORE_PASSWORD}, if set; never logged} */
  public Optional<String> storePassword() {
    return Optional.ofNullable(storePassword);
  }

  /** {@return {@code JOB_RESULT_TTL_SECONDS}: how long a finished job and its result are kept} */
  public Duration resultTtl() {
    return resultTtl;
  }

  /** {@return {@code JOB_MAX_QUEUE_SECONDS}: a job not started within this expires} */
  public Duration maxQueue() {
    return maxQueue;
  }

  /** {@return {@code JOB_MAX_ATTEMPTS}: claims per job before it fails with {@code job_attempts_exhausted}} */
  public int maxAttempts() {
    return maxAttempts;
  }

  /** {@return {@code JOB_LEASE_SECONDS}: a claim not renewed within this lapses and the job is re-queued} */
  public Duration lease() {
    return lease;
  }

  /** {@return {@code JOB_MAX_CONCURRENT}: jobs this instance runs at once} */
  public int maxConcurrent() {
    return maxConcurrent;
  }

  /** {@return {@code JOB_MAX_QUEUED}: queued jobs in the store beyond which a submission is refused} */
  public int maxQueued() {
    return maxQueued;
  }

  /** {@return {@code JOB_POLL_MILLIS}: how often an instance with a free job slot looks for work} */
  public Duration pollInterval() {
    return pollInterval;
  }

  /** {@return {@code RELAY_INSTANCE_ID}: names this instance as a lease holder (default: the host name and the process id)} */
  public String instanceId() {
    return instanceId;
  }

  /** Builds a {@link JobsConfig}. Not thread-safe. */
  public static final class Builder {
    private boolean enabled = true;
    private String storeUrl = DEFAULT_STORE_URL;
    private String storeUser;
    private String storePassword;
    private Duration resultTtl = DEFAULT_RESULT_TTL;
    private Duration maxQueue = DEFAULT_MAX_QUEUE;
    private int maxAttempts = DEFAULT_MAX_ATTEMPTS;
    private Duration lease = DEFAULT_LEASE;
    private int maxConcurrent = 1;
    private int maxQueued = DEFAULT_MAX_QUEUED;
    private Duration pollInterval = DEFAULT_POLL_INTERVAL;
    private String instanceId;

    private Builder() {}

    /**
     * Sets this setting.
     *
     * @param enabled whether jobs are on
     * @return this builder
     */
    public Builder enabled(boolean enabled) {
      this.enabled = enabled;
      return this;
    }

    /**
     * Sets this setting.
     *
     * @param url a {@code jdbc:sqlite:} or {@code jdbc:postgresql:} URL
     * @return this builder
     */
    public Builder storeUrl(String url) {
      Objects.requireNonNull(url, "url");
      if (!url.startsWith("jdbc:sqlite:") && !url.startsWith("jdbc:postgresql:")) {
        throw new IllegalArgumentException(
            "JOB_STORE_URL must start with jdbc:sqlite: or jdbc:postgresql:, was \"" + redact(url) + "\"");
      }
      this.storeUrl = url;
      return this;
    }

    /**
     * Sets this setting.
     *
     * @param user the store's user, or null
     * @return this builder
     */
    public Builder storeUser(String user) {
      this.storeUser = user;
      return this;
    }

    /**
     * Sets this setting.
     *
     * @param password the store's password, or null
     * @return this builder
     */
    public Builder storePassword(String password) {
      this.storePassword = password;
      return this;
    }

    /**
     * Sets this setting.
     *
     * @param ttl how long finished jobs are kept; positive
     * @return this builder
     */
    public Builder resultTtl(Duration ttl) {
      this.resultTtl = positive(ttl, "JOB_RESULT_TTL_SECONDS");
      return this;
    }

    /**
     * Sets this setting.
     *
     * @param maxQueue how long a job may wait to start; positive
     * @return this builder
     */
    public Builder maxQueue(Duration maxQueue) {
      this.maxQueue = positive(maxQueue, "JOB_MAX_QUEUE_SECONDS");
      return this;
    }

    /**
     * Sets this setting.
     *
     * @param attempts claims per job; at least 1
     * @return this builder
     */
    public Builder maxAttempts(int attempts) {
      this.maxAttempts = atLeastOne(attempts, "JOB_MAX_ATTEMPTS");
      return this;
    }

    /**
     * Sets this setting.
     *
     * @param lease how long a claim lasts without renewal; positive
     * @return this builder
     */
    public Builder lease(Duration lease) {
      this.lease = positive(lease, "JOB_LEASE_SECONDS");
      return this;
    }

    /**
     * Sets this setting.
     *
     * @param jobs jobs this instance runs at once; at least 1
     * @return this builder
     */
    public Builder maxConcurrent(int jobs) {
      this.maxConcurrent = atLeastOne(jobs, "JOB_MAX_CONCURRENT");
      return this;
    }

    /**
     * Sets this setting.
     *
     * @param jobs queued jobs beyond which submissions are refused; at least 1
     * @return this builder
     */
    public Builder maxQueued(int jobs) {
      this.maxQueued = atLeastOne(jobs, "JOB_MAX_QUEUED");
      return this;
    }

    /**
     * Sets this setting.
     *
     * @param interval how often an idle instance looks for queued jobs; positive
     * @return this builder
     */
    public Builder pollInterval(Duration interval) {
      this.pollInterval = positive(interval, "JOB_POLL_MILLIS");
      return this;
    }

    /**
     * Sets this setting.
     *
     * @param id this instance's name as a lease holder, or null for the default
     * @return this builder
     */
    public Builder instanceId(String id) {
      this.instanceId = id;
      return this;
    }

    /** {@return the settings} */
    public JobsConfig build() {
      return new JobsConfig(this);
    }

    private static Duration positive(Duration d, String name) {
      Objects.requireNonNull(d, name);
      if (d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException(name + " must be positive, was " + d);
      }
      return d;
    }

    private static int atLeastOne(int n, String name) {
      if (n < 1) {
        throw new IllegalArgumentException(name + " must be at least 1, was " + n);
      }
      return n;
    }
  }

  /**
   * A JDBC URL with any password or user info removed, for messages.
   *
   * @param url a JDBC URL
   * @return the URL without credentials
   */
  static String redact(String url) {
    String s = url.replaceAll("(?i)(password|pwd)=[^&;]*", "$1=***");
    return s.replaceAll("//[^/@]*@", "//***@");
  }
}
