package dev.llmrelay.servlet;

import java.nio.file.Path;
import java.util.function.Consumer;
import okhttp3.HttpUrl;
import org.apache.catalina.Context;
import org.apache.catalina.connector.Connector;
import org.apache.catalina.startup.Tomcat;

/** A real embedded Tomcat 11 on 127.0.0.1 and a free port, serving the servlets under test. */
final class TomcatRelay implements AutoCloseable {
  private final Tomcat tomcat;
  private final int port;

  private TomcatRelay(Tomcat tomcat, int port) {
    this.tomcat = tomcat;
    this.port = port;
  }

  /** Tomcat with a root context that {@code setup} fills before start. */
  static TomcatRelay start(Path baseDir, Consumer<Context> setup) throws Exception {
    Tomcat tomcat = new Tomcat();
    tomcat.setBaseDir(baseDir.toString());
    Connector connector = new Connector();
    connector.setPort(0);
    connector.setProperty("address", "127.0.0.1");
    tomcat.setConnector(connector);
    Context context = tomcat.addContext("", baseDir.toString());
    setup.accept(context);
    tomcat.start();
    return new TomcatRelay(tomcat, connector.getLocalPort());
  }

  int port() {
    return port;
  }

  HttpUrl url(String path) {
    return HttpUrl.get("http://127.0.0.1:" + port + path);
  }

  @Override
  public void close() {
    try {
      tomcat.stop();
      tomcat.destroy();
    } catch (Exception e) {
      throw new IllegalStateException("stopping the test server failed", e);
    }
  }
}
