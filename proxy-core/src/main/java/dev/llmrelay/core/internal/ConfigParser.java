package dev.llmrelay.core.internal;

import dev.llmrelay.core.RelayConfig;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Reads {@link RelayConfig} from variables (the environment, merged with a {@code .env} file by the
 * caller). Every value is validated and a failure names its variable, because the user who
 * mistyped it must find it.
 */
public final class ConfigParser {
  private ConfigParser() {}

  /** Parses the configuration; see {@link RelayConfig#fromEnvironment(Map)}. */
  public static RelayConfig parse(Map<String, String> vars) {
    RelayConfig.Builder b = RelayConfig.builder();
    string(vars, "UPSTREAM_BASE_URL", b::upstreamBaseUrl);
    String key = blankToNull(vars.get("UPSTREAM_API_KEY"));
    b.upstreamApiKey(key != null ? key : blankToNull(vars.get("OPENROUTER_API_KEY")));
    integer(vars, "MAX_CONCURRENT_REQUESTS", b::maxConcurrentRequests);
    seconds(vars, "MAX_WAIT_SECONDS", b::maxWait);
    integer(vars, "MAX_QUEUED_REQUESTS", b::maxQueuedRequests);
    integer(vars, "MAX_ATTEMPTS", b::maxAttempts);
    seconds(vars, "ATTEMPT_TIMEOUT_SECONDS", b::attemptTimeout);
    seconds(vars, "RETRY_TIMEOUT_SECONDS", b::retryTimeout);
    seconds(vars, "STREAM_IDLE_TIMEOUT_SECONDS", b::streamIdleTimeout);
    seconds(vars, "CLIENT_BODY_TIMEOUT_SECONDS", b::clientBodyTimeout);
    seconds(vars, "CONNECT_TIMEOUT_SECONDS", b::connectTimeout);
    millis(vars, "BACKOFF_INITIAL_MS", b::backoffInitial);
    millis(vars, "BACKOFF_MAX_MS", b::backoffMax);
    seconds(vars, "RETRY_AFTER_MAX_SECONDS", b::retryAfterMax);
    integer(vars, "POOL_MAX_IDLE_CONNECTIONS", b::poolMaxIdleConnections);
    seconds(vars, "POOL_KEEP_ALIVE_SECONDS", b::poolKeepAlive);
    longValue(vars, "MAX_REQUEST_BYTES", b::maxRequestBytes);
    longValue(vars, "MAX_RESPONSE_BYTES", b::maxResponseBytes);
    string(vars, "HEALTH_PATH", b::healthPath);
    seconds(vars, "HEALTH_TIMEOUT_SECONDS", b::healthTimeout);
    seconds(vars, "HEALTH_INTERVAL_SECONDS", b::healthInterval);
    millis(vars, "HEALTH_CACHE_MILLIS", b::healthCache);
    string(vars, "DEBUG_MODE", v -> b.debugMode(bool("DEBUG_MODE", v)));
    string(vars, "LOG_DIR", v -> b.logDir(Path.of(v)));
    integer(vars, "LOG_RETENTION_DAYS", b::logRetentionDays);
    integer(vars, "UPSTREAM_WEIGHT", b::primaryWeight);
    string(vars, "UPSTREAM_MODELS", v -> b.primaryModels(list(v)));
    string(vars, "MODEL_FALLBACKS", v -> b.modelFallbacks(fallbacks(v)));
    integer(vars, "MAX_ROUTE_ATTEMPTS", b::maxRouteAttempts);
    integer(vars, "BREAKER_FAILURES", b::breakerFailures);
    integer(vars, "BREAKER_FAILURE_RATE", b::breakerFailureRate);
    seconds(vars, "BREAKER_OPEN_SECONDS", b::breakerOpen);
    seconds(vars, "FIRST_EVENT_TIMEOUT_SECONDS", b::firstEventTimeout);
    string(vars, "ADAPTIVE_TIMEOUTS", v -> b.adaptiveTimeouts(bool("ADAPTIVE_TIMEOUTS", v)));
    string(vars, "STREAM_CONTINUATION", v -> b.streamContinuation(bool("STREAM_CONTINUATION", v)));
    integer(vars, "MAX_CONTINUATION_CHARS", b::maxContinuationChars);
    string(vars, "UPSTREAM_STREAM_CONTINUATION", v -> b.primaryStreamContinuation(bool("UPSTREAM_STREAM_CONTINUATION", v)));
    integer(vars, "RETRY_BUDGET_PERCENT", b::retryBudgetPercent);
    integer(vars, "RETRY_BUDGET_MIN_RETRIES", b::retryBudgetMinRetries);
    upstreams(vars, b);
    return b.build();
  }

  private static final java.util.regex.Pattern UPSTREAM_N =
      java.util.regex.Pattern.compile("UPSTREAM_([0-9]+)_BASE_URL");

