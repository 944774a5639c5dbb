package dev.llmrelay.example.bench;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A minimal HTTP/1.1 client over one keep-alive socket, for the soak: it can walk away at the
 * worst moments, which is what a soak needs. A client abort is a real one: the socket is closed
 * (while the request waits for its answer, or right after the first SSE event), so the proxy sees
 * exactly what it sees when a user closes a tab. It uses no thread of its own and no pool (one
 * instance per worker thread), so it leaves nothing behind that would blur the soak's thread
 * count. It reads {@code Content-Length}, chunked and close-delimited bodies.
 *
 * <p>Not thread-safe: one exchange at a time.
 */
final class RawHttpConnection implements Closeable {
  /** When the client walks away. */
  enum Abort { NONE, WHILE_WAITING, AFTER_FIRST_EVENT }

  /** What came back. {@code aborted}: the client closed the socket on purpose before the end. */
  record Response(int status, Map<String, String> headers, String body, boolean aborted) {
    boolean isStream() {
      return headers.getOrDefault("content-type", "").startsWith("text/event-stream");
    }
  }

  private final String host;
  private final int port;
  private final Duration readTimeout;
  private Socket socket;
  private InputStream in;
  private OutputStream out;

  RawHttpConnection(String host, int port, Duration readTimeout) {
    this.host = host;
    this.port = port;
    this.readTimeout = readTimeout;
  }

  /**
   * Sends a {@code POST} and reads the answer.
   *
   * @param abortAfter for {@link Abort#WHILE_WAITING}: when to close the socket
   * @throws IOException when the connection failed without the client having asked for it
   */
  Response post(String path, Map<String, String> headers, byte[] body, Abort abort, Duration abortAfter,
      ScheduledExecutorService timer) throws IOException {
    if (socket == null || socket.isClosed()) {
      connect();
    }
    StringBuilder head = new StringBuilder();
    head.append("POST ").append(path).append(" HTTP/1.1\r\n")
        .append("Host: ").append(host).append(':').append(port).append("\r\n")
        .append("Content-Type: application/json\r\n")
        .append("Content-Length: ").append(body.length).append("\r\n");
    headers.forEach((k, v) -> head.append(k).append(": ").append(v).append("\r\n"));
    head.append("\r\n");
    Socket current = socket;
    AtomicBoolean aborted = new AtomicBoolean();
    ScheduledFuture<?> abortTask = null;
    try {
      out.write(head.toString().getBytes(StandardCharsets.ISO_8859_1));
      out.write(body);
      out.flush();
      if (abort == Abort.WHILE_WAITING) {
        abortTask = timer.schedule(() -> {
          aborted.set(true);
          closeQuietly(current);
        }, abortAfter.toNanos(), TimeUnit.NANOSECONDS);
      }
      Response response = read(abort);
      if (abortTask != null && !abortTask.cancel(false)) {
        // The abort fired as the answer completed: the answer counts, the socket is gone.
        socket = null;
      }
      return response;
    } catch (IOException e) {
      closeQuietly(current);
      socket = null;
      if (aborted.get()) {
        return new Response(0, Map.of(), "", true);
      }
      throw e;
    } finally {
      if (abortTask != null) {
        abortTask.cancel(false);
      }
    }
  }

  private Response read(Abort abort) throws IOException {
    String statusLine = line();
    if (statusLine == null) {
      throw new EOFException("connection closed before the status line");
    }
    String[] parts = statusLine.split(" ", 3);
    if (parts.length < 2 || !parts[0].startsWith("HTTP/1.")) {
      throw new IOException("bad status line: " + statusLine);
    }
    int status = Integer.parseInt(parts[1]);
    Map<String, String> headers = new HashMap<>();
    String line;
    while ((line = line()) != null && !line.isEmpty()) {
      int colon = line.indexOf(':');
      if (colon > 0) {
        headers.merge(line.substring(0, colon).trim().toLowerCase(Locale.ROOT), line.substring(colon + 1).trim(),
            (a, b) -> a + ", " + b);
      }
    }
    if (line == null) {
      throw new EOFException("connection closed inside the headers");
    }
    boolean sse = headers.getOrDefault("content-type", "").startsWith("text/event-stream");
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    boolean closeAfter = headers.getOrDefault("connection", "").toLowerCase(Locale.ROOT).contains("close");
    if (headers.getOrDefault("transfer-encoding", "").toLowerCase(Locale.ROOT).contains("chunked")) {
      while (true) {
        String size = line();
        if (size == null) {
          throw new EOFException("connection closed inside a chunked body (" + body.size() + " bytes read)");
        }
        int semicolon = size.indexOf(';');
        int length = Integer.parseInt((semicolon >= 0 ? size.substring(0, semicolon) : size).trim(), 16);
        if (length == 0) {
          String trailer;
          while ((trailer = line()) != null && !trailer.isEmpty()) {
            // trailers ignored
          }
          break;
        }
        body.write(in.readNBytes(length));
        if (line() == null) {
          throw new EOFException("connection closed after a chunk");
        }
        if (sse && abort == Abort.AFTER_FIRST_EVENT && body.toString(StandardCharsets.UTF_8).contains("data:")) {
          closeQuietly(socket);
          socket = null;
          return new Response(status, headers, body.toString(StandardCharsets.UTF_8), true);
        }
      }
    } else if (headers.containsKey("content-length")) {
      int length = Integer.parseInt(headers.get("content-length"));
      byte[] bytes = in.readNBytes(length);
      if (bytes.length < length) {
        throw new EOFException("body cut short: " + bytes.length + " of " + length + " bytes");
      }
      body.write(bytes);
    } else {
      body.write(in.readAllBytes());
      closeAfter = true;
    }
    if (closeAfter) {
      closeQuietly(socket);
      socket = null;
    }
    return new Response(status, headers, body.toString(StandardCharsets.UTF_8), false);
  }

  private String line() throws IOException {
    ByteArrayOutputStream line = new ByteArrayOutputStream(64);
    int b;
    while ((b = in.read()) >= 0) {
      if (b == '\n') {
        byte[] bytes = line.toByteArray();
        int n = bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
        return new String(bytes, 0, n, StandardCharsets.ISO_8859_1);
      }
      line.write(b);
    }
    return line.size() == 0 ? null : line.toString(StandardCharsets.ISO_8859_1);
  }

  private void connect() throws IOException {
    Socket s = new Socket();
    s.setTcpNoDelay(true);
    s.connect(new InetSocketAddress(host, port), 5000);
    s.setSoTimeout((int) readTimeout.toMillis());
    socket = s;
    in = new BufferedInputStream(s.getInputStream(), 8192);
    out = s.getOutputStream();
  }

  private static void closeQuietly(Socket s) {
    if (s != null) {
      try {
        s.close();
      } catch (IOException e) {
        // already closed
      }
    }
  }

  @Override
  public void close() {
    closeQuietly(socket);
    socket = null;
  }
}
