package dev.llmrelay.example;

import dev.llmrelay.servlet.RequestIds;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

/**
 * Gives every request that reaches the launcher's handlers one {@code X-Request-Id}, so that
 * responses the servlets do not write themselves ({@code /metrics}, Jetty's 503 while shutting
 * down, errors the container writes) carry it too.
 *
 * <p>One id per request: the id is chosen with the servlets' own rule ({@link RequestIds}: the
 * client's when it is 1 to 128 visible ASCII characters, else a new UUID), and when it is a new
 * one it replaces the client's header in the request passed on. The servlets then find a valid
 * client id and keep it, so the response, the request log and the upstream request all carry the
 * same value. Set on the response at once; the servlets set the same value again.
 *
 * <p>Thread-safe and stateless.
 */
final class RequestIdHandler extends Handler.Wrapper {
  static final String HEADER = "X-Request-Id";

  @Override
  public boolean handle(Request request, Response response, Callback callback) throws Exception {
    String clientValue = request.getHeaders().get(HEADER);
    String requestId = RequestIds.fromClient(clientValue);
    Request passedOn = requestId.equals(clientValue) ? request : withRequestId(request, requestId);
    response.getHeaders().put(HEADER, requestId);
    return super.handle(passedOn, response, callback);
  }

  private static Request withRequestId(Request request, String requestId) {
    HttpFields headers = HttpFields.build(request.getHeaders()).put(HEADER, requestId).asImmutable();
    return new Request.Wrapper(request) {
      @Override
      public HttpFields getHeaders() {
        return headers;
      }
    };
  }

  /**
   * The id of a request for a response written outside this handler (the container's errors): the
   * one already on the response when this handler ran, else chosen from the request's header.
   */
  static String of(Request request, Response response) {
    String onResponse = response.getHeaders().get(HEADER);
    return onResponse != null ? onResponse : RequestIds.fromClient(request.getHeaders().get(HEADER));
  }
}
