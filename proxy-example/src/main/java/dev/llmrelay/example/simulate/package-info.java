/**
 * A simulated OpenAI-compatible upstream that is slow and fails on purpose, for the launcher's
 * {@code --simulate} mode, benchmarks and tests:
 * {@link dev.llmrelay.example.simulate.SimulatedUpstream}, configured by
 * {@link dev.llmrelay.example.simulate.SimulatorConfig}. It exercises exactly the
 * paths the relay must survive: slow headers, hanging requests, 5xx (JSON and CDN HTML), 429 with
 * {@code Retry-After}, and streams cut after the commit point.
 */
package dev.llmrelay.example.simulate;
