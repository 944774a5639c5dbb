package dev.llmrelay.example;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.prometheus.metrics.config.PrometheusProperties;
import io.prometheus.metrics.exporter.common.PrometheusHttpExchange;
import io.prometheus.metrics.exporter.common.PrometheusHttpRequest;
import io.prometheus.metrics.exporter.common.PrometheusHttpResponse;
import io.prometheus.metrics.exporter.common.PrometheusScrapeHandler;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.util.Enumeration;

/**
 * {@code GET /metrics}: the launcher's registry (the relay's {@code llmrelay_*} meters, the
 * upstream connection pool, Jetty and the JVM) as the Prometheus client writes it. Its {@link
 * PrometheusScrapeHandler} does all the protocol: the format the {@code Accept} header asks for
 * (Prometheus text 0.0.4 by default, OpenMetrics 1.0 for {@code application/openmetrics-text},
 * protobuf), gzip when {@code Accept-Encoding} allows it, {@code name[]=...} filters and {@code
 * debug=text|openmetrics}. This servlet only hands it the servlet's request and response.
 *
 * <p>Why not the client's own {@code PrometheusMetricsServlet}
 * ({@code prometheus-metrics-exporter-servlet-jakarta}): it must come in the same version as the
 * client that micrometer-registry-prometheus brings (1.7.0 for Micrometer 1.17.2), and that version
 * of that artifact could not be resolved from the registry this project builds from; the scrape
 * handler it wraps ({@code prometheus-metrics-exporter-common}) could. The adapter below is what
 * that servlet adds on top of the handler.
 *
 * <p>Unchanged from the hand-written servlet it replaces: no authentication (the README says to keep
 * the port private), {@code Cache-Control: no-store}, an {@code X-Request-Id} and JSON errors from
 * the launcher's handlers around every servlet, HEAD answered with headers only (the handler
 * writes no body for HEAD; {@code HttpServlet} routes HEAD to {@code doGet}), other methods 405.
 *
 * <p>Thread-safe: the handler is.
 */
final class MetricsServlet extends HttpServlet {
  private static final long serialVersionUID = 1L;

  private final transient PrometheusScrapeHandler scrapeHandler;

  MetricsServlet(PrometheusMeterRegistry registry) {
    this.scrapeHandler = new PrometheusScrapeHandler(PrometheusProperties.get(), registry.getPrometheusRegistry());
  }

  @Override
  protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException {
    response.setHeader("Cache-Control", "no-store");
    scrapeHandler.handleRequest(new ServletExchange(request, response));
  }

  /** One scrape: the servlet request and response as the scrape handler sees them. */
  private record ServletExchange(HttpServletRequest request, HttpServletResponse response)
      implements PrometheusHttpExchange, PrometheusHttpRequest, PrometheusHttpResponse {
    @Override
    public PrometheusHttpRequest getRequest() {
      return this;
    }

    @Override
    public PrometheusHttpResponse getResponse() {
      return this;
    }

    @Override
    public String getQueryString() {
      return request.getQueryString();
    }

    @Override
    public Enumeration<String> getHeaders(String name) {
      return request.getHeaders(name);
    }

    @Override
    public String getMethod() {
      return request.getMethod();
    }

    @Override
    public String getRequestPath() {
      return request.getRequestURI();
    }

    @Override
    public void setHeader(String name, String value) {
      response.setHeader(name, value);
    }

    /** {@code contentLength}: above 0 the body's length, 0 unknown (gzip), below 0 no body (HEAD). */
    @Override
    public OutputStream sendHeadersAndGetBody(int statusCode, int contentLength) throws IOException {
      response.setStatus(statusCode);
      if (contentLength > 0) {
        response.setContentLength(contentLength);
      }
      return response.getOutputStream();
    }

    /** Lets the container answer (the launcher's JSON error handler) while nothing is committed. */
    @Override
    public void handleException(IOException e) throws IOException {
      throw e;
    }

    @Override
    public void handleException(RuntimeException e) {
      throw e;
    }

    @Override
    public void close() {
      // The handler closes the body it wrote; the container ends the exchange.
    }
  }
}