  /** {@code UPSTREAM_<n>_BASE_URL} and its companions, in the order of n. */
  private static void upstreams(Map<String, String> vars, RelayConfig.Builder b) {
    java.util.TreeMap<Integer, String> found = new java.util.TreeMap<>();
    vars.forEach((k, v) -> {
      java.util.regex.Matcher m = UPSTREAM_N.matcher(k);
      if (m.matches() && blankToNull(v) != null) {
        try {
          found.put(Integer.parseInt(m.group(1)), m.group(1));
        } catch (NumberFormatException e) {
          throw invalid(k, v, "the number is too large");
        }
      }
    });
    for (String n : found.values()) {
      String prefix = "UPSTREAM_" + n + "_";
      java.net.URI url;
      try {
        url = RelayConfig.builder().upstreamBaseUrl(vars.get(prefix + "BASE_URL")).build().upstreamBaseUrl();
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(e.getMessage().replace("UPSTREAM_BASE_URL", prefix + "BASE_URL"), e);
      }
      int weight = 1;
      String w = blankToNull(vars.get(prefix + "WEIGHT"));
      if (w != null) {
        try {
          weight = Integer.parseInt(w);
        } catch (NumberFormatException e) {
          throw invalid(prefix + "WEIGHT", w, "not a whole number");
        }
        if (weight < 1) {
          throw invalid(prefix + "WEIGHT", w, "must be at least 1");
        }
      }
      String models = blankToNull(vars.get(prefix + "MODELS"));
      String continuation = blankToNull(vars.get(prefix + "STREAM_CONTINUATION"));
      b.addUpstream(new dev.llmrelay.core.UpstreamConfig(
          "upstream" + n, url, blankToNull(vars.get(prefix + "API_KEY")), weight,
          models == null ? java.util.Set.of() : list(models),
          continuation == null || bool(prefix + "STREAM_CONTINUATION", continuation)));
    }
  }

  private static java.util.Set<String> list(String v) {
    java.util.Set<String> out = new java.util.LinkedHashSet<>();
    for (String m : v.split(",")) {
      if (!m.isBlank()) {
        out.add(m.trim());
      }
    }
    return out;
  }

  /** {@code a=b,c;d=e}: model to fallbacks. */
  private static Map<String, java.util.List<String>> fallbacks(String v) {
    Map<String, java.util.List<String>> out = new java.util.LinkedHashMap<>();
    for (String entry : v.split(";")) {
      if (entry.isBlank()) {
        continue;
      }
      int eq = entry.indexOf('=');
      if (eq <= 0 || eq == entry.length() - 1) {
        throw invalid("MODEL_FALLBACKS", entry.trim(), "expected model=fallback1,fallback2;...");
      }
      out.put(entry.substring(0, eq).trim(), java.util.List.copyOf(list(entry.substring(eq + 1))));
    }
    return out;
  }

  private static String blankToNull(String s) {
    return s == null || s.isBlank() ? null : s.trim();
  }

  private static void string(Map<String, String> vars, String name, Consumer<String> set) {
    String v = blankToNull(vars.get(name));
    if (v != null) {
      set.accept(v);
    }
  }

  private static void integer(Map<String, String> vars, String name, Consumer<Integer> set) {
    string(vars, name, v -> {
      try {
        set.accept(Integer.parseInt(v));
      } catch (NumberFormatException e) {
        throw invalid(name, v, "not a whole number");
      }
    });
  }

  private static void longValue(Map<String, String> vars, String name, Consumer<Long> set) {
    string(vars, name, v -> {
      try {
        set.accept(Long.parseLong(v));
      } catch (NumberFormatException e) {
        throw invalid(name, v, "not a whole number");
      }
    });
  }

  /** Seconds, decimals allowed ({@code 0.5}); resolved to the millisecond. */
  private static void seconds(Map<String, String> vars, String name, Consumer<Duration> set) {
    string(vars, name, v -> set.accept(Duration.ofMillis(decimal(name, v, 1000))));
  }

  private static void millis(Map<String, String> vars, String name, Consumer<Duration> set) {
    string(vars, name, v -> set.accept(Duration.ofMillis(decimal(name, v, 1))));
  }

  private static long decimal(String name, String v, long scale) {
    try {
      BigDecimal d = new BigDecimal(v).multiply(BigDecimal.valueOf(scale));
      if (d.signum() < 0) {
        throw invalid(name, v, "must be zero or more");
      }
      if (d.compareTo(BigDecimal.valueOf(Long.MAX_VALUE / 1_000_000)) > 0) {
        throw invalid(name, v, "too large");
      }
      return d.setScale(0, java.math.RoundingMode.HALF_UP).longValueExact();
    } catch (NumberFormatException | ArithmeticException e) {
      throw invalid(name, v, "not a number");
    }
  }

  private static boolean bool(String name, String v) {
    switch (v.toLowerCase(Locale.ROOT)) {
      case "true", "1", "yes", "on" -> {
        return true;
      }
      case "false", "0", "no", "off" -> {
        return false;
      }
      default -> throw invalid(name, v, "expected true or false");
    }
  }

  private static IllegalArgumentException invalid(String name, String value, String why) {
    return new IllegalArgumentException("Invalid " + name + "=" + value + ": " + why);
  }
}
