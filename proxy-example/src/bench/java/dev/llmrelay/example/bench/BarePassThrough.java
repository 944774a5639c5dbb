package dev.llmrelay.example.bench;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.concurrent.TimeUnit;
import okhttp3.ConnectionPool;
import okhttp3.MediaType;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.RequestBody;
import okhttp3.Response;
import okhttp3.ResponseBody;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.VirtualThreads;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * The throughput benchmark's {@code bare} target: the least a Jetty 12 + OkHttp proxy can do, with
 * none of llmrelay's resilience layer, as the floor that shows how much of the gap to nginx is the
 * Java stack itself. Run in a JVM of its own ({@link BareProcess}) with the same JDK and JVM flags
 * as the first proxy variant: {@code java -cp <bench classes>:llmrelay.jar
 * dev.llmrelay.example.bench.BarePassThrough PORT UPSTREAM_BASE_URL} (or {@code BARE_PORT} and
 * {@code UPSTREAM_BASE_URL} in the environment).
 *
 * <p>Jetty with a {@link QueuedThreadPool} (servlet code on virtual threads on Java 21+, like the
 * proxy), one connector on 127.0.0.1, one plain blocking servlet at {@code /}: it reads the request
 * body, POSTs it synchronously with one shared {@link OkHttpClient} (256 idle connections kept 5
 * minutes, no retry on connection failure, OkHttp's default timeouts) to {@code UPSTREAM_BASE_URL}
 * plus the request path, and copies the status, Content-Type and body back. Nothing else: no
 * retries, no permits, no metrics, no per-request logging. {@code GET /health} answers 200 so the
 * benchmark can wait for it. Stops on SIGTERM.
 */
final class BarePassThrough {
  private BarePassThrough() {}

  public static void main(String[] args) throws Exception {
    String portText = args.length > 0 ? args[0] : System.getenv("BARE_PORT");
    String upstream = args.length > 1 ? args[1] : System.getenv("UPSTREAM_BASE_URL");
    if (portText == null || upstream == null || upstream.isBlank()) {
      System.err.println("usage: BarePassThrough PORT UPSTREAM_BASE_URL (or BARE_PORT and UPSTREAM_BASE_URL)");
      System.exit(64);
      return;
    }
    int port = Integer.parseInt(portText.trim());
    String base = upstream.trim().replaceAll("/+$", "");

    OkHttpClient client = new OkHttpClient.Builder()
        .connectionPool(new ConnectionPool(256, 5, TimeUnit.MINUTES))
        .retryOnConnectionFailure(false)
        .build();

    QueuedThreadPool threads = new QueuedThreadPool(200, 8);
    threads.setName("bare-http");
    if (VirtualThreads.areSupported()) {
      threads.setVirtualThreadsExecutor(VirtualThreads.getNamedVirtualThreadsExecutor("bare-vt-"));
    }
    Server server = new Server(threads);
    ServerConnector connector = new ServerConnector(server);
    connector.setHost(Children.HOST);
    connector.setPort(port);
    server.addConnector(connector);
    ServletContextHandler context = new ServletContextHandler("/");
    context.addServlet(new ServletHolder("bare", new PassThroughServlet(client, base)), "/");
    context.addServlet(new ServletHolder("health", new HealthServlet()), "/health");
    server.setHandler(context);
    server.setStopTimeout(1000);
    server.setStopAtShutdown(true);
    server.start();
    System.out.println("bare pass-through listening on http://" + Children.HOST + ":" + connector.getLocalPort()
        + " -> " + base + " (Java " + Runtime.version().feature() + ", "
        + (VirtualThreads.areSupported() ? "virtual" : "platform") + " threads)");
    System.out.flush();
    server.join();
  }

  /** Reads the body, POSTs it upstream, copies status, Content-Type and body back. */
  private static final class PassThroughServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;

    private final transient OkHttpClient client;
    private final String base;

    PassThroughServlet(OkHttpClient client, String base) {
      this.client = client;
      this.base = base;
    }

    @Override
    protected void service(HttpServletRequest request, HttpServletResponse response) throws IOException {
      byte[] body = request.getInputStream().readAllBytes();
      String contentType = request.getContentType();
      MediaType type = contentType == null ? null : MediaType.parse(contentType);
      String query = request.getQueryString();
      Request upstream = new Request.Builder()
          .url(base + request.getRequestURI() + (query == null ? "" : "?" + query))
          .post(RequestBody.create(body, type))
          .build();
      byte[] answer;
      int status;
      String answerType;
      try (Response reply = client.newCall(upstream).execute()) {
        status = reply.code();
        answerType = reply.header("Content-Type");
        ResponseBody replyBody = reply.body();
        answer = replyBody == null ? new byte[0] : replyBody.bytes();
      } catch (IOException e) {
        // The floor has no error handling beyond this: no retry, no log line.
        if (!response.isCommitted()) {
          response.sendError(HttpServletResponse.SC_BAD_GATEWAY);
        }
        return;
      }
      response.setStatus(status);
      if (answerType != null) {
        response.setContentType(answerType);
      }
      response.setContentLength(answer.length);
      response.getOutputStream().write(answer);
    }
  }

  /** {@code GET /health}: 200, so the benchmark knows the server is up. */
  private static final class HealthServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;

    @Override
    protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException {
      response.setStatus(200);
      response.setContentType("text/plain");
      response.getOutputStream().write("ok\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
    }
  }
}
