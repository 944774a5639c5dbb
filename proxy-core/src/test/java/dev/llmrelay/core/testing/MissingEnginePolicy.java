package dev.llmrelay.core.testing;

import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.function.Supplier;
import org.opentest4j.TestAbortedException;

/**
 * What a test does when an engine it needs is not installed: on a developer's machine it is
 * skipped, with the reason and the install command; under {@code CI=true} it fails, with the same,
 * because a CI run that silently skipped the database tests would pass without testing them.
 *
 * <p>Takes the environment as a map, so that both ways are tested without changing the JVM's.
 */
public final class MissingEnginePolicy {
  /** What happens to a test whose engine is missing. */
  public enum Decision {
    /** Skipped (aborted, in JUnit's words): a developer's machine without the engine. */
    SKIP,
    /** Failed: CI, where every test must run. */
    FAIL
  }

  private final Map<String, String> environment;

  private MissingEnginePolicy(Map<String, String> environment) {
    this.environment = Map.copyOf(Objects.requireNonNull(environment, "environment"));
  }

  /** The policy for this JVM's environment. */
  public static MissingEnginePolicy fromEnvironment() {
    return new MissingEnginePolicy(System.getenv());
  }

  /** The policy for {@code environment} (variable name to value), for tests of the policy. */
  public static MissingEnginePolicy of(Map<String, String> environment) {
    return new MissingEnginePolicy(environment);
  }

  /** True when {@code CI} is {@code true} or {@code 1} (any case), as CI services set it. */
  public boolean isCi() {
    String ci = environment.get("CI");
    if (ci == null) {
      return false;
    }
    String value = ci.strip().toLowerCase(Locale.ROOT);
    return value.equals("true") || value.equals("1");
  }

  /** FAIL under CI, SKIP elsewhere. */
  public Decision decide() {
    return isCi() ? Decision.FAIL : Decision.SKIP;
  }

  /**
   * The exception a test that needs the missing engine should end with: a
   * {@link TestAbortedException} (skipped) or, under CI, an {@link EngineUnavailableException}
   * (failed) whose message says that CI requires it and how to install it.
   */
  public RuntimeException onMissing(EngineUnavailableException missing) {
    if (decide() == Decision.FAIL) {
      EngineUnavailableException failure = new EngineUnavailableException(missing.engine(),
          missing.reason() + " (CI=true: tests that need " + missing.engine()
              + " must run here, not be skipped)",
          missing.howToInstall());
      failure.initCause(missing);
      return failure;
    }
    return new TestAbortedException("skipped: " + missing.getMessage() + " (under CI=true this fails instead)");
  }

  /**
   * Calls {@code engine} (such as {@code PostgresEngine::shared}) and returns what it gives; if
   * it throws {@link EngineUnavailableException}, throws {@link #onMissing} instead.
   */
  public <E> E require(Supplier<E> engine) {
    try {
      return engine.get();
    } catch (EngineUnavailableException missing) {
      throw onMissing(missing);
    }
  }
}
