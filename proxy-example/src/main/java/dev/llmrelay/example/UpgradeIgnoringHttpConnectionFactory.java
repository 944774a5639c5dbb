package dev.llmrelay.example;

import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.internal.HttpConnection;

/**
 * Jetty's HTTP/1.1 connection factory with the protocol upgrade mechanism turned off: a request
 * carrying {@code Upgrade} is served as the plain HTTP request it also is, and the relay strips the
 * header like every other hop-by-hop header. Also the one place where the launcher's {@link
 * HttpConfiguration} is made: no {@code Server} or {@code X-Powered-By} banner.
 *
 * <p>Why a factory: in Jetty 12.1 the decision is made by the connection before any handler runs.
 * {@code HttpConnection.HttpStreamOverHTTP1.parsedHeader} remembers the {@code Upgrade} field, and
 * {@code headerComplete} then calls {@code upgrade()} for every HTTP/1.1 request that has one. That
 * method throws {@code 400 "Invalid h2c upgrade headers"} when {@code Connection} does not list
 * {@code upgrade} (so {@code Connection: keep-alive, X-Secret} with {@code Upgrade: example/1} was
 * refused whatever the protocol named), and otherwise looks for a connection factory that speaks
 * the named protocol. No {@code HttpConfiguration} or compliance setting turns the check off. The
 * launcher speaks only HTTP/1.1 and has no upgrading factory, so an upgrade could never succeed
 * here: this factory hands the parser's {@code Upgrade} field to the connection as a field of
 * unknown type with the same name and value. The connection then never sees an upgrade request,
 * while the servlets still read the header ({@code getHeader("Upgrade")} matches by name) and the
 * core drops it, as it drops {@code Connection} and every header that names. Everything else is
 * Jetty's own {@link HttpConnectionFactory#newConnection}.
 *
 * <p>Thread-safe: connections are created concurrently; the factory holds only its configuration.
 */
final class UpgradeIgnoringHttpConnectionFactory extends HttpConnectionFactory {

  /** A factory with the launcher's HTTP configuration (no version banner). */
  UpgradeIgnoringHttpConnectionFactory() {
    super(launcherConfiguration());
  }

  private static HttpConfiguration launcherConfiguration() {
    HttpConfiguration http = new HttpConfiguration();
    http.setSendServerVersion(false); // no "Server: Jetty(12.1.x)": the version helps only an attacker
    http.setSendXPoweredBy(false);
    return http;
  }

  @Override
  public Connection newConnection(Connector connector, EndPoint endPoint) {
    HttpConnection connection = new HttpConnection(getHttpConfiguration(), connector, endPoint) {
      @Override
      protected RequestHandler newRequestHandler() {
        return new RequestHandler() {
          @Override
          public void parsedHeader(HttpField field) {
            super.parsedHeader(field.getHeader() == HttpHeader.UPGRADE ? withoutUpgradeMeaning(field) : field);
          }
        };
      }
    };
    connection.setTransferEncodingChunkMaxLength(getTransferEncodingChunkMaxLength());
    return configure(connection, connector, endPoint);
  }

  /** The same name and value, but not {@link HttpHeader#UPGRADE} to Jetty's switch statements. */
  static HttpField withoutUpgradeMeaning(HttpField upgrade) {
    return new HttpField((HttpHeader) null, upgrade.getName(), upgrade.getValue());
  }
}
