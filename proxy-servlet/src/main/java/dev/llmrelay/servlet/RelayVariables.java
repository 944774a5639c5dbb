package dev.llmrelay.servlet;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Where the relay's settings come from when they are read by name (the names of the README's
 * table): the process environment first, then a {@code .env} file for what the environment lacks,
 * so a deployment can override what a checked-in file says. The relay servlet's no-argument form
 * and the launcher read them this way; {@code RelayConfig.fromEnvironment} takes the result.
 *
 * <p>Also reads the settings that belong to the servlet adapter rather than to the core's {@code
 * RelayConfig}: {@code RELAY_API_KEYS}. Stateless and thread-safe.
 */
public final class RelayVariables {
  /** The variable holding the proxy keys clients must present (comma-separated). */
  public static final String RELAY_API_KEYS = "RELAY_API_KEYS";

  private RelayVariables() {}

  /**
   * The environment's values, plus those of {@code dotenvFile} that the environment lacks.
   *
   * @param environment the process environment (usually {@code System.getenv()})
   * @param dotenvFile a {@code .env} file; ignored when null or absent
   * @return a new mutable map
   * @throws IllegalArgumentException when the file has a malformed line (named by its number, never
   *     its value, which may be a key)
   * @throws UncheckedIOException when the file exists but cannot be read
   */
  public static Map<String, String> fromEnvironment(Map<String, String> environment, Path dotenvFile) {
    Map<String, String> vars = new HashMap<>();
    if (dotenvFile != null && Files.isRegularFile(dotenvFile)) {
      vars.putAll(readDotenv(dotenvFile));
    }
    environment.forEach((k, v) -> {
      if (v != null) {
        vars.put(k, v);
      }
    });
    return vars;
  }

  /**
   * {@code RELAY_API_KEYS}: the keys clients must present as Bearer tokens; blanks and repeats are
   * dropped; empty when unset (no key check).
   */
  public static List<String> proxyKeys(Map<String, String> variables) {
    return proxyKeys(variables.get(RELAY_API_KEYS));
  }

  /** Comma-separated keys, trimmed, without blanks or repeats. */
  static List<String> proxyKeys(String commaSeparated) {
    if (commaSeparated == null) {
      return List.of();
    }
    return Arrays.stream(commaSeparated.split(",")).map(String::trim).filter(k -> !k.isEmpty()).distinct().toList();
  }

  /**
   * Reads a {@code .env} file: {@code KEY=VALUE} lines, {@code #} comments, an optional {@code
   * export} prefix, and values optionally in single or double quotes. A malformed line fails
   * with its line number (never its value, which may be a key).
   */
  static Map<String, String> readDotenv(Path file) {
    Map<String, String> out = new HashMap<>();
    String[] lines;
    try {
      lines = Files.readString(file, StandardCharsets.UTF_8).split("\r?\n", -1);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read " + file, e);
    }
    for (int i = 0; i < lines.length; i++) {
      String line = lines[i].strip();
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      if (line.startsWith("export ")) {
        line = line.substring("export ".length()).strip();
      }
      int eq = line.indexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException(file + " line " + (i + 1) + ": expected KEY=VALUE");
      }
      String name = line.substring(0, eq).strip();
      if (!name.matches("[A-Za-z_][A-Za-z0-9_]*")) {
        throw new IllegalArgumentException(file + " line " + (i + 1) + ": invalid name " + name);
      }
      String value = line.substring(eq + 1).strip();
      if (value.length() >= 2
          && (value.charAt(0) == '"' || value.charAt(0) == '\'')
          && value.charAt(value.length() - 1) == value.charAt(0)) {
        value = value.substring(1, value.length() - 1);
      } else {
        int comment = value.indexOf(" #");
        if (comment >= 0) {
          value = value.substring(0, comment).strip();
        }
      }
      out.put(name, value);
    }
    return out;
  }
}
