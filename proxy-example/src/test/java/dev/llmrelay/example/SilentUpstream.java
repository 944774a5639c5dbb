package dev.llmrelay.example;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An upstream that accepts connections, reads what arrives and never answers: a request sent to it
 * waits for response headers until the relay gives up or closes. Counts the requests that reached
 * it (a connection that sent at least one byte). Thread-safe.
 */
final class SilentUpstream implements AutoCloseable {
  private final ServerSocket server;
  private final List<Socket> accepted = new CopyOnWriteArrayList<>();
  private final AtomicInteger requests = new AtomicInteger();
  final CountDownLatch firstRequest = new CountDownLatch(1);

  SilentUpstream() throws IOException {
    server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread acceptor = new Thread(this::acceptLoop, "silent-upstream");
    acceptor.setDaemon(true);
    acceptor.start();
  }

  /** The base URL, e.g. {@code http://127.0.0.1:1234/v1}. */
  String baseUrl() {
    return "http://127.0.0.1:" + server.getLocalPort() + "/v1";
  }

  int port() {
    return server.getLocalPort();
  }

  /** Requests (connections that sent bytes) seen so far. */
  int requests() {
    return requests.get();
  }

  private void acceptLoop() {
    while (!server.isClosed()) {
      try {
        Socket socket = server.accept();
        accepted.add(socket);
        Thread reader = new Thread(() -> drain(socket), "silent-upstream-reader");
        reader.setDaemon(true);
        reader.start();
      } catch (IOException e) {
        return; // closed
      }
    }
  }

  private void drain(Socket socket) {
    try (InputStream in = socket.getInputStream()) {
      byte[] buffer = new byte[8192];
      boolean counted = false;
      while (in.read(buffer) != -1) {
        if (!counted) {
          counted = true;
          requests.incrementAndGet();
          firstRequest.countDown();
        }
      }
    } catch (IOException e) {
      // the relay closed or reset the connection: expected when it gives up
    }
  }

  @Override
  public void close() throws IOException {
    server.close();
    for (Socket s : accepted) {
      s.close();
    }
  }
}
