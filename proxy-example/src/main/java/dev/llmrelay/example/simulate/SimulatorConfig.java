package dev.llmrelay.example.simulate;

import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

/**
 * How a {@link SimulatedUpstream} behaves: where it listens, how slow it is, how long its streams
 * are, and how often it fails on purpose. Built with {@link #builder()} or read from environment
 * variables with {@link #fromEnvironment(Map)}:
 *
 * <table>
 *   <caption>Environment variables</caption>
 *   <tr><th>variable</th><th>default</th><th>meaning</th></tr>
 *   <tr><td>{@code SIM_PORT}</td><td>0</td><td>port on 127.0.0.1; 0 picks a free one</td></tr>
 *   <tr><td>{@code SIM_LATENCY_MS}</td><td>300</td><td>time before response headers</td></tr>
 *   <tr><td>{@code SIM_STREAM_CHUNKS}</td><td>20</td><td>{@code data:} events per stream, at
 *       least 2</td></tr>
 *   <tr><td>{@code SIM_CHUNK_DELAY_MS}</td><td>50</td><td>gap between stream events</td></tr>
 *   <tr><td>{@code SIM_TIMEOUT_RATE}</td><td>0.05</td><td>share never answered</td></tr>
 *   <tr><td>{@code SIM_ERROR_RATE}</td><td>0.10</td><td>share answered 5xx</td></tr>
 *   <tr><td>{@code SIM_RATE_LIMIT_RATE}</td><td>0.05</td><td>share answered 429</td></tr>
 *   <tr><td>{@code SIM_STREAM_CUT_RATE}</td><td>0.0</td><td>share of streams cut short</td></tr>
 *   <tr><td>{@code SIM_SEED}</td><td>random</td><td>seed of the fault draws</td></tr>
 *   <tr><td>{@code SIM_TIMEOUT_HOLD_MS}</td><td>300000</td><td>longest hold of a "timeout"
 *       request</td></tr>
 * </table>
 *
 * <p>The rates are drawn per request, independently and in a fixed order (timeout, error, rate
 * limit, stream cut); the first that hits decides. So the observed share of a later fault is its
 * rate times the chance that no earlier one hit: with the defaults about 9.5 % of requests get a
 * 5xx, not 10 %. A fixed {@link #seed()} makes the sequence of decisions repeatable for the same
 * order of arriving requests.
 *
 * <p>Instances are immutable and thread-safe; {@link #toBuilder()} derives a changed copy.
 */
public final class SimulatorConfig {
  /** Default {@code SIM_PORT}: any free port. */
  public static final int DEFAULT_PORT = 0;
  /** Default {@code SIM_LATENCY_MS}. */
  public static final Duration DEFAULT_LATENCY = Duration.ofMillis(300);
  /** Default {@code SIM_STREAM_CHUNKS}. */
  public static final int DEFAULT_STREAM_CHUNKS = 20;
  /** Default {@code SIM_CHUNK_DELAY_MS}. */
  public static final Duration DEFAULT_CHUNK_DELAY = Duration.ofMillis(50);
  /** Default {@code SIM_TIMEOUT_RATE}. */
  public static final double DEFAULT_TIMEOUT_RATE = 0.05;
  /** Default {@code SIM_ERROR_RATE}. */
  public static final double DEFAULT_ERROR_RATE = 0.10;
  /** Default {@code SIM_RATE_LIMIT_RATE}. */
  public static final double DEFAULT_RATE_LIMIT_RATE = 0.05;
  /** Default {@code SIM_STREAM_CUT_RATE}. */
  public static final double DEFAULT_STREAM_CUT_RATE = 0.0;
  /**
   * Default {@code SIM_TIMEOUT_HOLD_MS}: five minutes, longer than any attempt timeout of the relay
   * (45 s and 60 s by default), so the relay's own timeout always fires first.
   */
  public static final Duration DEFAULT_TIMEOUT_HOLD = Duration.ofMinutes(5);
  /** Fewest stream events: one carrying the role, one carrying {@code finish_reason}. */
  public static final int MIN_STREAM_CHUNKS = 2;
  /** Most stream events, a guard against typos that would stream for hours. */
  public static final int MAX_STREAM_CHUNKS = 100_000;

