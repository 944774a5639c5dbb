/**
 * The load benchmark and the soak of llmrelay: {@link dev.llmrelay.example.bench.Bench} (run by
 * hand with {@code proxy-example/bench.sh}) and {@link dev.llmrelay.example.bench.Soak} (also run
 * reduced by {@code SoakTest} in {@code verify}). Nothing here is used by the proxy itself.
 */
package dev.llmrelay.example.bench;
