/**
 * llmrelay's servlet adapter: the relay and health servlets for any Servlet 6 container. Only
 * {@code dev.llmrelay.servlet} is API; {@code dev.llmrelay.servlet.internal} is not exported.
 */
module dev.llmrelay.servlet {
  requires transitive dev.llmrelay.core;
  requires transitive jakarta.servlet;
  requires com.fasterxml.jackson.core;
  requires org.slf4j;

  exports dev.llmrelay.servlet;
}
