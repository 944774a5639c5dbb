package dev.llmrelay.core.testing;

import java.util.Objects;

/**
 * A database or cache engine that tests need is not on this machine (its binaries are missing, or
 * they cannot be run from here), as opposed to an engine that is installed but failed to start,
 * which is an ordinary {@link IllegalStateException} and always fails the test.
 *
 * <p>{@link MissingEnginePolicy} turns this into a skip on a developer's machine and a failure
 * under {@code CI=true}.
 */
public final class EngineUnavailableException extends IllegalStateException {
  private static final long serialVersionUID = 1L;

  private final String engine;
  private final String reason;
  private final String howToInstall;

  /**
   * @param engine the engine's name, as a person would write it ("PostgreSQL", "Redis")
   * @param reason what is missing, with the places looked in
   * @param howToInstall the command or step that installs it
   */
  public EngineUnavailableException(String engine, String reason, String howToInstall) {
    super(engine + " is not available: " + reason + ". To install it: " + howToInstall);
    this.engine = Objects.requireNonNull(engine, "engine");
    this.reason = Objects.requireNonNull(reason, "reason");
    this.howToInstall = Objects.requireNonNull(howToInstall, "howToInstall");
  }

  /** The engine's name: "PostgreSQL" or "Redis". */
  public String engine() {
    return engine;
  }

  /** What is missing, with the places looked in. */
  public String reason() {
    return reason;
  }

  /** The command or step that installs it. */
  public String howToInstall() {
    return howToInstall;
  }
}
