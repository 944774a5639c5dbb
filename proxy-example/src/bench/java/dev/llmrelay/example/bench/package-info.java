/**
 * The load benchmark and the soak of llmrelay: {@link dev.llmrelay.example.bench.Bench} (run by
 * hand with {@code proxy-example/bench.sh}) and {@link dev.llmrelay.example.bench.Soak} (also run
 * reduced by {@code SoakTest} in {@code verify}). Nothing here is used by the proxy itself, and
 * none of it is in {@code llmrelay.jar}: these are test sources of proxy-example ({@code
 * src/bench/java}), compiled by every build and run by bench.sh beside the product jar.
 */
package dev.llmrelay.example.bench;