  private final int port;
  private final Duration latency;
  private final int streamChunks;
  private final Duration chunkDelay;
  private final double timeoutRate;
  private final double errorRate;
  private final double rateLimitRate;
  private final double streamCutRate;
  private final long seed;
  private final Duration timeoutHold;

  private SimulatorConfig(Builder builder) {
    this.port = builder.port;
    this.latency = builder.latency;
    this.streamChunks = builder.streamChunks;
    this.chunkDelay = builder.chunkDelay;
    this.timeoutRate = builder.timeoutRate;
    this.errorRate = builder.errorRate;
    this.rateLimitRate = builder.rateLimitRate;
    this.streamCutRate = builder.streamCutRate;
    this.seed = builder.seed != null ? builder.seed : ThreadLocalRandom.current().nextLong();
    this.timeoutHold = builder.timeoutHold;
  }

  /** A builder holding the defaults and no seed (a random one is chosen by {@code build()}). */
  public static Builder builder() {
    return new Builder();
  }

  /** The defaults, with a random seed. */
  public static SimulatorConfig defaults() {
    return builder().build();
  }

  /**
   * Reads the {@code SIM_*} variables from {@code environment} (usually {@code System.getenv()});
   * a variable that is absent or blank keeps its default, other keys are ignored.
   *
   * @throws IllegalArgumentException whose message names the variable when a value is invalid
   */
  public static SimulatorConfig fromEnvironment(Map<String, String> environment) {
    Objects.requireNonNull(environment, "environment");
    Builder builder = builder();
    String value;
    if ((value = value(environment, "SIM_PORT")) != null) {
      builder.port(parseInt("SIM_PORT", value));
    }
    if ((value = value(environment, "SIM_LATENCY_MS")) != null) {
      builder.latency(Duration.ofMillis(parseMillis("SIM_LATENCY_MS", value)));
    }
    if ((value = value(environment, "SIM_STREAM_CHUNKS")) != null) {
      builder.streamChunks(parseInt("SIM_STREAM_CHUNKS", value));
    }
    if ((value = value(environment, "SIM_CHUNK_DELAY_MS")) != null) {
      builder.chunkDelay(Duration.ofMillis(parseMillis("SIM_CHUNK_DELAY_MS", value)));
    }
    if ((value = value(environment, "SIM_TIMEOUT_RATE")) != null) {
      builder.timeoutRate(parseRate("SIM_TIMEOUT_RATE", value));
    }
    if ((value = value(environment, "SIM_ERROR_RATE")) != null) {
      builder.errorRate(parseRate("SIM_ERROR_RATE", value));
    }
    if ((value = value(environment, "SIM_RATE_LIMIT_RATE")) != null) {
      builder.rateLimitRate(parseRate("SIM_RATE_LIMIT_RATE", value));
    }
    if ((value = value(environment, "SIM_STREAM_CUT_RATE")) != null) {
      builder.streamCutRate(parseRate("SIM_STREAM_CUT_RATE", value));
    }
    if ((value = value(environment, "SIM_SEED")) != null) {
      builder.seed(parseLong("SIM_SEED", value));
    }
    if ((value = value(environment, "SIM_TIMEOUT_HOLD_MS")) != null) {
      builder.timeoutHold(Duration.ofMillis(parseMillis("SIM_TIMEOUT_HOLD_MS", value)));
    }
    return builder.build();
  }

  /** A builder holding this configuration, seed included. */
  public Builder toBuilder() {
    return new Builder(this);
  }

  /** {@code SIM_PORT}: the port on 127.0.0.1; 0 means any free port. */
  public int port() {
    return port;
  }

  /**
   * {@code SIM_LATENCY_MS}: the time from the end of the request body to the response headers of
   * an inference request (chat, completions, embeddings). 0 answers at once. {@code /v1/models}
   * and {@code /v1/key} answer at once unless a request asks otherwise with
   * {@link SimulatedUpstream#LATENCY_HEADER}.
   */
  public Duration latency() {
    return latency;
  }

  /**
   * {@code SIM_STREAM_CHUNKS}: the number of {@code data:} events of a streamed answer, not
   * counting {@code [DONE]}: the first carries the role, the last {@code finish_reason} and
   * {@code usage}, the ones in between a piece of content each. At least
   * {@value #MIN_STREAM_CHUNKS}.
   */
  public int streamChunks() {
    return streamChunks;
  }

