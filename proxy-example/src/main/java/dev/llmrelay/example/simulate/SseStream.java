package dev.llmrelay.example.simulate;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.function.IntFunction;
import org.eclipse.jetty.io.EofException;

/**
 * Writes one simulated {@code text/event-stream} answer: headers and the opening comment
 * ({@code : OPENROUTER PROCESSING}) at once, then each {@code data:} event after a gap, then
 * {@code data: [DONE]} with the last event, or, for a cut stream, a closed connection one gap
 * after the last event sent.
 *
 * <p>Each write goes straight to the connection (Jetty core does not buffer a response write), so
 * every event leaves as its own chunk. The next step is scheduled only from the callback of the
 * previous write, so a slow reader slows the stream instead of piling up events in memory.
 *
 * <p>Not thread-safe by itself, and needs not be: its steps run strictly one after another, each
 * handed to the scheduler by the completion of the previous one.
 */
final class SseStream {
  private static final byte[] OPENING =
      OpenAiBodies.SSE_OPENING_COMMENT.getBytes(StandardCharsets.UTF_8);
  private static final byte[] DONE = OpenAiBodies.SSE_DONE.getBytes(StandardCharsets.UTF_8);

  private final SimulatedExchange exchange;
  private final IntFunction<byte[]> events;
  private final int eventCount;
  private final Duration gap;
  private final int cutAfterEvents;
  private final SimulatedAnswer answer;
  private int sent;

  /**
   * @param events the {@code i}-th {@code data:} event, framing included
   * @param cutAfterEvents events to send before closing the connection, or 0 for a whole stream
   */
  SseStream(
      SimulatedExchange exchange,
      IntFunction<byte[]> events,
      int eventCount,
      Duration gap,
      int cutAfterEvents,
      SimulatedAnswer answer) {
    this.exchange = exchange;
    this.events = events;
    this.eventCount = eventCount;
    this.gap = gap;
    this.cutAfterEvents = cutAfterEvents;
    this.answer = answer;
  }

  void start() {
    exchange.prepareHeaders(200, "text/event-stream; charset=utf-8", answer);
    exchange.response().getHeaders().put("Cache-Control", "no-cache");
    exchange.response().write(false, ByteBuffer.wrap(OPENING), exchange.whenWritten(this::next));
  }

  private void next() {
    if (cutAfterEvents > 0 && sent == cutAfterEvents) {
      exchange.schedule(
          gap,
          () -> exchange.closeConnection(
              new EofException("simulated stream cut after " + sent + " events")));
    } else {
      exchange.schedule(gap, this::writeEvent);
    }
  }

  private void writeEvent() {
    byte[] event = events.apply(sent);
    sent++;
    if (sent < eventCount) {
      exchange.response().write(false, ByteBuffer.wrap(event), exchange.whenWritten(this::next));
      return;
    }
    ByteBuffer lastWithDone = ByteBuffer.allocate(event.length + DONE.length).put(event).put(DONE);
    exchange.response().write(true, lastWithDone.flip(), exchange.whenWritten(exchange::succeed));
  }
}
