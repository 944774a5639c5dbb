package dev.llmrelay.example;

import dev.llmrelay.core.RelayClosedException;
import dev.llmrelay.core.RelayException;
import java.nio.ByteBuffer;
import java.time.Duration;
import org.eclipse.jetty.http.HttpException;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;

/**
 * Writes the errors the container produces itself as the relay's OpenAI-shaped JSON error ({@code
 * {"error":{"message":...,"type":"proxy_error","param":null,"code":...}}}, {@code Content-Type:
 * application/json}, {@code X-Request-Id}), instead of Jetty's HTML page: a bad request line,
 * headers too large, a URI Jetty refuses, the 503 of a request arriving while the relay shuts down,
 * a servlet's {@code sendError}. Installed as the server's error handler (errors before any
 * context, such as the parser's) and as the servlet context's (errors inside it).
 *
 * <p>Every status maps to one code here; the message is the status phrase, plus Jetty's reason for
 * a 4xx (fixed texts such as "Ambiguous URI path separator"; a 5xx reason can be an exception's
 * message and stays in the log). Answers every
 * method, not only Jetty's default GET/POST/HEAD, so no error goes out with an empty body. Stateless
 * and thread-safe.
 */
final class JsonErrorHandler extends ErrorHandler {
  private static final int MAX_REASON_LENGTH = 200;

  JsonErrorHandler() {
    setCacheControl("no-store");
  }

  @Override
  public boolean errorPageForMethod(String method) {
    return true;
  }

  @Override
  public boolean handle(Request request, Response response, Callback callback) {
    int status = response.getStatus();
    Object cause = request.getAttribute(ERROR_EXCEPTION);
    String reason = (String) request.getAttribute(ERROR_MESSAGE);
    if (cause instanceof HttpException http) {
      status = http.getCode();
      if (reason == null) {
        reason = http.getReason();
      }
    }
    if (status < 400) {
      status = 500; // an error without an error status: a failure in the container
    }
    RelayException error = errorFor(status, reason);
    String requestId = RequestIdHandler.of(request, response);
    response.setStatus(error.status());
    if (HttpStatus.hasNoBody(error.status())) {
      callback.succeeded();
      return true;
    }
    byte[] body = error.toJson();
    var headers = response.getHeaders();
    headers.put(HttpHeader.CONTENT_TYPE, "application/json");
    headers.put(HttpHeader.CACHE_CONTROL, "no-store");
    headers.put(RequestIdHandler.HEADER, requestId);
    error.retryAfter().ifPresent(d -> headers.put(HttpHeader.RETRY_AFTER, Long.toString(ceilSeconds(d))));
    if (!error.shouldRetry()) {
      headers.put("x-should-retry", "false");
    }
    headers.put(HttpHeader.CONTENT_LENGTH, body.length);
    response.write(true, ByteBuffer.wrap(body), callback);
    return true;
  }

  /** The error the client receives for a status the container chose. */
  static RelayException errorFor(int status, String reason) {
    if (status == HttpStatus.SERVICE_UNAVAILABLE_503) {
      return new RelayClosedException(); // Jetty's only 503 here: GracefulHandler while shutting down
    }
    String code = switch (status) {
      case 400 -> "bad_request";
      case 404 -> "not_found";
      case 405 -> "method_not_allowed";
      case 408 -> "request_timeout";
      case 411 -> "length_required";
      case 413 -> "request_too_large";
      case 414 -> "uri_too_long";
      case 415 -> "unsupported_media_type";
      case 417 -> "expectation_failed";
      case 426 -> "upgrade_required";
      case 431 -> "request_headers_too_large";
      case 501 -> "not_implemented";
      case 505 -> "http_version_not_supported";
      default -> status < 500 ? "bad_request" : "internal_error";
    };
    String phrase = HttpStatus.getMessage(status);
    // A 4xx reason is Jetty's parser text; a 5xx one may be an exception's message: not for clients.
    String message = status < 500 && usableReason(reason, phrase) ? phrase + ": " + reason + "." : phrase + ".";
    return new ContainerError(status, code, message);
  }

  private static boolean usableReason(String reason, String phrase) {
    if (reason == null || reason.isBlank() || reason.equalsIgnoreCase(phrase) || reason.length() > MAX_REASON_LENGTH) {
      return false;
    }
    return reason.chars().allMatch(c -> c >= 0x20 && c < 0x7f);
  }

  private static long ceilSeconds(Duration d) {
    long seconds = d.getSeconds();
    return d.getNano() > 0 ? seconds + 1 : seconds;
  }

  /** An error the container chose; retrying the same request cannot help (except for 503). */
  static final class ContainerError extends RelayException {
    private static final long serialVersionUID = 1L;

    ContainerError(int status, String code, String message) {
      super(status, code, message, null, false, 0, null);
    }
  }
}
