package dev.llmrelay.core.internal;

import java.io.IOException;
import okhttp3.Call;
import okhttp3.Response;
import okio.BufferedSource;

/**
 * An upstream SSE body that is being read: the response, its call, the one {@link SseEventScanner}
 * that parses it and the idle watchdog that bounds its silences. Closed exactly once, by {@link
 * #release()} (finished: the connection may go back to the pool) or {@link #abandon()} (cancel
 * first, so that closing does not drain). Not thread-safe: used by the exchange's thread; the
 * watchdog and a cancel may cancel the call from other threads.
 */
final class OpenStream {
  static final int READ_SIZE = 8192;

  final Response response;
  final Call call;
  final SseEventScanner scanner;
  final IdleWatchdog watchdog;
  private final BufferedSource source;
  private boolean closed;

  OpenStream(Response response, Call call, SseEventScanner scanner, IdleWatchdog watchdog) {
    this.response = response;
    this.call = call;
    this.scanner = scanner;
    this.watchdog = watchdog;
    this.source = response.body().source();
  }

  /** Reads what is there (blocking until something is) into the scanner; -1 at the end. */
  int read() throws IOException {
    int r = source.read(scanner.writableBuffer(READ_SIZE), scanner.writeOffset(), READ_SIZE);
    if (r > 0) {
      watchdog.touch();
      scanner.appended(r);
    }
    return r;
  }

  /** True when the next {@link #read()} would block: the moment to flush the client. */
  boolean drained() {
    return source.getBuffer().size() == 0;
  }

  /** Ends a stream that finished: closing without cancelling lets OkHttp pool the connection. */
  void release() {
    if (!closed) {
      closed = true;
      watchdog.close();
      response.close();
    }
  }

  /** Ends a stream that did not finish: cancel first so that close does not drain it. */
  void abandon() {
    if (!closed) {
      closed = true;
      watchdog.close();
      call.cancel();
      response.close();
    }
  }
}
