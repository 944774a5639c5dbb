package dev.llmrelay.core.internal;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Accumulates an upstream SSE body and tells which prefix holds only complete events, so the relay
 * forwards whole events (never half an event before an error event) and knows:
 *
 * <ul>
 *   <li>whether a {@code data:} event has completed (the commit point);
 *   <li>whether the stream said {@code data: [DONE]} or carried a non-null {@code finish_reason}
 *       (so that an EOF afterwards is a clean end, not a truncation);
 *   <li>the first data payload (for the id and model of an in-band error event).
 * </ul>
 *
 * <p>It is the relay's one SSE parser: it also records each complete event's bounds and the range
 * of its (first) {@code data:} payload, so that code which must look inside events (a continuable
 * chat stream) iterates them ({@link #events()}, {@link #eventEnd(int)}, {@link #dataFrom(int)}...)
 * instead of parsing lines again.
 *
 * <p>Lines end in LF or CRLF; an empty line ends an event. Bytes are scanned once. Not
 * thread-safe: one per stream.
 */
public final class SseEventScanner {
  private static final byte[] DATA = "data:".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] DONE = "[DONE]".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] FINISH = "\"finish_reason\"".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] USAGE = "\"usage\"".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] ERROR_QUOTED = "error\"".getBytes(StandardCharsets.US_ASCII);
  private static final int MAX_REMEMBERED_PAYLOAD = 64 * 1024;

  private byte[] buf;
  private int size;
  private int scanned;
  private int lineStart;
  private int completeEnd;
  private boolean eventHasData;
  private boolean eventIsDone;
  private int firstDataEventEnd = -1;
  private boolean done;
  private boolean finished;
  private byte[] firstDataPayload;
  private byte[] usagePayload;
  private long dataEvents;
  // The complete events held, in order: bounds and the first data line's payload (-1: none).
  private int[] evEnd = new int[16];
  private int[] evDataFrom = new int[16];
  private int[] evDataTo = new int[16];
  private boolean[] evDone = new boolean[16];
  private int events;
  private int curDataFrom = -1;
  private int curDataTo = -1;

  /** @param initialCapacity initial buffer size */
  public SseEventScanner(int initialCapacity) {
    buf = new byte[Math.max(initialCapacity, 256)];
  }

  /** Room to read into: ensures at least {@code min} free bytes and returns the buffer. */
  public byte[] writableBuffer(int min) {
    if (buf.length - size < min) {
      buf = Arrays.copyOf(buf, Math.max(buf.length * 2, size + min));
    }
    return buf;
  }

  /** Where the next read should write into {@link #writableBuffer(int)}. */
  public int writeOffset() {
    return size;
  }

  /** Records that {@code n} bytes were read into the buffer at {@link #writeOffset()}. */
  public void appended(int n) {
    size += n;
    scan();
  }

  private void scan() {
    for (int i = scanned; i < size; i++) {
      if (buf[i] != '\n') {
        continue;
      }
      int end = i;
      if (end > lineStart && buf[end - 1] == '\r') {
        end--;
      }
      if (end == lineStart) {
        completeEnd = i + 1;
        addEvent(completeEnd, curDataFrom, curDataTo, eventIsDone);
        curDataFrom = -1;
        curDataTo = -1;
        if (eventIsDone) {
          done = true; // only now: the [DONE] event is complete, blank line included
        }
        eventIsDone = false;
        if (eventHasData) {
          dataEvents++;
          if (firstDataEventEnd < 0) {
            firstDataEventEnd = completeEnd;
          }
        }
        eventHasData = false;
      } else if (startsWith(lineStart, end, DATA)) {
        eventHasData = true;
        int p = lineStart + DATA.length;
        if (p < end && buf[p] == ' ') {
          p++;
        }
        if (curDataFrom < 0) {
          curDataFrom = p;
          curDataTo = end;
        }
        onData(p, end);
      }
      lineStart = i + 1;
    }
    scanned = size;
  }

  private void addEvent(int end, int dataFrom, int dataTo, boolean isDone) {
    if (events == evEnd.length) {
      int n = events * 2;
      evEnd = Arrays.copyOf(evEnd, n);
      evDataFrom = Arrays.copyOf(evDataFrom, n);
      evDataTo = Arrays.copyOf(evDataTo, n);
      evDone = Arrays.copyOf(evDone, n);
    }
    evEnd[events] = end;
    evDataFrom[events] = dataFrom;
    evDataTo[events] = dataTo;
    evDone[events] = isDone;
    events++;
  }

  /** Complete events held (they end at or before {@link #completeLength()}). */
  public int events() {
    return events;
  }

  /** Where complete event {@code i} starts in {@link #buffer()}. */
  public int eventStart(int i) {
    return i == 0 ? 0 : evEnd[i - 1];
  }

  /** Where complete event {@code i} ends (after its blank line). */
  public int eventEnd(int i) {
    return evEnd[i];
  }

  /** Start of event {@code i}'s first data payload, or -1 for an event without data (a comment). */
  public int dataFrom(int i) {
    return evDataFrom[i];
  }

  /** End of event {@code i}'s first data payload (exclusive). */
  public int dataTo(int i) {
    return evDataTo[i];
  }

  /** True when event {@code i} is {@code data: [DONE]}. */
  public boolean isDone(int i) {
    return evDone[i];
  }

  private void onData(int from, int to) {
    if (to - from == DONE.length && startsWith(from, to, DONE)) {
      eventIsDone = true;
      return;
    }
    if (firstDataPayload == null && to - from <= MAX_REMEMBERED_PAYLOAD) {
      firstDataPayload = Arrays.copyOfRange(buf, from, to);
    }
    int f = indexOf(from, to, FINISH);
    if (f >= 0) {
      int p = f + FINISH.length;
      while (p < to && (buf[p] == ' ' || buf[p] == ':' || buf[p] == '\t')) {
        p++;
      }
      // A string value ends the answer, except "error": an upstream's in-band failure is no end.
      if (p < to && buf[p] == '"' && !startsWith(p + 1, to, ERROR_QUOTED)) {
        finished = true;
      }
    }
    if (valueStartsWith(from, to, USAGE, (byte) '{') && to - from <= MAX_REMEMBERED_PAYLOAD) {
      usagePayload = Arrays.copyOfRange(buf, from, to);
    }
  }

  /** True when {@code "name"} occurs in the payload and its value starts with {@code first}. */
  private boolean valueStartsWith(int from, int to, byte[] name, byte first) {
    int f = indexOf(from, to, name);
    if (f < 0) {
      return false;
    }
    int p = f + name.length;
    while (p < to && (buf[p] == ' ' || buf[p] == ':' || buf[p] == '\t')) {
      p++;
    }
    return p < to && buf[p] == first;
  }

  private boolean startsWith(int from, int to, byte[] prefix) {
    if (to - from < prefix.length) {
      return false;
    }
    for (int j = 0; j < prefix.length; j++) {
      if (buf[from + j] != prefix[j]) {
        return false;
      }
    }
    return true;
  }

  private int indexOf(int from, int to, byte[] needle) {
    outer:
    for (int i = from; i <= to - needle.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (buf[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

  /** The buffer holding the bytes; valid up to {@link #completeLength()} or {@link #size()}. */
  public byte[] buffer() {
    return buf;
  }

  /** Bytes held. */
  public int size() {
    return size;
  }

  /** Length of the prefix that holds only complete events. */
  public int completeLength() {
    return completeEnd;
  }

  /** True once an event with a {@code data:} line has completed: the commit point. */
  public boolean hasDataEvent() {
    return firstDataEventEnd >= 0;
  }

  /**
   * What ends the held incomplete event: one or two line breaks, in the stream's own style (CRLF
   * if the held bytes use it).
   */
  public byte[] terminator() {
    boolean crlf = size >= 2 && indexOfByte('\r') >= 0;
    boolean endsWithNewline = size > 0 && buf[size - 1] == '\n';
    String t = crlf ? (endsWithNewline ? "\r\n" : "\r\n\r\n") : (endsWithNewline ? "\n" : "\n\n");
    return t.getBytes(StandardCharsets.US_ASCII);
  }

  private int indexOfByte(char c) {
    for (int i = 0; i < size; i++) {
      if (buf[i] == c) {
        return i;
      }
    }
    return -1;
  }

  /** True once the event {@code data: [DONE]} has completed (its blank line included). */
  public boolean sawDone() {
    return done;
  }

  /** True once a data payload carried a non-null {@code finish_reason}. */
  public boolean sawFinishReason() {
    return finished;
  }

  /** The first non-[DONE] data payload, if one was seen and was at most 64 KiB. */
  public byte[] firstDataPayload() {
    return firstDataPayload;
  }

  /** The last data payload with a non-null {@code usage} object (at most 64 KiB), or null. */
  public byte[] usagePayload() {
    return usagePayload;
  }

  /** Completed data events so far. */
  public long dataEvents() {
    return dataEvents;
  }

  /**
   * Drops the first {@code n} bytes (already forwarded), keeping the incomplete rest; {@code n} is
   * {@link #completeLength()}, or {@link #size()} when the rest is given up.
   */
  public void consume(int n) {
    if (n <= 0) {
      return;
    }
    System.arraycopy(buf, n, buf, 0, size - n);
    size -= n;
    scanned -= n;
    lineStart = Math.max(0, lineStart - n);
    int kept = 0;
    for (int i = 0; i < events; i++) {
      if (evEnd[i] > n) {
        evEnd[kept] = evEnd[i] - n;
        evDataFrom[kept] = evDataFrom[i] < 0 ? -1 : evDataFrom[i] - n;
        evDataTo[kept] = evDataTo[i] - n;
        evDone[kept] = evDone[i];
        kept++;
      }
    }
    events = kept;
    if (curDataFrom >= 0) {
      curDataFrom -= n;
      curDataTo -= n;
      if (curDataFrom < 0) {
        curDataFrom = -1;
        curDataTo = -1;
      }
    }
    completeEnd = Math.max(0, completeEnd - n);
    if (firstDataEventEnd >= 0) {
      firstDataEventEnd = Math.max(0, firstDataEventEnd - n);
    }
  }
}
