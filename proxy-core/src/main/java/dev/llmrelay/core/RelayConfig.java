package dev.llmrelay.core;

import dev.llmrelay.core.internal.ConfigParser;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * The whole configuration of a relay: upstream, limits, timeouts, health and logging. Built with
 * {@link #builder()} or read from environment variables with {@link #fromEnvironment(Map)};
 * each accessor names its variable, and these names are part of the public interface.
 *
 * <p>Durations are {@link Duration}s. A zero duration means what each setting's javadoc says: for
 * waits it means "do not wait", for the heartbeat it means "off"; timeouts must be positive.
 *
 * <p>Instances are immutable and thread-safe; {@link #toBuilder()} derives a changed copy.
 */
public final class RelayConfig {
  /** Default {@code UPSTREAM_BASE_URL}: OpenRouter's OpenAI-compatible API. */
  public static final String DEFAULT_UPSTREAM_BASE_URL = "https://openrouter.ai/api/v1";
  /** Default {@code MAX_CONCURRENT_REQUESTS}. */
  public static final int DEFAULT_MAX_CONCURRENT_REQUESTS = 10;
  /** Default {@code MAX_WAIT_SECONDS}. */
  public static final Duration DEFAULT_MAX_WAIT = Duration.ofSeconds(120);
  /** Default {@code MAX_QUEUED_REQUESTS}. */
  public static final int DEFAULT_MAX_QUEUED_REQUESTS = 1000;
  /** Default {@code MAX_ATTEMPTS}: the first attempt plus two retries. */
  public static final int DEFAULT_MAX_ATTEMPTS = 3;
  /** Default {@code ATTEMPT_TIMEOUT_SECONDS}. */
  public static final Duration DEFAULT_ATTEMPT_TIMEOUT = Duration.ofSeconds(45);
  /** Default {@code RETRY_TIMEOUT_SECONDS}. */
  public static final Duration DEFAULT_RETRY_TIMEOUT = Duration.ofSeconds(60);
  /** Default {@code STREAM_IDLE_TIMEOUT_SECONDS}. */
  public static final Duration DEFAULT_STREAM_IDLE_TIMEOUT = Duration.ofSeconds(60);
  /** Default {@code CLIENT_BODY_TIMEOUT_SECONDS}. */
  public static final Duration DEFAULT_CLIENT_BODY_TIMEOUT = Duration.ofSeconds(60);
  /** Default {@code CONNECT_TIMEOUT_SECONDS}. */
  public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(10);
  /** Default {@code BACKOFF_INITIAL_MS}. */
  public static final Duration DEFAULT_BACKOFF_INITIAL = Duration.ofMillis(1000);
  /** Default {@code BACKOFF_MAX_MS}. */
  public static final Duration DEFAULT_BACKOFF_MAX = Duration.ofMillis(4000);
  /** Default {@code RETRY_AFTER_MAX_SECONDS}. */
  public static final Duration DEFAULT_RETRY_AFTER_MAX = Duration.ofSeconds(30);
  /** Default {@code POOL_MAX_IDLE_CONNECTIONS}. */
  public static final int DEFAULT_POOL_MAX_IDLE_CONNECTIONS = 10;
  /** Default {@code POOL_KEEP_ALIVE_SECONDS}. */
  public static final Duration DEFAULT_POOL_KEEP_ALIVE = Duration.ofSeconds(300);
  /** Default {@code MAX_REQUEST_BYTES}: 32 MiB. */
  public static final long DEFAULT_MAX_REQUEST_BYTES = 32L * 1024 * 1024;
  /** Default {@code MAX_RESPONSE_BYTES}: 64 MiB. */
  public static final long DEFAULT_MAX_RESPONSE_BYTES = 64L * 1024 * 1024;
  /** Default {@code HEALTH_PATH}. */
  public static final String DEFAULT_HEALTH_PATH = "/models";
  /** Default {@code HEALTH_TIMEOUT_SECONDS}. */
  public static final Duration DEFAULT_HEALTH_TIMEOUT = Duration.ofSeconds(5);
  /** Default {@code HEALTH_INTERVAL_SECONDS}. */
  public static final Duration DEFAULT_HEALTH_INTERVAL = Duration.ofSeconds(30);
  /** Default {@code HEALTH_CACHE_MILLIS}. */
  public static final Duration DEFAULT_HEALTH_CACHE = Duration.ofMillis(2000);
  /** Default {@code LOG_RETENTION_DAYS}. */
  public static final int DEFAULT_LOG_RETENTION_DAYS = 7;
  /** Default {@code MAX_ROUTE_ATTEMPTS}. */
  public static final int DEFAULT_MAX_ROUTE_ATTEMPTS = 6;
  /** Default {@code BREAKER_FAILURES}: consecutive provider faults that open a route's breaker. */
  public static final int DEFAULT_BREAKER_FAILURES = 5;
  /** Default {@code BREAKER_FAILURE_RATE} in percent, over the last 20 attempts of a route. */
  public static final int DEFAULT_BREAKER_FAILURE_RATE = 50;
  /** Default {@code BREAKER_OPEN_SECONDS}. */
  public static final Duration DEFAULT_BREAKER_OPEN = Duration.ofSeconds(30);
  /** Default {@code MAX_CONTINUATION_CHARS}. */
  public static final int DEFAULT_MAX_CONTINUATION_CHARS = 200_000;
  /** Default {@code RETRY_BUDGET_PERCENT}: retries in flight may be this share of requests in flight. */
  public static final int DEFAULT_RETRY_BUDGET_PERCENT = 20;
  /** Default {@code RETRY_BUDGET_MIN_RETRIES}: retries in flight the budget always allows. */
  public static final int DEFAULT_RETRY_BUDGET_MIN_RETRIES = 10;
  /** Default interval of the "still waiting for a permit" log line. */
  public static final Duration DEFAULT_WAIT_LOG_INTERVAL = Duration.ofSeconds(5);

  private final URI upstreamBaseUrl;
  private final String upstreamApiKey;
  private final int maxConcurrentRequests;
  private final Duration maxWait;
  private final int maxQueuedRequests;
  private final int maxAttempts;
  private final Duration attemptTimeout;
  private final Duration retryTimeout;
  private final Duration streamIdleTimeout;
  private final Duration clientBodyTimeout;
  private final Duration connectTimeout;
  private final Duration backoffInitial;
  private final Duration backoffMax;
  private final Duration retryAfterMax;
  private final int poolMaxIdleConnections;
  private final Duration poolKeepAlive;
  private final long maxRequestBytes;
  private final long maxResponseBytes;
  private final String healthPath;
  private final Duration healthTimeout;
  private final Duration healthInterval;
  private final Duration healthCache;
  private final boolean debugMode;
  private final Path debugModeFile;
  private final Path logDir;
  private final int logRetentionDays;
  private final Duration waitLogInterval;
  private final java.util.List<UpstreamConfig> extraUpstreams;
  private final int primaryWeight;
  private final java.util.Set<String> primaryModels;
  private final Map<String, List<String>> modelFallbacks;
  private final int maxRouteAttempts;
  private final int breakerFailures;
  private final int breakerFailureRate;
  private final Duration breakerOpen;
  private final Duration firstEventTimeout;
  private final boolean adaptiveTimeouts;
  private final boolean streamContinuation;
  private final int maxContinuationChars;
  private final boolean primaryStreamContinuation;
  private final int retryBudgetPercent;
  private final int retryBudgetMinRetries;

  private RelayConfig(Builder b) {
    this.upstreamBaseUrl = b.upstreamBaseUrl;
    this.upstreamApiKey = b.upstreamApiKey;
    this.maxConcurrentRequests = b.maxConcurrentRequests;
    this.maxWait = b.maxWait;
    this.maxQueuedRequests = b.maxQueuedRequests;
    this.maxAttempts = b.maxAttempts;
    this.attemptTimeout = b.attemptTimeout;
    this.retryTimeout = b.retryTimeout;
    this.streamIdleTimeout = b.streamIdleTimeout;
    this.clientBodyTimeout = b.clientBodyTimeout;
    this.connectTimeout = b.connectTimeout;
    this.backoffInitial = b.backoffInitial;
    this.backoffMax = b.backoffMax;
    this.retryAfterMax = b.retryAfterMax;
    this.poolMaxIdleConnections = b.poolMaxIdleConnections;
    this.poolKeepAlive = b.poolKeepAlive;
    this.maxRequestBytes = b.maxRequestBytes;
    this.maxResponseBytes = b.maxResponseBytes;
    this.healthPath = b.healthPath;
    this.healthTimeout = b.healthTimeout;
    this.healthInterval = b.healthInterval;
    this.healthCache = b.healthCache;
    this.debugMode = b.debugMode;
    this.debugModeFile = b.debugModeFile;
    this.logDir = b.logDir;
    this.logRetentionDays = b.logRetentionDays;
    this.waitLogInterval = b.waitLogInterval;
    this.extraUpstreams = List.copyOf(b.extraUpstreams);
    this.primaryWeight = b.primaryWeight;
    this.primaryModels = java.util.Set.copyOf(b.primaryModels);
    java.util.Map<String, List<String>> fallbacks = new java.util.LinkedHashMap<>();
    b.modelFallbacks.forEach((k, v) -> fallbacks.put(k, List.copyOf(v)));
    this.modelFallbacks = java.util.Collections.unmodifiableMap(fallbacks);
    this.maxRouteAttempts = b.maxRouteAttempts;
    this.breakerFailures = b.breakerFailures;
    this.breakerFailureRate = b.breakerFailureRate;
    this.breakerOpen = b.breakerOpen;
    this.firstEventTimeout = b.firstEventTimeout;
    this.adaptiveTimeouts = b.adaptiveTimeouts;
    this.streamContinuation = b.streamContinuation;
    this.maxContinuationChars = b.maxContinuationChars;
    this.primaryStreamContinuation = b.primaryStreamContinuation;
    this.retryBudgetPercent = b.retryBudgetPercent;
    this.retryBudgetMinRetries = b.retryBudgetMinRetries;
  }

  /**
   * A builder holding every default.
   *
   * @return a new builder with every default
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * A builder initialised with this configuration's values.
   *
   * @return a new builder holding this configuration's values
   */
  public Builder toBuilder() {
    return new Builder(this);
  }

  /**
   * Reads the configuration from variables named as on the accessors (usually {@code
   * System.getenv()}, or the environment merged with a {@code .env} file by the caller: the
   * servlet adapter and the launcher do that). Every variable is read and validated; the first
   * invalid one fails with an {@link IllegalArgumentException} whose message names it. Names this
   * configuration does not know (a launcher's own) are ignored.
   *
   * @param variables name to value
   * @return the validated configuration
   * @throws IllegalArgumentException naming the variable when a value is invalid
   */
  public static RelayConfig fromEnvironment(Map<String, String> variables) {
    return ConfigParser.parse(variables);
  }

  /**
   * {@code UPSTREAM_BASE_URL}: where requests go; {@code /v1/x} is sent to {@code base + /x}.
   *
   * @return the primary upstream's base URL, without a trailing slash (default
   *     {@value #DEFAULT_UPSTREAM_BASE_URL})
   */
  public URI upstreamBaseUrl() {
    return upstreamBaseUrl;
  }

  /**
   * {@code UPSTREAM_API_KEY} (or {@code OPENROUTER_API_KEY}): when present it replaces the
   * client's {@code Authorization}. Never logged.
   *
   * @return the primary upstream's key, or empty when the client's {@code Authorization}
   *     passes through (the default)
   */
  public Optional<String> upstreamApiKey() {
    return Optional.ofNullable(upstreamApiKey);
  }

  /**
   * {@code MAX_CONCURRENT_REQUESTS}: permits, i.e. client requests in flight upstream at once.
   *
   * @return the number of permits, at least 1 (default {@value #DEFAULT_MAX_CONCURRENT_REQUESTS})
   */
  public int maxConcurrentRequests() {
    return maxConcurrentRequests;
  }

  /**
   * {@code MAX_WAIT_SECONDS}: longest wait for a permit before 503; zero = do not wait.
   *
   * @return the longest wait for a permit (default 120 s); zero means that a request finding no
   *     free permit is answered 503 at once
   */
  public Duration maxWait() {
    return maxWait;
  }

  /**
   * {@code MAX_QUEUED_REQUESTS}: waiters beyond this are answered 503 at once.
   *
   * @return the most requests waiting for a permit at once (default {@value
   *     #DEFAULT_MAX_QUEUED_REQUESTS}); zero means none waits
   */
  public int maxQueuedRequests() {
    return maxQueuedRequests;
  }

  /**
   * {@code MAX_ATTEMPTS}: upstream attempts per request, the first included.
   *
   * @return the most upstream attempts per request, at least 1 (default {@value
   *     #DEFAULT_MAX_ATTEMPTS})
   */
  public int maxAttempts() {
    return maxAttempts;
  }

  /**
   * {@code ATTEMPT_TIMEOUT_SECONDS}: the first attempt's bound from send to response headers.
   *
   * @return the first attempt's limit from sending to response headers (default 45 s), always
   *     positive
   */
  public Duration attemptTimeout() {
    return attemptTimeout;
  }

  /**
   * {@code RETRY_TIMEOUT_SECONDS}: later attempts' bound from send to response headers.
   *
   * @return a retry's limit from sending to response headers (default 60 s), always positive
   */
  public Duration retryTimeout() {
    return retryTimeout;
  }

  /**
   * {@code STREAM_IDLE_TIMEOUT_SECONDS}: longest silence inside a response body once headers
   * arrived. It never bounds the total length of a healthy stream.
   *
   * @return the longest silence inside a response body (default 60 s), always positive
   */
  public Duration streamIdleTimeout() {
    return streamIdleTimeout;
  }

  /**
   * {@code CLIENT_BODY_TIMEOUT_SECONDS} (default 60 s): the longest a client may leave between two
   * reads of its request body (from the request's start to the first body bytes too), like
   * nginx's {@code client_body_timeout}. On expiry the servlet answers 408 {@code
   * request_body_timeout} and closes the connection; it never bounds the whole upload. Zero = no
   * limit (the container's idle timeout alone).
   *
   * @return the longest pause in a client's upload (default 60 s); zero means no limit
   */
  public Duration clientBodyTimeout() {
    return clientBodyTimeout;
  }

  /**
   * {@code CONNECT_TIMEOUT_SECONDS}: bounds the TCP connect (a TLS handshake counts against the attempt timeout).
   *
   * @return the limit on a TCP connect (default 10 s), always positive
   */
  public Duration connectTimeout() {
    return connectTimeout;
  }

  /**
   * {@code BACKOFF_INITIAL_MS}: the delay before the first retry (doubled each time).
   *
   * @return the delay before the first retry (default 1 s); zero means retry at once
   */
  public Duration backoffInitial() {
    return backoffInitial;
  }

  /**
   * {@code BACKOFF_MAX_MS}: the cap of the exponential backoff, before upward jitter.
   *
   * @return the largest backoff before jitter (default 4 s), never below {@link #backoffInitial()}
   */
  public Duration backoffMax() {
    return backoffMax;
  }

  /**
   * {@code RETRY_AFTER_MAX_SECONDS}: the longest upstream {@code Retry-After} the proxy waits
   * out; a longer one is returned to the client at once.
   *
   * @return the longest upstream {@code Retry-After} waited out (default 30 s); zero means never
   *     wait one out
   */
  public Duration retryAfterMax() {
    return retryAfterMax;
  }

  /**
   * {@code POOL_MAX_IDLE_CONNECTIONS}: idle upstream connections kept.
   *
   * @return the most idle upstream connections kept (default {@value
   *     #DEFAULT_POOL_MAX_IDLE_CONNECTIONS}); zero keeps none
   */
  public int poolMaxIdleConnections() {
    return poolMaxIdleConnections;
  }

  /**
   * {@code POOL_KEEP_ALIVE_SECONDS}: how long an idle upstream connection is kept.
   *
   * @return how long an idle upstream connection is kept (default 300 s), always positive
   */
  public Duration poolKeepAlive() {
    return poolKeepAlive;
  }

  /**
   * {@code MAX_REQUEST_BYTES}: the largest client request body accepted.
   *
   * @return the largest client request body in bytes (default 32 MiB)
   */
  public long maxRequestBytes() {
    return maxRequestBytes;
  }

  /**
   * {@code MAX_RESPONSE_BYTES}: the largest non-streaming upstream body read.
   *
   * @return the largest non-streaming upstream response body in bytes (default 64 MiB)
   */
  public long maxResponseBytes() {
    return maxResponseBytes;
  }

  /**
   * {@code HEALTH_PATH}: the probe path below the base URL.
   *
   * @return the probe's path below the base URL (default {@value #DEFAULT_HEALTH_PATH})
   */
  public String healthPath() {
    return healthPath;
  }

  /**
   * {@code HEALTH_TIMEOUT_SECONDS}: the whole probe's bound.
   *
   * @return the limit on one whole probe (default 5 s), always positive
   */
  public Duration healthTimeout() {
    return healthTimeout;
  }

  /**
   * {@code HEALTH_INTERVAL_SECONDS}: heartbeat period; zero = no heartbeat.
   *
   * @return the heartbeat period (default 30 s); zero means no heartbeat
   */
  public Duration healthInterval() {
    return healthInterval;
  }

  /**
   * {@code HEALTH_CACHE_MILLIS}: how long a probe result is reused; zero = never.
   *
   * @return how long a probe result is reused (default 2 s); zero means never
   */
  public Duration healthCache() {
    return healthCache;
  }

  /**
   * {@code DEBUG_MODE}: per-attempt logging, always on when true.
   *
   * @return true when every request logs its attempts (default false)
   */
  public boolean debugMode() {
    return debugMode;
  }

  /**
   * The file whose existence turns debug mode on without a restart ({@code DEBUG_MODE.txt} in the
   * working directory by default); empty = no file check.
   *
   * @return the file that turns debug mode on while it exists, or empty for no file check
   */
  public Optional<Path> debugModeFile() {
    return Optional.ofNullable(debugModeFile);
  }

  /**
   * {@code LOG_DIR}: where JSON request logs go, if anywhere.
   *
   * @return the directory of the daily JSON request logs, or empty (the default) for none
   */
  public Optional<Path> logDir() {
    return Optional.ofNullable(logDir);
  }

  /**
   * {@code LOG_RETENTION_DAYS}: daily JSON request-log files older than this are deleted (0 =
   * keep forever).
   *
   * @return the days a daily request-log file is kept (default {@value
   *     #DEFAULT_LOG_RETENTION_DAYS}); zero keeps them forever
   */
  public int logRetentionDays() {
    return logRetentionDays;
  }

  /**
   * How often the "still waiting for a permit" line is logged while requests are queued.
   *
   * @return the interval of the "still waiting" log line (default 5 s), always positive
   */
  public Duration waitLogInterval() {
    return waitLogInterval;
  }

  /**
   * Every upstream, the primary ({@code UPSTREAM_BASE_URL}, named {@code primary}) first, then
   * those of {@code UPSTREAM_<n>_BASE_URL} in the order of n.
   *
   * @return every upstream, the primary first; never empty
   */
  public List<UpstreamConfig> upstreams() {
    List<UpstreamConfig> all = new java.util.ArrayList<>(extraUpstreams.size() + 1);
    all.add(new UpstreamConfig("primary", upstreamBaseUrl, upstreamApiKey, primaryWeight, primaryModels, primaryStreamContinuation));
    all.addAll(extraUpstreams);
    return List.copyOf(all);
  }

  /**
   * {@code MODEL_FALLBACKS}: for a requested model, the models to try next, in order (a request's
   * own {@code models} array takes precedence).
   *
   * @return requested model to the models tried after it, in order (empty by default)
   */
  public Map<String, List<String>> modelFallbacks() {
    return modelFallbacks;
  }

  /**
   * {@code MAX_ROUTE_ATTEMPTS}: upstream attempts per request over all routes (default 6).
   *
   * @return the most upstream attempts per request over all routes (default {@value
   *     #DEFAULT_MAX_ROUTE_ATTEMPTS})
   */
  public int maxRouteAttempts() {
    return maxRouteAttempts;
  }

  /**
   * {@code BREAKER_FAILURES}: consecutive provider faults that open a route's breaker.
   *
   * @return the consecutive faults that open a route's breaker (default {@value
   *     #DEFAULT_BREAKER_FAILURES})
   */
  public int breakerFailures() {
    return breakerFailures;
  }

  /**
   * {@code BREAKER_FAILURE_RATE}: percent of the last 20 attempts of a route that opens it.
   *
   * @return the failure percentage that opens a route's breaker (default {@value
   *     #DEFAULT_BREAKER_FAILURE_RATE})
   */
  public int breakerFailureRate() {
    return breakerFailureRate;
  }

  /**
   * {@code BREAKER_OPEN_SECONDS}: how long an open breaker stays open (plus up to 20 % jitter).
   *
   * @return how long an open breaker stays open (default 30 s), always positive
   */
  public Duration breakerOpen() {
    return breakerOpen;
  }

  /**
   * {@code FIRST_EVENT_TIMEOUT_SECONDS}: for a stream, the longest wait from response headers to
   * the first {@code data:} event before the attempt moves to the next route; zero = off.
   *
   * @return the limit from a stream's headers to its first event; zero (the default) means off
   */
  public Duration firstEventTimeout() {
    return firstEventTimeout;
  }

  /**
   * {@code ADAPTIVE_TIMEOUTS}: once a route has 50 successful attempts, its time-to-headers limit
   * becomes {@code clamp(3 x p99, 2 s, configured limit)}; it never exceeds the configured limit.
   *
   * @return true when each route's time-to-headers limit adapts to its latency (default true)
   */
  public boolean adaptiveTimeouts() {
    return adaptiveTimeouts;
  }

  /**
   * {@code STREAM_CONTINUATION} (default on): when a chat stream breaks after the commit point,
   * ask the next route for the rest (the request plus the text sent so far as an assistant
   * prefill) and forward it in the same stream, instead of ending with an in-band error.
   *
   * @return true when a broken chat stream is continued on another route (default true)
   */
  public boolean streamContinuation() {
    return streamContinuation;
  }

  /**
   * {@code MAX_CONTINUATION_CHARS}: longer answers are not continued (default 200 000).
   *
   * @return the longest answer that is continued, in characters (default {@value
   *     #DEFAULT_MAX_CONTINUATION_CHARS}); zero continues none
   */
  public int maxContinuationChars() {
    return maxContinuationChars;
  }

  /**
   * {@code RETRY_BUDGET_PERCENT} (default 20): retries in flight at the upstream may be at most
   * this share of the requests in flight, or {@link #retryBudgetMinRetries()}, whichever is more. A
   * retry refused by the budget returns the last failure at once, without {@code x-should-retry:
   * false} (the client may retry), and is logged and counted as {@code retry_budget}.
   *
   * @return the share of requests in flight that retries may be, in percent (default {@value
   *     #DEFAULT_RETRY_BUDGET_PERCENT})
   */
  public int retryBudgetPercent() {
    return retryBudgetPercent;
  }

  /**
   * {@code RETRY_BUDGET_MIN_RETRIES} (default 10): retries in flight the budget always allows, so
   * that a quiet proxy's retries are never refused. Retries sleeping out a backoff do not count.
   *
   * @return the retries in flight the budget always allows (default {@value
   *     #DEFAULT_RETRY_BUDGET_MIN_RETRIES})
   */
  public int retryBudgetMinRetries() {
    return retryBudgetMinRetries;
  }

  /** A description with every setting; keys are masked. */
  @Override
  public String toString() {
    return "RelayConfig{upstream="
        + redactUrl(upstreamBaseUrl.toString())
        + ", upstreamKey="
        + mask(upstreamApiKey)
        + ", maxConcurrent="
        + maxConcurrentRequests
        + ", maxWait="
        + seconds(maxWait)
        + ", maxQueued="
        + maxQueuedRequests
        + ", maxAttempts="
        + maxAttempts
        + ", attemptTimeout="
        + seconds(attemptTimeout)
        + ", retryTimeout="
        + seconds(retryTimeout)
        + ", streamIdleTimeout="
        + seconds(streamIdleTimeout)
        + ", clientBodyTimeout="
        + (clientBodyTimeout.isZero() ? "off" : seconds(clientBodyTimeout))
        + ", connectTimeout="
        + seconds(connectTimeout)
        + ", backoff="
        + backoffInitial.toMillis()
        + ".."
        + backoffMax.toMillis()
        + "ms, retryAfterMax="
        + seconds(retryAfterMax)
        + ", pool="
        + poolMaxIdleConnections
        + "/"
        + seconds(poolKeepAlive)
        + ", maxRequestBytes="
        + maxRequestBytes
        + ", maxResponseBytes="
        + maxResponseBytes
        + ", health="
        + healthPath
        + " timeout "
        + seconds(healthTimeout)
        + " every "
        + seconds(healthInterval)
        + " cache "
        + healthCache.toMillis()
        + "ms, debug="
        + debugMode
        + ", logDir="
        + logDir
        + (logDir == null ? "" : " keep " + logRetentionDays + "d")
        + (extraUpstreams.isEmpty() ? "" : ", upstreams=" + upstreams())
        + (modelFallbacks.isEmpty() ? "" : ", fallbacks=" + modelFallbacks)
        + ", maxRouteAttempts="
        + maxRouteAttempts
        + ", breaker="
        + breakerFailures
        + "/"
        + breakerFailureRate
        + "% open "
        + seconds(breakerOpen)
        + ", firstEventTimeout="
        + (firstEventTimeout.isZero() ? "off" : seconds(firstEventTimeout))
        + ", adaptiveTimeouts="
        + adaptiveTimeouts
        + ", streamContinuation="
        + (streamContinuation ? "on (max " + maxContinuationChars + " chars)" : "off")
        + "}";
  }

  private static String seconds(Duration d) {
    return (d.toMillis() % 1000 == 0 ? String.valueOf(d.toSeconds()) : String.valueOf(d.toMillis() / 1000.0)) + "s";
  }

  /**
   * A URL fit for a log line: user-info (credentials) shown as {@code ***}, and the query and
   * fragment (which may carry a key) as {@code ?***} / {@code #***}. Works on text that is not a
   * valid URL too.
   *
   * @param url a URL, or any text; may be null
   * @return the text with credentials, query and fragment masked; {@code none} for null
   */
  public static String redactUrl(String url) {
    if (url == null) {
      return "none";
    }
    String s = url;
    int scheme = s.indexOf("://");
    int authorityStart = scheme < 0 ? 0 : scheme + 3;
    // The last '@' ends the user info even when a password holds '/', '?' or '#' unencoded (a
    // host never holds '@'); an '@' further on only hides more than needed.
    int at = s.lastIndexOf('@');
    if (at >= authorityStart) {
      s = s.substring(0, authorityStart) + "***" + s.substring(at);
    }
    int q = s.indexOf('?');
    int h = s.indexOf('#');
    int cut = q < 0 ? h : h < 0 ? q : Math.min(q, h);
    if (cut >= 0) {
      s = s.substring(0, cut) + s.charAt(cut) + "***";
    }
    return s;
  }

  /** Masks a secret for display: never more than its last four characters. */
  static String mask(String secret) {
    if (secret == null) {
      return "none";
    }
    if (secret.length() <= 8) {
      return "****";
    }
    return "****" + secret.substring(secret.length() - 4);
  }

  /**
   * Builds a {@link RelayConfig}. Every setter validates its argument at once and throws an
   * {@link IllegalArgumentException} naming the environment variable it corresponds to. Not
   * thread-safe; {@link #build()} copies, so the built config never changes.
   */
  public static final class Builder {
    private URI upstreamBaseUrl = URI.create(DEFAULT_UPSTREAM_BASE_URL);
    private String upstreamApiKey;
    private int maxConcurrentRequests = DEFAULT_MAX_CONCURRENT_REQUESTS;
    private Duration maxWait = DEFAULT_MAX_WAIT;
    private int maxQueuedRequests = DEFAULT_MAX_QUEUED_REQUESTS;
    private int maxAttempts = DEFAULT_MAX_ATTEMPTS;
    private Duration attemptTimeout = DEFAULT_ATTEMPT_TIMEOUT;
    private Duration retryTimeout = DEFAULT_RETRY_TIMEOUT;
    private Duration streamIdleTimeout = DEFAULT_STREAM_IDLE_TIMEOUT;
    private Duration clientBodyTimeout = DEFAULT_CLIENT_BODY_TIMEOUT;
    private Duration connectTimeout = DEFAULT_CONNECT_TIMEOUT;
    private Duration backoffInitial = DEFAULT_BACKOFF_INITIAL;
    private Duration backoffMax = DEFAULT_BACKOFF_MAX;
    private Duration retryAfterMax = DEFAULT_RETRY_AFTER_MAX;
    private int poolMaxIdleConnections = DEFAULT_POOL_MAX_IDLE_CONNECTIONS;
    private Duration poolKeepAlive = DEFAULT_POOL_KEEP_ALIVE;
    private long maxRequestBytes = DEFAULT_MAX_REQUEST_BYTES;
    private long maxResponseBytes = DEFAULT_MAX_RESPONSE_BYTES;
    private String healthPath = DEFAULT_HEALTH_PATH;
    private Duration healthTimeout = DEFAULT_HEALTH_TIMEOUT;
    private Duration healthInterval = DEFAULT_HEALTH_INTERVAL;
    private Duration healthCache = DEFAULT_HEALTH_CACHE;
    private boolean debugMode;
    private Path debugModeFile = Path.of("DEBUG_MODE.txt");
    private Path logDir;
    private int logRetentionDays = DEFAULT_LOG_RETENTION_DAYS;
    private Duration waitLogInterval = DEFAULT_WAIT_LOG_INTERVAL;
    private List<UpstreamConfig> extraUpstreams = new java.util.ArrayList<>();
    private int primaryWeight = 1;
    private java.util.Set<String> primaryModels = java.util.Set.of();
    private Map<String, List<String>> modelFallbacks = new java.util.LinkedHashMap<>();
    private int maxRouteAttempts = DEFAULT_MAX_ROUTE_ATTEMPTS;
    private int breakerFailures = DEFAULT_BREAKER_FAILURES;
    private int breakerFailureRate = DEFAULT_BREAKER_FAILURE_RATE;
    private Duration breakerOpen = DEFAULT_BREAKER_OPEN;
    private Duration firstEventTimeout = Duration.ZERO;
    private boolean adaptiveTimeouts = true;
    private boolean streamContinuation = true;
    private int maxContinuationChars = DEFAULT_MAX_CONTINUATION_CHARS;
    private boolean primaryStreamContinuation = true;
    private int retryBudgetPercent = DEFAULT_RETRY_BUDGET_PERCENT;
    private int retryBudgetMinRetries = DEFAULT_RETRY_BUDGET_MIN_RETRIES;

    private Builder() {}

    private Builder(RelayConfig c) {
      upstreamBaseUrl = c.upstreamBaseUrl;
      upstreamApiKey = c.upstreamApiKey;
      maxConcurrentRequests = c.maxConcurrentRequests;
      maxWait = c.maxWait;
      maxQueuedRequests = c.maxQueuedRequests;
      maxAttempts = c.maxAttempts;
      attemptTimeout = c.attemptTimeout;
      retryTimeout = c.retryTimeout;
      streamIdleTimeout = c.streamIdleTimeout;
      clientBodyTimeout = c.clientBodyTimeout;
      connectTimeout = c.connectTimeout;
      backoffInitial = c.backoffInitial;
      backoffMax = c.backoffMax;
      retryAfterMax = c.retryAfterMax;
      poolMaxIdleConnections = c.poolMaxIdleConnections;
      poolKeepAlive = c.poolKeepAlive;
      maxRequestBytes = c.maxRequestBytes;
      maxResponseBytes = c.maxResponseBytes;
      healthPath = c.healthPath;
      healthTimeout = c.healthTimeout;
      healthInterval = c.healthInterval;
      healthCache = c.healthCache;
      debugMode = c.debugMode;
      debugModeFile = c.debugModeFile;
      logDir = c.logDir;
      logRetentionDays = c.logRetentionDays;
      waitLogInterval = c.waitLogInterval;
      extraUpstreams = new java.util.ArrayList<>(c.extraUpstreams);
      primaryWeight = c.primaryWeight;
      primaryModels = c.primaryModels;
      modelFallbacks = new java.util.LinkedHashMap<>(c.modelFallbacks);
      maxRouteAttempts = c.maxRouteAttempts;
      breakerFailures = c.breakerFailures;
      breakerFailureRate = c.breakerFailureRate;
      breakerOpen = c.breakerOpen;
      firstEventTimeout = c.firstEventTimeout;
      adaptiveTimeouts = c.adaptiveTimeouts;
      streamContinuation = c.streamContinuation;
      maxContinuationChars = c.maxContinuationChars;
      primaryStreamContinuation = c.primaryStreamContinuation;
      retryBudgetPercent = c.retryBudgetPercent;
      retryBudgetMinRetries = c.retryBudgetMinRetries;
    }

    /**
     * {@code UPSTREAM_BASE_URL}: an absolute http(s) URL without query or fragment.
     *
     * @param url the base URL, for example {@code http://127.0.0.1:8000/v1}
     * @return this builder
     */
    public Builder upstreamBaseUrl(String url) {
      URI uri;
      try {
        uri = URI.create(Objects.requireNonNull(url, "UPSTREAM_BASE_URL").trim());
      } catch (IllegalArgumentException e) {
        throw invalid("UPSTREAM_BASE_URL", redactUrl(url), "not a URL");
      }
      String scheme = uri.getScheme();
      if (scheme == null
          || !(scheme.equalsIgnoreCase("http") || scheme.equalsIgnoreCase("https"))
          || uri.getHost() == null
          || uri.getRawQuery() != null
          || uri.getRawFragment() != null) {
        throw invalid("UPSTREAM_BASE_URL", redactUrl(url), "must be an absolute http(s) URL without query");
      }
      String s = uri.toString();
      this.upstreamBaseUrl = URI.create(s.endsWith("/") ? s.substring(0, s.length() - 1) : s);
      return this;
    }

    /**
     * {@code UPSTREAM_API_KEY}; null or blank means none (the client's Authorization passes).
     *
     * @param key the key, or null
     * @return this builder
     */
    public Builder upstreamApiKey(String key) {
      this.upstreamApiKey = key == null || key.isBlank() ? null : key.trim();
      return this;
    }

    /**
     * {@code MAX_CONCURRENT_REQUESTS}: at least 1.
     *
     * @param n the number of permits
     * @return this builder
     */
    public Builder maxConcurrentRequests(int n) {
      this.maxConcurrentRequests = atLeast("MAX_CONCURRENT_REQUESTS", n, 1);
      return this;
    }

    /**
     * {@code MAX_WAIT_SECONDS}: zero or more; zero = answer 503 at once when no permit is free.
     *
     * @param d the longest wait for a permit
     * @return this builder
     */
    public Builder maxWait(Duration d) {
      this.maxWait = nonNegative("MAX_WAIT_SECONDS", d);
      return this;
    }

    /**
     * {@code MAX_QUEUED_REQUESTS}: zero or more.
     *
     * @param n the most requests waiting for a permit
     * @return this builder
     */
    public Builder maxQueuedRequests(int n) {
      this.maxQueuedRequests = atLeast("MAX_QUEUED_REQUESTS", n, 0);
      return this;
    }

    /**
     * {@code MAX_ATTEMPTS}: at least 1 (1 = never retry).
     *
     * @param n the attempts per request, the first included
     * @return this builder
     */
    public Builder maxAttempts(int n) {
      this.maxAttempts = atLeast("MAX_ATTEMPTS", n, 1);
      return this;
    }

    /**
     * {@code ATTEMPT_TIMEOUT_SECONDS}: positive.
     *
     * @param d the first attempt's limit from sending to response headers
     * @return this builder
     */
    public Builder attemptTimeout(Duration d) {
      this.attemptTimeout = positive("ATTEMPT_TIMEOUT_SECONDS", d);
      return this;
    }

    /**
     * {@code RETRY_TIMEOUT_SECONDS}: positive.
     *
     * @param d a retry's limit from sending to response headers
     * @return this builder
     */
    public Builder retryTimeout(Duration d) {
      this.retryTimeout = positive("RETRY_TIMEOUT_SECONDS", d);
      return this;
    }

    /**
     * {@code STREAM_IDLE_TIMEOUT_SECONDS}: positive.
     *
     * @param d the longest silence inside a response body
     * @return this builder
     */
    public Builder streamIdleTimeout(Duration d) {
      this.streamIdleTimeout = positive("STREAM_IDLE_TIMEOUT_SECONDS", d);
      return this;
    }

    /**
     * {@code CLIENT_BODY_TIMEOUT_SECONDS}: zero (no limit) or more.
     *
     * @param d the longest pause in a client's upload
     * @return this builder
     */
    public Builder clientBodyTimeout(Duration d) {
      this.clientBodyTimeout = nonNegative("CLIENT_BODY_TIMEOUT_SECONDS", d);
      return this;
    }

    /**
     * {@code CONNECT_TIMEOUT_SECONDS}: positive.
     *
     * @param d the limit on a TCP connect
     * @return this builder
     */
    public Builder connectTimeout(Duration d) {
      this.connectTimeout = positive("CONNECT_TIMEOUT_SECONDS", d);
      return this;
    }

    /**
     * {@code BACKOFF_INITIAL_MS}: zero or more.
     *
     * @param d the delay before the first retry
     * @return this builder
     */
    public Builder backoffInitial(Duration d) {
      this.backoffInitial = nonNegative("BACKOFF_INITIAL_MS", d);
      return this;
    }

    /**
     * {@code BACKOFF_MAX_MS}: zero or more, and not below the initial backoff (checked at build).
     *
     * @param d the largest backoff before jitter
     * @return this builder
     */
    public Builder backoffMax(Duration d) {
      this.backoffMax = nonNegative("BACKOFF_MAX_MS", d);
      return this;
    }

    /**
     * {@code RETRY_AFTER_MAX_SECONDS}: zero or more (zero = never wait out a Retry-After).
     *
     * @param d the longest upstream {@code Retry-After} to wait out
     * @return this builder
     */
    public Builder retryAfterMax(Duration d) {
      this.retryAfterMax = nonNegative("RETRY_AFTER_MAX_SECONDS", d);
      return this;
    }

    /**
     * {@code POOL_MAX_IDLE_CONNECTIONS}: zero or more.
     *
     * @param n the idle upstream connections to keep
     * @return this builder
     */
    public Builder poolMaxIdleConnections(int n) {
      this.poolMaxIdleConnections = atLeast("POOL_MAX_IDLE_CONNECTIONS", n, 0);
      return this;
    }

    /**
     * {@code POOL_KEEP_ALIVE_SECONDS}: positive.
     *
     * @param d how long to keep an idle upstream connection
     * @return this builder
     */
    public Builder poolKeepAlive(Duration d) {
      this.poolKeepAlive = positive("POOL_KEEP_ALIVE_SECONDS", d);
      return this;
    }

    /**
     * {@code MAX_REQUEST_BYTES}: at least 1, at most {@link Integer#MAX_VALUE} - 8.
     *
     * @param n the largest client request body, in bytes
     * @return this builder
     */
    public Builder maxRequestBytes(long n) {
      this.maxRequestBytes = bytes("MAX_REQUEST_BYTES", n);
      return this;
    }

    /**
     * {@code MAX_RESPONSE_BYTES}: at least 1, at most {@link Integer#MAX_VALUE} - 8.
     *
     * @param n the largest non-streaming upstream response body, in bytes
     * @return this builder
     */
    public Builder maxResponseBytes(long n) {
      this.maxResponseBytes = bytes("MAX_RESPONSE_BYTES", n);
      return this;
    }

    /**
     * {@code HEALTH_PATH}: a path starting with {@code /}, without query or "..".
     *
     * @param path the probe path below the base URL
     * @return this builder
     */
    public Builder healthPath(String path) {
      if (path == null
          || !path.startsWith("/")
          || path.contains("..")
          || path.contains("?")
          || path.contains("#")
          || path.contains("//")) {
        throw invalid("HEALTH_PATH", path, "must be a plain path starting with /");
      }
      this.healthPath = path;
      return this;
    }

    /**
     * {@code HEALTH_TIMEOUT_SECONDS}: positive.
     *
     * @param d the limit on one whole probe
     * @return this builder
     */
    public Builder healthTimeout(Duration d) {
      this.healthTimeout = positive("HEALTH_TIMEOUT_SECONDS", d);
      return this;
    }

    /**
     * {@code HEALTH_INTERVAL_SECONDS}: zero (off) or more.
     *
     * @param d the heartbeat period
     * @return this builder
     */
    public Builder healthInterval(Duration d) {
      this.healthInterval = nonNegative("HEALTH_INTERVAL_SECONDS", d);
      return this;
    }

    /**
     * {@code HEALTH_CACHE_MILLIS}: zero (no reuse) or more.
     *
     * @param d how long to reuse a probe result
     * @return this builder
     */
    public Builder healthCache(Duration d) {
      this.healthCache = nonNegative("HEALTH_CACHE_MILLIS", d);
      return this;
    }

    /**
     * {@code DEBUG_MODE}.
     *
     * @param on true to log every attempt of every request
     * @return this builder
     */
    public Builder debugMode(boolean on) {
      this.debugMode = on;
      return this;
    }

    /**
     * The file that turns debug mode on while it exists; null = no file check.
     *
     * @param file the file to watch, or null
     * @return this builder
     */
    public Builder debugModeFile(Path file) {
      this.debugModeFile = file;
      return this;
    }

    /**
     * {@code LOG_DIR}; null = no JSON request log.
     *
     * @param dir the directory of the daily JSON request logs, or null
     * @return this builder
     */
    public Builder logDir(Path dir) {
      this.logDir = dir;
      return this;
    }

    /**
     * {@code LOG_RETENTION_DAYS}: zero (keep forever) or more.
     *
     * @param days the days to keep a daily request-log file
     * @return this builder
     */
    public Builder logRetentionDays(int days) {
      this.logRetentionDays = atLeast("LOG_RETENTION_DAYS", days, 0);
      return this;
    }

    /**
     * How often the "still waiting for a permit" line is logged; positive.
     *
     * @param d the interval of the "still waiting" log line
     * @return this builder
     */
    public Builder waitLogInterval(Duration d) {
      this.waitLogInterval = positive("wait log interval", d);
      return this;
    }

    /**
     * Adds an upstream beside the primary ({@code UPSTREAM_<n>_...}); its name must be unique and
     * not {@code primary}.
     *
     * @param upstream the upstream to add
     * @return this builder
     */
    public Builder addUpstream(UpstreamConfig upstream) {
      Objects.requireNonNull(upstream, "upstream");
      if (upstream.primary() || extraUpstreams.stream().anyMatch(u -> u.name().equals(upstream.name()))) {
        throw invalid("UPSTREAM_" + upstream.name() + "_BASE_URL", upstream.baseUrl(), "duplicate upstream name");
      }
      extraUpstreams.add(upstream);
      return this;
    }

    /**
     * {@code UPSTREAM_WEIGHT}: the primary's weight, at least 1.
     *
     * @param weight the primary's share of requests
     * @return this builder
     */
    public Builder primaryWeight(int weight) {
      this.primaryWeight = atLeast("UPSTREAM_WEIGHT", weight, 1);
      return this;
    }

    /**
     * {@code UPSTREAM_MODELS}: the models the primary serves; empty = all.
     *
     * @param models the models the primary serves
     * @return this builder
     */
    public Builder primaryModels(java.util.Set<String> models) {
      this.primaryModels = java.util.Set.copyOf(models);
      return this;
    }

    /**
     * {@code MODEL_FALLBACKS}: model to the models to try after it, in order.
     *
     * @param fallbacks model to the models to try after it
     * @return this builder
     */
    public Builder modelFallbacks(Map<String, List<String>> fallbacks) {
      Map<String, List<String>> copy = new java.util.LinkedHashMap<>();
      fallbacks.forEach((k, v) -> {
        if (k == null || k.isBlank() || v.stream().anyMatch(m -> m == null || m.isBlank())) {
          throw invalid("MODEL_FALLBACKS", k + "=" + v, "model names must not be empty");
        }
        copy.put(k, List.copyOf(v));
      });
      this.modelFallbacks = copy;
      return this;
    }

    /**
     * {@code MAX_ROUTE_ATTEMPTS}: at least 1.
     *
     * @param n the attempts per request over all routes
     * @return this builder
     */
    public Builder maxRouteAttempts(int n) {
      this.maxRouteAttempts = atLeast("MAX_ROUTE_ATTEMPTS", n, 1);
      return this;
    }

    /**
     * {@code BREAKER_FAILURES}: at least 1.
     *
     * @param n the consecutive faults that open a route's breaker
     * @return this builder
     */
    public Builder breakerFailures(int n) {
      this.breakerFailures = atLeast("BREAKER_FAILURES", n, 1);
      return this;
    }

    /**
     * {@code BREAKER_FAILURE_RATE}: 1..100 percent.
     *
     * @param percent the failure percentage that opens a route's breaker
     * @return this builder
     */
    public Builder breakerFailureRate(int percent) {
      if (percent < 1 || percent > 100) {
        throw invalid("BREAKER_FAILURE_RATE", percent, "must be 1..100");
      }
      this.breakerFailureRate = percent;
      return this;
    }

    /**
     * {@code BREAKER_OPEN_SECONDS}: positive.
     *
     * @param d how long an open breaker stays open
     * @return this builder
     */
    public Builder breakerOpen(Duration d) {
      this.breakerOpen = positive("BREAKER_OPEN_SECONDS", d);
      return this;
    }

    /**
     * {@code FIRST_EVENT_TIMEOUT_SECONDS}: zero (off) or more.
     *
     * @param d the limit from a stream's headers to its first event
     * @return this builder
     */
    public Builder firstEventTimeout(Duration d) {
      this.firstEventTimeout = nonNegative("FIRST_EVENT_TIMEOUT_SECONDS", d);
      return this;
    }

    /**
     * {@code STREAM_CONTINUATION}.
     *
     * @param on true to continue broken chat streams on another route
     * @return this builder
     */
    public Builder streamContinuation(boolean on) {
      this.streamContinuation = on;
      return this;
    }

    /**
     * {@code MAX_CONTINUATION_CHARS}: zero or more.
     *
     * @param chars the longest answer to continue, in characters
     * @return this builder
     */
    public Builder maxContinuationChars(int chars) {
      this.maxContinuationChars = atLeast("MAX_CONTINUATION_CHARS", chars, 0);
      return this;
    }

    /**
     * {@code UPSTREAM_STREAM_CONTINUATION} (default true): whether the primary upstream may be
     * asked to continue a broken stream (turn it off for an upstream that does not honour an
     * assistant prefill). {@code UPSTREAM_<n>_STREAM_CONTINUATION} does the same for the others.
     *
     * @param on false for a primary that ignores an assistant prefill
     * @return this builder
     */
    public Builder primaryStreamContinuation(boolean on) {
      this.primaryStreamContinuation = on;
      return this;
    }

    /**
     * {@code RETRY_BUDGET_PERCENT}: 0..100.
     *
     * @param percent the share of requests in flight that retries may be
     * @return this builder
     */
    public Builder retryBudgetPercent(int percent) {
      if (percent < 0 || percent > 100) {
        throw invalid("RETRY_BUDGET_PERCENT", percent, "must be 0..100");
      }
      this.retryBudgetPercent = percent;
      return this;
    }

    /**
     * {@code RETRY_BUDGET_MIN_RETRIES}: zero or more.
     *
     * @param retries the retries in flight the budget always allows
     * @return this builder
     */
    public Builder retryBudgetMinRetries(int retries) {
      this.retryBudgetMinRetries = atLeast("RETRY_BUDGET_MIN_RETRIES", retries, 0);
      return this;
    }

    /**
     * {@code ADAPTIVE_TIMEOUTS}.
     *
     * @param on true to adapt each route's time-to-headers limit
     * @return this builder
     */
    public Builder adaptiveTimeouts(boolean on) {
      this.adaptiveTimeouts = on;
      return this;
    }

    /**
     * Checks the settings against each other and builds the immutable configuration.
     *
     * @throws IllegalArgumentException naming the variable when two settings contradict
     * @return the configuration
     */
    public RelayConfig build() {
      if (backoffMax.compareTo(backoffInitial) < 0) {
        throw invalid(
            "BACKOFF_MAX_MS", backoffMax.toMillis(), "must not be below BACKOFF_INITIAL_MS (" + backoffInitial.toMillis() + ")");
      }
      return new RelayConfig(this);
    }

    private static int atLeast(String name, int n, int min) {
      if (n < min) {
        throw invalid(name, n, "must be at least " + min);
      }
      return n;
    }

    private static long bytes(String name, long n) {
      if (n < 1 || n > Integer.MAX_VALUE - 8) {
        throw invalid(name, n, "must be 1.." + (Integer.MAX_VALUE - 8));
      }
      return n;
    }

    private static Duration positive(String name, Duration d) {
      if (d == null || d.isNegative() || d.isZero()) {
        throw invalid(name, d, "must be positive");
      }
      return d;
    }

    private static Duration nonNegative(String name, Duration d) {
      if (d == null || d.isNegative()) {
        throw invalid(name, d, "must be zero or more");
      }
      return d;
    }

    static IllegalArgumentException invalid(String name, Object value, String why) {
      return new IllegalArgumentException("Invalid " + name + "=" + value + ": " + why);
    }
  }
}
