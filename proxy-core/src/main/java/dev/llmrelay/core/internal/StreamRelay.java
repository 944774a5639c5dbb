package dev.llmrelay.core.internal;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.llmrelay.core.RelayConfig;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.CancellationException;

/**
 * Forwards an upstream stream to the client after its commit point, event by event as the one
 * {@link SseEventScanner} delimits them, flushing exactly when the next read would block.
 *
 * <p>Without a chat state (continuation off, or not a chat completion) the bytes pass through
 * unchanged, complete events in one write. With one, each data event is read (to keep what the
 * client has, for a continuation) and an upstream's in-band error event is held back, because the
 * stream may still be continued; a continuation's events are rewritten to carry the stream's
 * original {@code id} and {@code created} and no second {@code role}. Not thread-safe: one per
 * exchange, on its thread.
 */
final class StreamRelay {
  private final ClientWriter writer;
  private final ExchangeControl control;
  private final RelayConfig config;
  /** What the client has of a chat stream; null when the stream is passed through unread. */
  private final ChatStreamState chat;
  private boolean doneSeen;

  StreamRelay(ClientWriter writer, ExchangeControl control, RelayConfig config, ChatStreamState chat) {
    this.writer = writer;
    this.control = control;
    this.config = config;
    this.chat = chat;
  }

  /**
   * Forwards {@code source} until it ends cleanly (null) or breaks (the failure: {@code
   * idle_timeout}, {@code reset}, {@code eof}, {@code error_event}, {@code too_large}, {@code
   * shutdown}).
   *
   * @param continuation whether {@code source} continues a broken stream (its events are rewritten)
   * @param held a continuation's chunks read while it was checked, sent first
   * @throws ClientWriter.ClientGone when the client went away
   * @throws CancellationException when the exchange was cancelled
   */
  AttemptFailure relay(OpenStream source, boolean continuation, List<ObjectNode> held) {
    SseEventScanner scanner = source.scanner;
    doneSeen = false;
    source.watchdog.pause(); // time spent writing to a slow client is not upstream silence
    for (ObjectNode chunk : held) {
      chat.record(chunk);
      writer.write(ChatStreamState.render(chunk));
    }
    AttemptFailure broke = forward(scanner, continuation);
    writer.flush();
    source.watchdog.resume();
    if (broke != null) {
      return broke;
    }
    boolean dirty = false;
    while (!doneSeen && !scanner.sawDone()) {
      int r;
      try {
        r = source.read();
      } catch (IOException e) {
        if (control.cancelled()) {
          throw new CancellationException("cancelled");
        }
        if (control.aborting()) {
          return new AttemptFailure(AttemptFailure.Kind.SHUTDOWN, "the relay is shutting down", e);
        }
        if (finished(scanner)) {
          return null; // the answer was complete; the transport ended untidily after it
        }
        return breakOf(e, source, config);
      }
      if (r == -1) {
        if (!finished(scanner)) {
          return new AttemptFailure(AttemptFailure.Kind.EOF, "the upstream closed the stream before it finished", null);
        }
        if (!continuation && scanner.size() > 0) {
          // A finished stream whose upstream closed without the final blank line: end the last
          // event so that SSE parsers dispatch it.
          writer.write(scanner.buffer(), 0, scanner.size());
          writer.write(scanner.terminator());
          scanner.consume(scanner.size());
        }
        return null;
      }
      source.watchdog.pause();
      int before = scanner.size();
      broke = forward(scanner, continuation);
      dirty |= scanner.size() != before;
      if (dirty && source.drained()) {
        writer.flush(); // flush exactly when the next read would block
        dirty = false;
      }
      source.watchdog.resume();
      if (broke != null) {
        return broke;
      }
      if (scanner.size() > config.maxResponseBytes()) {
        return new AttemptFailure(AttemptFailure.Kind.TOO_LARGE, "an upstream event exceeded MAX_RESPONSE_BYTES", null);
      }
    }
    return null;
  }

  /** Names a read failure of a stream whose answer is not finished: a stall, or a cut connection. */
  static AttemptFailure breakOf(IOException e, OpenStream source, RelayConfig config) {
    return source.watchdog.fired()
        ? new AttemptFailure(AttemptFailure.Kind.IDLE_TIMEOUT,
            "the upstream stream was silent for " + Durations.seconds(config.streamIdleTimeout()), e)
        : new AttemptFailure(AttemptFailure.Kind.RESET,
            "the upstream connection broke (" + UpstreamAttempt.describe(e) + ")", e);
  }

  /** Whether the answer is complete (a finish reason was seen), so that an end is no break. */
  boolean finished(SseEventScanner scanner) {
    return chat != null ? chat.finished() || scanner.sawFinishReason() : scanner.sawFinishReason();
  }

  /** Forwards the complete events held by {@code scanner}; returns the in-band error it held back, if any. */
  private AttemptFailure forward(SseEventScanner scanner, boolean continuation) {
    int n = scanner.completeLength();
    if (n == 0) {
      return null;
    }
    byte[] buf = scanner.buffer();
    if (chat == null) {
      writer.write(buf, 0, n);
      scanner.consume(n);
      return null;
    }
    for (int i = 0; i < scanner.events(); i++) {
      int start = scanner.eventStart(i);
      int end = scanner.eventEnd(i);
      int from = scanner.dataFrom(i);
      if (from < 0) {
        if (continuation) {
          writer.write(buf, start, end - start); // a comment
        }
        continue;
      }
      if (scanner.isDone(i)) {
        doneSeen = true;
        continue; // the original's [DONE] went out with its bytes; a continuation's is the relay's own
      }
      if (!continuation) {
        if (chat.observe(buf, from, scanner.dataTo(i)) == ChatStreamState.Kind.ERROR) {
          writer.write(buf, 0, start);
          scanner.consume(end);
          return new AttemptFailure(AttemptFailure.Kind.ERROR_EVENT, "the upstream reported an error inside the stream", null);
        }
        continue;
      }
      ObjectNode chunk = chat.continuationChunk(buf, from, scanner.dataTo(i));
      if (chunk == null) {
        continue;
      }
      if (ChatStreamState.isError(chunk)) {
        scanner.consume(end);
        return new AttemptFailure(AttemptFailure.Kind.ERROR_EVENT, "the upstream reported an error inside the stream", null);
      }
      chat.record(chunk);
      writer.write(ChatStreamState.render(chunk));
    }
    if (!continuation) {
      writer.write(buf, 0, n);
    }
    scanner.consume(n);
    return null;
  }
}