  /**
   * {@code SIM_CHUNK_DELAY_MS}: the gap before each {@code data:} event of a stream (the first
   * event follows the opening comment after one gap). 0 sends the events back to back.
   */
  public Duration chunkDelay() {
    return chunkDelay;
  }

  /**
   * {@code SIM_TIMEOUT_RATE}: the share of inference requests that never get response headers:
   * they are held until the client goes away or {@link #timeoutHold()} passes.
   */
  public double timeoutRate() {
    return timeoutRate;
  }

  /**
   * {@code SIM_ERROR_RATE}: the share of inference requests answered with a 5xx: a quarter of them
   * a CDN-style 502 HTML page, the rest 500, 502 or 503 with an OpenAI-shaped JSON error.
   */
  public double errorRate() {
    return errorRate;
  }

  /** {@code SIM_RATE_LIMIT_RATE}: the share answered 429 with {@code Retry-After: 1}. */
  public double rateLimitRate() {
    return rateLimitRate;
  }

  /**
   * {@code SIM_STREAM_CUT_RATE}: the share of streamed answers whose connection is closed after at
   * least one and fewer than all {@code data:} events, without {@code [DONE]}. Non-streamed answers
   * are cut only when a request asks for it with {@link SimulatedUpstream#FAULT_HEADER}.
   */
  public double streamCutRate() {
    return streamCutRate;
  }

  /** {@code SIM_SEED}: the seed of the fault draws; chosen at random when not configured. */
  public long seed() {
    return seed;
  }

  /**
   * {@code SIM_TIMEOUT_HOLD_MS}: the longest time a "timeout" request is held without headers;
   * then its connection is closed, as a load balancer that gave up would. Must be positive.
   */
  public Duration timeoutHold() {
    return timeoutHold;
  }

  @Override
  public String toString() {
    return "SimulatorConfig{port=" + port + ", latency=" + latency.toMillis() + "ms, streamChunks="
        + streamChunks + ", chunkDelay=" + chunkDelay.toMillis() + "ms, timeoutRate=" + timeoutRate
        + ", errorRate=" + errorRate + ", rateLimitRate=" + rateLimitRate + ", streamCutRate="
        + streamCutRate + ", seed=" + seed + ", timeoutHold=" + timeoutHold.toMillis() + "ms}";
  }

  private static String value(Map<String, String> environment, String name) {
    String raw = environment.get(name);
    if (raw == null || raw.isBlank()) {
      return null;
    }
    return raw.trim();
  }

  private static int parseInt(String name, String value) {
    try {
      return Integer.parseInt(value);
    } catch (NumberFormatException e) {
      throw invalid(name, value, "must be a whole number");
    }
  }

  private static long parseLong(String name, String value) {
    try {
      return Long.parseLong(value);
    } catch (NumberFormatException e) {
      throw invalid(name, value, "must be a whole number");
    }
  }

  private static long parseMillis(String name, String value) {
    long millis = parseLong(name, value);
    if (millis < 0) {
      throw invalid(name, value, "must not be negative");
    }
    return millis;
  }

  private static double parseRate(String name, String value) {
    try {
      return Double.parseDouble(value);
    } catch (NumberFormatException e) {
      throw invalid(name, value, "must be a number between 0 and 1");
    }
  }

  private static IllegalArgumentException invalid(String name, Object value, String why) {
    return new IllegalArgumentException("Invalid " + name + "=" + value + ": " + why);
  }

  /**
   * Collects settings for a {@link SimulatorConfig}; each setter checks its value at once and
   * throws an {@link IllegalArgumentException} naming the environment variable it corresponds to.
   * Not thread-safe; {@link #build()} copies, so a builder may be reused.
   */
  public static final class Builder {
    private int port = DEFAULT_PORT;
    private Duration latency = DEFAULT_LATENCY;
    private int streamChunks = DEFAULT_STREAM_CHUNKS;
    private Duration chunkDelay = DEFAULT_CHUNK_DELAY;
    private double timeoutRate = DEFAULT_TIMEOUT_RATE;
    private double errorRate = DEFAULT_ERROR_RATE;
    private double rateLimitRate = DEFAULT_RATE_LIMIT_RATE;
    private double streamCutRate = DEFAULT_STREAM_CUT_RATE;
    private Long seed;
    private Duration timeoutHold = DEFAULT_TIMEOUT_HOLD;

