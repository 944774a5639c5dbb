package dev.llmrelay.servlet;

import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Chooses the {@code X-Request-Id} of a client request: the client's own when it is safe to
 * repeat in headers and logs (1 to {@value #MAX_LENGTH} visible ASCII characters), else a new
 * random UUID. Keeping the client's id lets a caller find its request in the relay's and the
 * upstream's logs; refusing anything else keeps header and log injection out. The servlets use
 * it for every request; a container-level filter or handler that must set the same id before the
 * servlets run (as the launcher's does) uses it too, so both agree. Stateless and thread-safe.
 */
public final class RequestIds {
  /** The longest client-supplied id that is kept. */
  public static final int MAX_LENGTH = 128;

  private RequestIds() {}

  /**
   * The id for a request.
   *
   * @param clientValue the client's {@code X-Request-Id} header, or null
   * @return the client's value when valid, else a generated UUID
   */
  public static String fromClient(String clientValue) {
    return isValid(clientValue) ? clientValue : generate();
  }

  /**
   * A new random id in UUID form (version 4 layout). Drawn from {@link ThreadLocalRandom}, not
   * {@code UUID.randomUUID()}: a request id needs uniqueness, not secrecy, and the shared
   * {@code SecureRandom} behind {@code randomUUID} showed up as lock contention under load.
   *
   * @return the new id, 36 characters
   */
  public static String generate() {
    ThreadLocalRandom random = ThreadLocalRandom.current();
    long most = (random.nextLong() & ~0xF000L) | 0x4000L; // version 4
    long least = (random.nextLong() & 0x3FFFFFFFFFFFFFFFL) | 0x8000000000000000L; // IETF variant
    return new UUID(most, least).toString();
  }

  /**
   * True when {@code value} would be kept as the request's id.
   *
   * @param value a client's {@code X-Request-Id}, or null
   * @return whether it is 1 to 128 visible ASCII characters
   */
  public static boolean isValid(String value) {
    if (value == null || value.isEmpty() || value.length() > MAX_LENGTH) {
      return false;
    }
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      if (c < 0x21 || c > 0x7e) {
        return false;
      }
    }
    return true;
  }
}
