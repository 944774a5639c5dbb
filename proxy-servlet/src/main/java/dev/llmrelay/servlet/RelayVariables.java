package dev.llmrelay.servlet;

import dev.llmrelay.servlet.internal.PathPrefix;
import jakarta.servlet.ServletConfig;
import jakarta.servlet.ServletContext;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Where the relay's settings come from when they are read by name (the names of the README's
 * table); {@code RelayConfig.fromEnvironment} takes the result.
 *
 * <ul>
 *   <li>{@link #fromEnvironment}: the process environment first, then a {@code .env} file for what
 *       the environment lacks, so a deployment can override what a checked-in file says (the
 *       launcher).
 *   <li>{@link #fromWebapp}: inside a web application, where every application of a container
 *       shares one environment and one working directory, the application's own settings come
 *       first: the servlet's init parameters, then the context parameters ({@code <context-param>}
 *       of {@code web.xml}, a container's per-application parameters, or set programmatically),
 *       then the environment, then the {@code .env} file named by {@link #DOTENV}, if any. A
 *       working directory's {@code .env} is never read there: it is the container's, not the
 *       application's.
 * </ul>
 *
 * <p>Also reads the settings that belong to the servlet adapter rather than to the core's {@code
 * RelayConfig}: {@link #RELAY_API_KEYS}, {@link #PATH_PREFIX} and {@link #DOTENV}. Stateless and
 * thread-safe.
 */
public final class RelayVariables {
  /** The variable holding the proxy keys clients must present (comma-separated). */
  public static final String RELAY_API_KEYS = "RELAY_API_KEYS";

  /**
   * The setting naming where the relay is mounted inside its web application: {@code /llm} (the
   * default of {@link LlmRelayContextListener}) gives {@code /llm/v1/chat/completions} and {@code
   * /llm/health/upstream}; {@code /} mounts at the root, taking the whole application.
   */
  public static final String PATH_PREFIX = "LLMRELAY_PATH_PREFIX";

  /**
   * The setting naming a {@code .env} file for {@link #fromWebapp}: an absolute path, read for the
   * settings no other source has. Unset: no file is read.
   */
  public static final String DOTENV = "LLMRELAY_DOTENV";

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
   * The settings of a web application, each from the first of these sources that has it with a
   * non-blank value (a blank value counts as unset):
   *
   * <ol>
   *   <li>the init parameters of {@code servlet}, when given;
   *   <li>the context parameters of {@code context};
   *   <li>{@code environment};
   *   <li>the {@code .env} file named by {@link #DOTENV} (itself read from the sources above), when
   *       set.
   * </ol>
   *
   * @param context the web application
   * @param servlet a servlet whose init parameters come first, or null
   * @param environment the process environment (usually {@code System.getenv()})
   * @return a new mutable map of every setting found, by name
   * @throws IllegalArgumentException when {@link #DOTENV} is not an absolute path, names no
   *     readable file, or the file has a malformed line (named by its number, never its value)
   * @throws UncheckedIOException when the file exists but cannot be read
   */
  public static Map<String, String> fromWebapp(
      ServletContext context, ServletConfig servlet, Map<String, String> environment) {
    Map<String, String> webapp = new HashMap<>();
    for (String name : Collections.list(context.getInitParameterNames())) {
      putIfNotBlank(webapp, name, context.getInitParameter(name));
    }
    if (servlet != null) {
      for (String name : Collections.list(servlet.getInitParameterNames())) {
        putIfNotBlank(webapp, name, servlet.getInitParameter(name));
      }
    }
    Map<String, String> vars = new HashMap<>();
    String dotenv = webapp.containsKey(DOTENV) ? webapp.get(DOTENV) : blankToNull(environment.get(DOTENV));
    if (dotenv != null) {
      Path file;
      try {
        file = Path.of(dotenv.strip());
      } catch (InvalidPathException e) {
        throw new IllegalArgumentException("Invalid " + DOTENV + ": not a path (" + e.getReason() + ")", e);
      }
      if (!file.isAbsolute()) {
        throw new IllegalArgumentException(
            "Invalid " + DOTENV + "=" + dotenv + ": must be an absolute path (a web application's working"
                + " directory is its container's)");
      }
      if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
        throw new IllegalArgumentException("Invalid " + DOTENV + "=" + dotenv + ": no readable file there");
      }
      readDotenv(file).forEach((k, v) -> putIfNotBlank(vars, k, v));
    }
    environment.forEach((k, v) -> putIfNotBlank(vars, k, v));
    vars.putAll(webapp);
    return vars;
  }

  private static void putIfNotBlank(Map<String, String> vars, String name, String value) {
    if (name != null && value != null && !value.isBlank()) {
      vars.put(name, value);
    }
  }

  private static String blankToNull(String value) {
    return value == null || value.isBlank() ? null : value;
  }

  /**
   * {@code RELAY_API_KEYS}: the keys clients must present as Bearer tokens; blanks and repeats are
   * dropped; empty when unset (no key check).
   *
   * @param variables the settings, by name
   * @return the keys, in their order
   */
  public static List<String> proxyKeys(Map<String, String> variables) {
    return proxyKeys(variables.get(RELAY_API_KEYS));
  }

  /**
   * {@link #PATH_PREFIX}: where the relay sits in its web application, validated.
   *
   * @param variables the settings, by name
   * @param defaultPrefix the prefix when the setting is absent
   * @return {@code ""} for the root, else the prefix ({@code /llm})
   * @throws IllegalArgumentException naming {@link #PATH_PREFIX} when the value is not a valid
   *     prefix: a leading {@code /}, no trailing {@code /}, no wildcard ({@code /} alone is the root)
   */
  public static String pathPrefix(Map<String, String> variables, String defaultPrefix) {
    String value = variables.get(PATH_PREFIX);
    if (value == null) {
      value = defaultPrefix;
    }
    try {
      return PathPrefix.of(value.strip()).value();
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("Invalid " + PATH_PREFIX + ": " + e.getMessage(), e);
    }
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
