package dev.llmrelay.servlet;

import jakarta.servlet.ServletContext;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import okhttp3.HttpUrl;
import org.apache.catalina.Context;
import org.apache.catalina.connector.Connector;
import org.apache.catalina.servlets.DefaultServlet;
import org.apache.catalina.startup.Tomcat;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

/**
 * An existing web application, as the relay finds it when it is dropped in: static files served
 * by the container's default servlet from a real directory, and a servlet of its own. Runs in an
 * embedded Jetty 12 (ee10) or Tomcat 11 on 127.0.0.1 and a free port, at context path {@code
 * /shop}, so that every path the tests use also proves the context path is kept apart.
 */
abstract class AppContainer implements AutoCloseable {
  static final String CONTEXT_PATH = "/shop";
  static final String STATIC_PAGE = "<html><body>the shop's own page</body></html>";

  /** Where the application's own servlet is mapped. */
  enum AppServletMapping {
    /** A servlet of its own below {@code /api/*}; static files from the default servlet at {@code /}. */
    API("/api/*"),
    /** A front controller at {@code /*} that answers every path not mapped more precisely. */
    FRONT_CONTROLLER("/*");

    final String pattern;

    AppServletMapping(String pattern) {
      this.pattern = pattern;
    }
  }

  /** The containers the relay must fit into. */
  enum Kind {
    JETTY,
    TOMCAT
  }

  /** The application's own servlet: plain text naming the path it was asked for. */
  static final class AppServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;

    @Override
    protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException {
      response.setContentType("text/plain;charset=utf-8");
      response.getWriter().print("app servlet: " + request.getServletPath() + (request.getPathInfo() == null ? "" : request.getPathInfo()));
    }
  }

  /**
   * Starts the application with {@code docBase} holding {@code index.html}, its own servlet at
   * {@code mapping}, and {@code relay} called with its servlet context before start (to mount
   * the relay).
   */
  static AppContainer start(Kind kind, Path docBase, Path workDir, AppServletMapping mapping, Consumer<ServletContext> relay)
      throws Exception {
    Files.writeString(docBase.resolve("index.html"), STATIC_PAGE, StandardCharsets.UTF_8);
    return kind == Kind.JETTY ? jetty(docBase, mapping, relay) : tomcat(docBase, workDir, mapping, relay);
  }

  abstract int port();

  HttpUrl url(String pathInContext) {
    return HttpUrl.get("http://127.0.0.1:" + port() + CONTEXT_PATH + pathInContext);
  }

  private static AppContainer jetty(Path docBase, AppServletMapping mapping, Consumer<ServletContext> relay) throws Exception {
    Server server = new Server();
    ServerConnector connector = new ServerConnector(server);
    connector.setHost("127.0.0.1");
    connector.setPort(0);
    server.addConnector(connector);
    ServletContextHandler context = new ServletContextHandler(CONTEXT_PATH);
    context.setBaseResourceAsPath(docBase);
    context.addServlet(org.eclipse.jetty.ee10.servlet.DefaultServlet.class, "/");
    context.addServlet(new ServletHolder(new AppServlet()), mapping.pattern);
    relay.accept(context.getServletContext());
    server.setHandler(context);
    server.setStopTimeout(0);
    server.start();
    int port = connector.getLocalPort();
    return new AppContainer() {
      @Override
      int port() {
        return port;
      }

      @Override
      public void close() throws Exception {
        server.stop();
      }
    };
  }

  private static AppContainer tomcat(Path docBase, Path workDir, AppServletMapping mapping, Consumer<ServletContext> relay)
      throws Exception {
    Tomcat tomcat = new Tomcat();
    tomcat.setBaseDir(workDir.toString());
    Connector connector = new Connector();
    connector.setPort(0);
    connector.setProperty("address", "127.0.0.1");
    tomcat.setConnector(connector);
    Context context = tomcat.addContext(CONTEXT_PATH, docBase.toString());
    // What Tomcat's conf/web.xml gives every application: the default servlet at "/".
    Tomcat.addServlet(context, "default", new DefaultServlet());
    context.addServletMappingDecoded("/", "default");
    Tomcat.addDefaultMimeTypeMappings(context);
    Tomcat.addServlet(context, "app", new AppServlet());
    context.addServletMappingDecoded(mapping.pattern, "app");
    // Servlets may be added while the context starts: from a ServletContainerInitializer.
    context.addServletContainerInitializer((classes, servletContext) -> relay.accept(servletContext), null);
    tomcat.start();
    int port = connector.getLocalPort();
    return new AppContainer() {
      @Override
      int port() {
        return port;
      }

      @Override
      public void close() throws Exception {
        tomcat.stop();
        tomcat.destroy();
      }
    };
  }
}
