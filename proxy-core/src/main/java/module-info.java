/**
 * llmrelay's core: a resilient client in front of OpenAI-compatible APIs ({@link
 * dev.llmrelay.core.UpstreamClient}), and its optional Micrometer binding. Only these three packages
 * are API; {@code dev.llmrelay.core.internal} is not exported.
 */
module dev.llmrelay.core {
  requires okhttp3;
  requires dev.failsafe.core;
  requires com.fasterxml.jackson.core;
  requires com.fasterxml.jackson.databind;
  requires org.slf4j;
  requires java.sql;
  requires static micrometer.core;
  requires static lettuce.core;

  exports dev.llmrelay.core;
  exports dev.llmrelay.core.metrics;
  exports dev.llmrelay.core.jobs;
  exports dev.llmrelay.core.shared;
}
