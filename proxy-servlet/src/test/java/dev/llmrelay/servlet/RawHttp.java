package dev.llmrelay.servlet;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;

/**
 * A raw HTTP/1.1 client on a {@link Socket}, for clients no HTTP library would imitate: bodies
 * shorter than their {@code Content-Length}, half-closed connections, bodies that trickle or stall.
 */
final class RawHttp {
  private RawHttp() {}

  /** A connection to 127.0.0.1:{@code port} whose reads give up after {@code readTimeoutMillis}. */
  static Socket connect(int port, int readTimeoutMillis) throws IOException {
    Socket socket = new Socket(InetAddress.getByName("127.0.0.1"), port);
    socket.setSoTimeout(readTimeoutMillis);
    socket.setTcpNoDelay(true);
    return socket;
  }

  /** Sends the request line and headers of a JSON POST that declares {@code contentLength} bytes. */
  static void sendHead(Socket socket, String path, long contentLength) throws IOException {
    String head =
        "POST " + path + " HTTP/1.1\r\n"
            + "Host: 127.0.0.1\r\n"
            + "Content-Type: application/json\r\n"
            + "Content-Length: " + contentLength + "\r\n"
            + "\r\n";
    OutputStream out = socket.getOutputStream();
    out.write(head.getBytes(StandardCharsets.US_ASCII));
    out.flush();
  }

  /** Sends {@code bytes} as (part of) the body. */
  static void send(Socket socket, byte[] bytes) throws IOException {
    OutputStream out = socket.getOutputStream();
    out.write(bytes);
    out.flush();
  }

  /**
   * Reads one response: status line, headers and a {@code Content-Length} body (or everything up
   * to EOF when there is none), then whether the server closed the connection after it. An interim
   * (1xx) response is returned alone.
   *
   * @return the response, or null when the server closed the connection without answering
   * @throws SocketTimeoutException when nothing complete arrived within the socket's read timeout
   */
  static Response readResponse(Socket socket) throws IOException {
    InputStream in = socket.getInputStream();
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    int matched = 0;
    while (matched < 4) {
      int b;
      try {
        b = in.read();
      } catch (java.net.SocketException reset) {
        b = -1;
      }
      if (b == -1) {
        if (head.size() == 0) {
          return null;
        }
        throw new IOException("connection closed inside the response head: " + head);
      }
      head.write(b);
      matched = (b == (matched % 2 == 0 ? '\r' : '\n')) ? matched + 1 : (b == '\r' ? 1 : 0);
    }
    String[] lines = head.toString(StandardCharsets.ISO_8859_1).split("\r\n");
    int status = Integer.parseInt(lines[0].split(" ")[1]);
    Map<String, String> headers = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
    for (int i = 1; i < lines.length; i++) {
      int colon = lines[i].indexOf(':');
      if (colon > 0) {
        headers.put(lines[i].substring(0, colon).trim(), lines[i].substring(colon + 1).trim());
      }
    }
    if (status / 100 == 1) {
      return new Response(status, headers, "", false); // interim: the real response follows
    }
    byte[] body;
    String length = headers.get("Content-Length");
    if (length != null) {
      body = in.readNBytes(Integer.parseInt(length));
    } else {
      body = in.readAllBytes();
    }
    boolean closed;
    int readTimeout = socket.getSoTimeout();
    socket.setSoTimeout(1000);
    try {
      closed = in.read() == -1;
    } catch (SocketTimeoutException stillOpen) {
      closed = false;
    } catch (java.net.SocketException reset) {
      closed = true;
    } finally {
      socket.setSoTimeout(readTimeout);
    }
    return new Response(status, headers, new String(body, StandardCharsets.UTF_8), closed);
  }

  /**
   * One raw response.
   *
   * @param closedAfter whether the server closed the connection right after it
   */
  record Response(int status, Map<String, String> headers, String body, boolean closedAfter) {
    String header(String name) {
      return headers.get(name);
    }
  }
}
