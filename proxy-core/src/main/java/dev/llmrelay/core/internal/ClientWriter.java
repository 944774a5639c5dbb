package dev.llmrelay.core.internal;

import dev.llmrelay.core.RelayException;
import dev.llmrelay.core.ResponseSink;
import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * The one funnel to the client: every write to the {@link ResponseSink} goes through here, so that
 * a client that went away is noticed in one place ({@link ClientGone}), a cancelled exchange never
 * calls the sink again, and the bytes sent (the proxy's own error bodies included) are counted.
 * Not thread-safe: used by the exchange's thread.
 */
final class ClientWriter {
  private final ResponseSink sink;
  private final ExchangeControl control;
  private long bytes;
  private boolean committed;

  ClientWriter(ResponseSink sink, ExchangeControl control) {
    this.sink = sink;
    this.control = control;
  }

  /** The response starts (for a stream: the commit point). */
  void start(int status, Map<String, List<String>> headers) {
    check();
    try {
      sink.onResponse(status, headers);
    } catch (IOException e) {
      throw new ClientGone(e);
    }
    committed = true;
  }

  void write(byte[] b) {
    write(b, 0, b.length);
  }

  void write(byte[] b, int off, int len) {
    if (len == 0) {
      return;
    }
    check();
    try {
      sink.onBody(b, off, len);
    } catch (IOException e) {
      throw new ClientGone(e);
    }
    bytes += len;
  }

  void flush() {
    check();
    try {
      sink.flush();
    } catch (IOException e) {
      throw new ClientGone(e);
    }
  }

  void complete() {
    check();
    try {
      sink.onComplete();
    } catch (IOException e) {
      throw new ClientGone(e);
    }
  }

  /**
   * Nothing was sent: the sink renders {@code error} (its JSON body is counted). Skipped when the
   * client already went away. A sink that fails to render is the embedder's problem: logged by the
   * caller, never retried.
   */
  void fail(RelayException error) {
    if (control.cancelled() || committed) {
      return;
    }
    committed = true;
    sink.onFailure(error);
    bytes += error.toJson().length;
  }

  boolean committed() {
    return committed;
  }

  long bytes() {
    return bytes;
  }

  private void check() {
    control.checkNotCancelledByClient();
  }

  /** The client went away while the relay wrote to it. */
  static final class ClientGone extends RuntimeException {
    private static final long serialVersionUID = 1L;

    ClientGone(IOException cause) {
      super(cause.toString(), cause, false, false);
    }
  }
}
