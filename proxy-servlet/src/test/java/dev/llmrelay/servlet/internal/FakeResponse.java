package dev.llmrelay.servlet.internal;

import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.WriteListener;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A recording {@link HttpServletResponse} for unit tests (a dynamic proxy: only the methods the
 * module uses are implemented). {@link #failWrites} makes the output stream throw like a container
 * whose client has gone.
 */
final class FakeResponse {
  int status = 200;
  final Map<String, List<String>> headers = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
  final ByteArrayOutputStream body = new ByteArrayOutputStream();
  boolean committed;
  volatile boolean failWrites;
  int flushes;

  final HttpServletResponse response =
      (HttpServletResponse)
          Proxy.newProxyInstance(
              FakeResponse.class.getClassLoader(),
              new Class<?>[] {HttpServletResponse.class},
              (proxy, method, args) -> {
                switch (method.getName()) {
                  case "setStatus":
                    status = (Integer) args[0];
                    return null;
                  case "getStatus":
                    return status;
                  case "setHeader":
                    headers.put((String) args[0], new ArrayList<>(List.of((String) args[1])));
                    return null;
                  case "addHeader":
                    headers.computeIfAbsent((String) args[0], k -> new ArrayList<>()).add((String) args[1]);
                    return null;
                  case "getHeader":
                    List<String> values = headers.get((String) args[0]);
                    return values == null ? null : values.get(0);
                  case "setContentType":
                    headers.put("Content-Type", new ArrayList<>(List.of((String) args[0])));
                    return null;
                  case "setContentLength":
                    headers.put("Content-Length", new ArrayList<>(List.of(String.valueOf(args[0]))));
                    return null;
                  case "isCommitted":
                    return committed;
                  case "resetBuffer":
                    body.reset();
                    return null;
                  case "getOutputStream":
                    return output();
                  case "hashCode":
                    return System.identityHashCode(proxy);
                  case "equals":
                    return proxy == args[0];
                  case "toString":
                    return "FakeResponse";
                  default:
                    throw new UnsupportedOperationException(method.getName());
                }
              });

  String header(String name) {
    List<String> values = headers.get(name);
    return values == null ? null : String.join(",", values);
  }

  private ServletOutputStream output() {
    return new ServletOutputStream() {
      @Override
      public void write(int b) throws IOException {
        check();
        body.write(b);
      }

      @Override
      public void write(byte[] b, int off, int len) throws IOException {
        check();
        body.write(b, off, len);
      }

      @Override
      public void flush() throws IOException {
        check();
        flushes++;
        committed = true;
      }

      private void check() throws IOException {
        if (failWrites) {
          throw new IOException("Broken pipe");
        }
      }

      @Override
      public boolean isReady() {
        return true;
      }

      @Override
      public void setWriteListener(WriteListener writeListener) {
        throw new UnsupportedOperationException();
      }
    };
  }
}
