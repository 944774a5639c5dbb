package dev.llmrelay.example;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * A deliberately small HTTP/1.1 client over a raw {@link Socket}: it sends exactly the bytes a test
 * writes (malformed request lines, hop-by-hop headers that OkHttp would refuse or rewrite) and reads
 * one response (Content-Length, chunked or until EOF). Not thread-safe; one per exchange.
 */
final class RawHttp {
  private RawHttp() {}

  /** One response as it arrived; {@code body} is decoded from chunked framing when needed. */
  record Response(String statusLine, int status, Map<String, List<String>> headers, String body) {
    /** The first value of a header (case-insensitive name), or null. */
    String header(String name) {
      List<String> values = headers.get(name.toLowerCase(Locale.ROOT));
      return values == null ? null : values.get(0);
    }

    boolean hasHeader(String name) {
      return headers.containsKey(name.toLowerCase(Locale.ROOT));
    }
  }

  /** Sends {@code request} (already CRLF-framed) to loopback {@code port} and reads one response. */
  static Response exchange(int port, String request) throws IOException {
    try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), port)) {
      socket.setSoTimeout(20_000);
      OutputStream out = socket.getOutputStream();
      out.write(request.getBytes(StandardCharsets.ISO_8859_1));
      out.flush();
      return read(socket.getInputStream());
    }
  }

  /** A POST with a JSON body and the given extra header lines (each without CRLF). */
  static String post(String path, String json, String... headerLines) {
    StringBuilder sb = new StringBuilder();
    sb.append("POST ").append(path).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (String line : headerLines) {
      sb.append(line).append("\r\n");
    }
    byte[] body = json.getBytes(StandardCharsets.UTF_8);
    sb.append("Content-Type: application/json\r\nContent-Length: ").append(body.length).append("\r\n\r\n");
    return sb.append(json).toString();
  }

  /** A GET with the given extra header lines and {@code Connection: close}. */
  static String get(String path, String... headerLines) {
    StringBuilder sb = new StringBuilder();
    sb.append("GET ").append(path).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (String line : headerLines) {
      sb.append(line).append("\r\n");
    }
    return sb.append("Connection: close\r\n\r\n").toString();
  }

  static Response read(InputStream in) throws IOException {
    String statusLine = line(in);
    if (statusLine == null) {
      throw new IOException("connection closed before a status line");
    }
    Map<String, List<String>> headers = new TreeMap<>();
    for (String h = line(in); h != null && !h.isEmpty(); h = line(in)) {
      int colon = h.indexOf(':');
      headers.computeIfAbsent(h.substring(0, colon).trim().toLowerCase(Locale.ROOT), k -> new ArrayList<>())
          .add(h.substring(colon + 1).trim());
    }
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    List<String> length = headers.get("content-length");
    List<String> encoding = headers.get("transfer-encoding");
    if (encoding != null && encoding.get(0).equalsIgnoreCase("chunked")) {
      for (String size = line(in); size != null; size = line(in)) {
        int n = Integer.parseInt(size.split(";")[0].trim(), 16);
        if (n == 0) {
          break;
        }
        body.write(in.readNBytes(n));
        line(in);
      }
    } else if (length != null) {
      body.write(in.readNBytes(Integer.parseInt(length.get(0))));
    } else {
      in.transferTo(body);
    }
    int status = Integer.parseInt(statusLine.split(" ")[1]);
    return new Response(statusLine, status, headers, body.toString(StandardCharsets.UTF_8));
  }

  /** One CRLF-terminated line without its terminator, or null at EOF (a cut line is returned). */
  private static String line(InputStream in) throws IOException {
    ByteArrayOutputStream line = new ByteArrayOutputStream();
    int b;
    while ((b = in.read()) != -1) {
      if (b == '\n') {
        byte[] bytes = line.toByteArray();
        int end = bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
        return new String(bytes, 0, end, StandardCharsets.ISO_8859_1);
      }
      line.write(b);
    }
    return line.size() == 0 ? null : line.toString(StandardCharsets.ISO_8859_1);
  }
}
