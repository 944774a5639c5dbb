package dev.llmrelay.example;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * The launcher for crash tests, run in a child JVM: starts it as {@code RelayMain} does (the
 * environment and {@code ./.env}) and, at the first line on its standard input, stops the JVM with
 * {@link Runtime#halt}: no shutdown hook, no graceful close, nothing given back to the job queue, as
 * when the process is killed. Test code only.
 */
public final class HaltableRelay {
  private HaltableRelay() {}

  /**
   * Runs the relay until a line arrives on standard input.
   *
   * @param args ignored
   * @throws Exception when the relay does not start
   */
  public static void main(String[] args) throws Exception {
    RelayMain.start(System.getenv(), Path.of(".env"), false);
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    in.readLine();
    Runtime.getRuntime().halt(137);
  }
}
