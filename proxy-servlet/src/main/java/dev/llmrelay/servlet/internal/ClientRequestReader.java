package dev.llmrelay.servlet.internal;

import dev.llmrelay.core.RequestBodies;
import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;

/**
 * Reads and validates a client request body before the request may ask for a permit: at most
 * {@code MAX_REQUEST_BYTES} (refused on the declared {@code Content-Length} before a byte is read,
 * and enforced while reading for chunked bodies that declare nothing), all the bytes its {@code
 * Content-Length} declared, and exactly one JSON object. The servlet reads without blocking, one
 * {@link PartialBody#readFrom} per ready read ({@link ClientBodyListener}); {@link #read} is the
 * blocking form of the same.
 *
 * <p>Validation is core's {@link RequestBodies}: one streaming pass, so a 32 MiB body never becomes
 * a tree, that refuses a truncated or trailing-garbage body and picks out the top-level {@code
 * model}, {@code models} and {@code stream} for routing and the request log; string values may be
 * as long as the body limit (base64 images). Error messages name the position of a syntax error,
 * never the body's content, which may hold anything.
 *
 * <p>Immutable and thread-safe.
 */
public final class ClientRequestReader {

  private final long maxBytes;
  private final RequestBodies bodies;

  /** @param maxBytes {@code MAX_REQUEST_BYTES} */
  public ClientRequestReader(long maxBytes) {
    if (maxBytes < 1 || maxBytes > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("maxBytes must be 1.." + (Integer.MAX_VALUE - 8) + ": " + maxBytes);
    }
    this.maxBytes = maxBytes;
    this.bodies = new RequestBodies(maxBytes);
  }

  /**
   * Reads and validates a body, blocking.
   *
   * @param declaredLength the request's {@code Content-Length}, or -1 when it declared none
   * @param in the request body
   * @return the validated body
   * @throws RequestTooLargeException when the body is (or declares to be) over the limit
   * @throws IncompleteBodyException when the body ends before its {@code Content-Length}
   * @throws InvalidJsonException when the body is not exactly one JSON object
   * @throws IOException when reading fails (the client has gone)
   */
  public ClientBody read(long declaredLength, InputStream in) throws IOException {
    PartialBody body = start(declaredLength);
    while (body.readFrom(in) != -1) {
      // the body fills up
    }
    return finish(body);
  }

  /**
   * Starts a body that is filled read by read as its bytes arrive ({@link PartialBody#readFrom}),
   * for non-blocking reading; {@link #finish} validates it once the container reported its end.
   *
   * @param declaredLength the request's {@code Content-Length}, or -1 when it declared none
   * @throws RequestTooLargeException when the declared length is over the limit (nothing is read)
   */
  public PartialBody start(long declaredLength) {
    if (declaredLength > maxBytes) {
      throw new RequestTooLargeException(maxBytes);
    }
    return new PartialBody(declaredLength);
  }

  /**
   * Validates a body whose end was reached: all the bytes its {@code Content-Length} declared,
   * and exactly one JSON object.
   *
   * @throws IncompleteBodyException when fewer bytes arrived than declared
   * @throws InvalidJsonException when the body is not exactly one JSON object
   */
  public ClientBody finish(PartialBody body) {
    if (body.declaredLength >= 0 && body.size < body.declaredLength) {
      throw new IncompleteBodyException(body.size, body.declaredLength, null);
    }
    return parse(body.size == body.buffer.length ? body.buffer : Arrays.copyOf(body.buffer, body.size));
  }

  /**
   * A body being read: a buffer sized to the declared length (or grown by doubling when there is
   * none) that never exceeds the limit. Not thread-safe: the container calls a read listener's
   * methods one at a time, which is the only use.
   */
  public final class PartialBody {
    private final long declaredLength;
    private byte[] buffer;
    private int size;

    private PartialBody(long declaredLength) {
      this.declaredLength = declaredLength;
      this.buffer = new byte[(int) Math.min(maxBytes, declaredLength > 0 ? declaredLength : 8192)];
    }

    /**
     * One read from {@code in} into the body. In non-blocking mode call it only after {@code
     * isReady()} returned true.
     *
     * @return the bytes read, or -1 at the end of the body
     * @throws RequestTooLargeException when the body goes over the limit
     * @throws IOException when the container's read fails
     */
    public int readFrom(InputStream in) throws IOException {
      if (size == buffer.length) {
        if (size >= maxBytes || size == declaredLength) {
          // Full: a one-byte read tells the end from an overflow without growing the buffer.
          int next = in.read();
          if (next == -1) {
            return -1;
          }
          if (size >= maxBytes) {
            throw new RequestTooLargeException(maxBytes);
          }
          grow();
          buffer[size++] = (byte) next;
          return 1;
        }
        grow();
      }
      int n = in.read(buffer, size, buffer.length - size);
      if (n > 0) {
        size += n;
      }
      return n;
    }

    /** The bytes read so far. */
    public long size() {
      return size;
    }

    /** The declared {@code Content-Length}, or -1. */
    public long declaredLength() {
      return declaredLength;
    }

    private void grow() {
      buffer = Arrays.copyOf(buffer, (int) Math.min(maxBytes, Math.max(8192L, buffer.length * 2L)));
    }
  }

  ClientBody parse(byte[] body) {
    RequestBodies.Fields fields;
    try {
      fields = bodies.parse(body);
    } catch (RequestBodies.MalformedBodyException e) {
      throw new InvalidJsonException(e.getMessage());
    }
    return new ClientBody(body, fields.model(), fields.stream(), fields.models());
  }
}