    private Builder() {}

    private Builder(SimulatorConfig config) {
      this.port = config.port;
      this.latency = config.latency;
      this.streamChunks = config.streamChunks;
      this.chunkDelay = config.chunkDelay;
      this.timeoutRate = config.timeoutRate;
      this.errorRate = config.errorRate;
      this.rateLimitRate = config.rateLimitRate;
      this.streamCutRate = config.streamCutRate;
      this.seed = config.seed;
      this.timeoutHold = config.timeoutHold;
    }

    /** See {@link SimulatorConfig#port()}; 0 to 65535. */
    public Builder port(int port) {
      if (port < 0 || port > 65535) {
        throw invalid("SIM_PORT", port, "must be between 0 and 65535");
      }
      this.port = port;
      return this;
    }

    /** See {@link SimulatorConfig#latency()}; zero or positive. */
    public Builder latency(Duration latency) {
      this.latency = nonNegative("SIM_LATENCY_MS", latency);
      return this;
    }

    /** See {@link SimulatorConfig#streamChunks()}. */
    public Builder streamChunks(int streamChunks) {
      if (streamChunks < MIN_STREAM_CHUNKS || streamChunks > MAX_STREAM_CHUNKS) {
        throw invalid("SIM_STREAM_CHUNKS", streamChunks,
            "must be between " + MIN_STREAM_CHUNKS + " and " + MAX_STREAM_CHUNKS);
      }
      this.streamChunks = streamChunks;
      return this;
    }

    /** See {@link SimulatorConfig#chunkDelay()}; zero or positive. */
    public Builder chunkDelay(Duration chunkDelay) {
      this.chunkDelay = nonNegative("SIM_CHUNK_DELAY_MS", chunkDelay);
      return this;
    }

    /** See {@link SimulatorConfig#timeoutRate()}; 0 to 1. */
    public Builder timeoutRate(double timeoutRate) {
      this.timeoutRate = rate("SIM_TIMEOUT_RATE", timeoutRate);
      return this;
    }

    /** See {@link SimulatorConfig#errorRate()}; 0 to 1. */
    public Builder errorRate(double errorRate) {
      this.errorRate = rate("SIM_ERROR_RATE", errorRate);
      return this;
    }

    /** See {@link SimulatorConfig#rateLimitRate()}; 0 to 1. */
    public Builder rateLimitRate(double rateLimitRate) {
      this.rateLimitRate = rate("SIM_RATE_LIMIT_RATE", rateLimitRate);
      return this;
    }

    /** See {@link SimulatorConfig#streamCutRate()}; 0 to 1. */
    public Builder streamCutRate(double streamCutRate) {
      this.streamCutRate = rate("SIM_STREAM_CUT_RATE", streamCutRate);
      return this;
    }

    /** Sets all four fault rates to 0: every request is answered well. */
    public Builder noFaults() {
      this.timeoutRate = 0;
      this.errorRate = 0;
      this.rateLimitRate = 0;
      this.streamCutRate = 0;
      return this;
    }

    /** See {@link SimulatorConfig#seed()}. */
    public Builder seed(long seed) {
      this.seed = seed;
      return this;
    }

    /** See {@link SimulatorConfig#timeoutHold()}; positive. */
    public Builder timeoutHold(Duration timeoutHold) {
      Objects.requireNonNull(timeoutHold, "timeoutHold");
      if (timeoutHold.isNegative() || timeoutHold.isZero()) {
        throw invalid("SIM_TIMEOUT_HOLD_MS", timeoutHold.toMillis(), "must be positive");
      }
      this.timeoutHold = timeoutHold;
      return this;
    }

    /** An immutable configuration; a random seed is chosen if none was set. */
    public SimulatorConfig build() {
      return new SimulatorConfig(this);
    }

    private static Duration nonNegative(String name, Duration duration) {
      Objects.requireNonNull(duration, name);
      if (duration.isNegative()) {
        throw invalid(name, duration.toMillis(), "must not be negative");
      }
      return duration;
    }

    private static double rate(String name, double rate) {
      if (!(rate >= 0.0 && rate <= 1.0)) { // also rejects NaN
        throw invalid(name, rate, "must be a number between 0 and 1");
      }
      return rate;
    }
  }
}
